package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run the command as a process of its own: the test
// binary, started with ABANDONED_TEST_MAIN=1, is the abandoned command.
func TestMain(m *testing.M) {
	if os.Getenv("ABANDONED_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestClusterFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-nats-url", "nats://x:4222", "-nats-listen", "127.0.0.1:4222", "-data-dir", "d"}, "-nats-url and -nats-listen"},
		{[]string{"-nats-listen", "127.0.0.1:4222"}, "-nats-listen needs -data-dir"},
		{[]string{"-nats-peers", "127.0.0.1:6222"}, "need -nats-listen"},
		{[]string{"-nats-listen", "127.0.0.1:4222", "-data-dir", "d", "-nats-peers", "127.0.0.1:6222"}, "-nats-peers needs -nats-cluster"},
		{[]string{"-nats-listen", "127.0.0.1:4222", "-data-dir", "d", "-replicas", "0"}, "-replicas 0"},
	} {
		_, err := parseServe(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("serve %q = %v; want an error naming %q", tt.args, err, tt.want)
		}
	}
	cfg, err := parseServe([]string{"-nats-listen", "127.0.0.1:4221", "-nats-cluster", "127.0.0.1:6221",
		"-nats-peers", "127.0.0.1:6222,127.0.0.1:6223", "-data-dir", "n1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.nats.peers, []string{"127.0.0.1:6222", "127.0.0.1:6223"}) || cfg.nats.replicas != 3 {
		t.Fatalf("peers %v, replicas %d; want the two peers and 3", cfg.nats.peers, cfg.nats.replicas)
	}
}

// proc is a node of a cluster run as a process of its own.
type proc struct {
	args []string
	url  string
	cmd  *exec.Cmd
}

// start starts the node and waits until it serves. It may be called from
// any goroutine: it returns its error rather than failing the test.
func (p *proc) start() error {
	cmd := exec.Command(os.Args[0], p.args...)
	cmd.Env = append(os.Environ(), "ABANDONED_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd = cmd
	ready, ended := make(chan struct{}), make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var lines []string
		isReady := false
		for sc.Scan() {
			if !isReady && strings.Contains(sc.Text(), "msg=ready") {
				isReady = true
				close(ready)
			}
			if !isReady && len(lines) < 20 {
				lines = append(lines, sc.Text())
			}
		}
		ended <- strings.Join(lines, "\n")
	}()
	select {
	case <-ready:
		return nil
	case out := <-ended:
		cmd.Wait()
		p.cmd = nil
		return fmt.Errorf("a node ended before it was ready: %q\n%s", p.args, out)
	case <-time.After(90 * time.Second):
		return fmt.Errorf("a node did not get ready in 90 s: %q", p.args)
	}
}

func (p *proc) kill() {
	if p.cmd != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		p.cmd = nil
	}
}

// TestClusterProcesses runs three serve processes as a cluster with embedded
// NATS servers, ingests through all of them while a random node is killed
// (SIGKILL) and started again, over and over; afterwards every acknowledged
// batch is on every node, and their feeds are identical.
func TestClusterProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes and kills them; -short skips it")
	}
	const token = "0123456789abcdef0123456789abcdef"
	secret := strings.Repeat("ab", 32)
	addrs := freeLocalAddrs(t, 9)
	procs := make([]*proc, 3)
	for i := range procs {
		var peers []string
		for j := range 3 {
			if j != i {
				peers = append(peers, addrs[6+j])
			}
		}
		procs[i] = &proc{url: "http://" + addrs[i], args: []string{"serve", "-addr", addrs[i], "-data-dir", t.TempDir(),
			"-alias", "shop", "-recovery-secret", secret, "-api-token", token, "-ttl", "0",
			"-nats-listen", addrs[3+i], "-nats-cluster", addrs[6+i], "-nats-peers", strings.Join(peers, ",")}}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(procs))
	for _, p := range procs {
		wg.Go(func() { errs <- p.start() })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, p := range procs {
			p.kill()
		}
	}()

	client := &http.Client{Timeout: 10 * time.Second}
	post := func(url, body string) bool {
		req, _ := http.NewRequest(http.MethodPost, url+"/api/baskets/events", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode == http.StatusOK
	}
	var (
		mu      sync.Mutex
		acked   []string
		lastAck = time.Now()
		longest time.Duration
	)
	ctx, cancel := context.WithCancel(context.Background())
	var clients sync.WaitGroup
	for c := range 2 {
		clients.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("c%d-%05d", c, i)
				at := time.Now().UTC().Format(time.RFC3339Nano)
				body := `{"type":"created","basketId":"` + id + `","at":"` + at + `","orderItems":[]}` + "\n" +
					`{"type":"emailCaptured","basketId":"` + id + `","at":"` + at + `","email":"` + id + `@example.com"}`
				for try := 0; ctx.Err() == nil; try++ {
					if post(procs[(i+try)%3].url, body) {
						mu.Lock()
						acked = append(acked, id)
						if d := time.Since(lastAck); d > longest {
							longest = d
						}
						lastAck = time.Now()
						mu.Unlock()
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	kills := 3
	for range kills {
		time.Sleep(2 * time.Second)
		p := procs[rand.IntN(3)]
		p.kill()
		time.Sleep(time.Second)
		if err := p.start(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second)
	cancel()
	clients.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no batch was acknowledged")
	}
	var want []string
	for _, p := range procs {
		got := httpFeed(t, client, p.url, token)
		ids := map[string]bool{}
		for _, s := range got {
			ids[strings.SplitN(s, "@", 2)[0]] = true
		}
		for _, id := range acked {
			if !ids[id] {
				t.Fatalf("%s lacks the acknowledged basket %s", p.url, id)
			}
		}
		if want == nil {
			want = got
		} else if !slices.Equal(got, want) {
			t.Fatalf("the feed of %s differs from the first node's", p.url)
		}
	}
	t.Logf("%d batches acknowledged across %d kills; the longest time without an acknowledged write: %v", len(acked), kills, longest)
}

// httpFeed reads a server's whole feed as id@position strings.
func httpFeed(t *testing.T, client *http.Client, url, token string) []string {
	t.Helper()
	var out []string
	after := "0"
	for {
		req, _ := http.NewRequest(http.MethodGet, url+"/api/checkout/abandoned/feed?limit=1000&after="+after, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items []struct {
				ID       string `json:"id"`
				Position string `json:"position"`
			} `json:"items"`
			Next string `json:"next"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("feed of %s: %d, %v", url, resp.StatusCode, err)
		}
		for _, it := range page.Items {
			out = append(out, it.ID+"@"+it.Position)
		}
		if len(page.Items) == 0 {
			return out
		}
		after = page.Next
	}
}

// freeLocalAddrs returns n addresses on 127.0.0.1 that were free a moment
// ago. Their ports are below the kernel's ephemeral range where it says
// which that is: a port of that range, free when picked, can be taken
// before the node binds it as the source port of any outgoing connection
// (the nodes' own route dials among them), and the node's NATS server
// then never gets ready.
func freeLocalAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	low := ephemeralLow()
	for tries := 0; len(lns) < n; tries++ {
		addr := "127.0.0.1:0"
		if low > 11000 && tries < 1000 {
			addr = fmt.Sprintf("127.0.0.1:%d", 10000+rand.IntN(low-10000))
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if addr != "127.0.0.1:0" {
				continue // taken: another
			}
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// ephemeralLow returns the low end of the kernel's ephemeral port range,
// or 0 if it does not say.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var low, high int
	if _, err := fmt.Sscan(string(b), &low, &high); err != nil {
		return 0
	}
	return low
}

// TestNotReady: while a node catches up it answers 503 with Retry-After on
// its listener, which it then hands, open, to the API.
func TestNotReady(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	url := "http://" + ln.Addr().String() + "/healthz"
	ready := notReady(ln)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("while catching up: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	ready()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })}
	go srv.Serve(ln)
	defer srv.Close()
	http.DefaultClient.CloseIdleConnections()
	resp, err = http.Get(url)
	if err != nil {
		t.Fatalf("after catching up: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after catching up: %d; want 200 from the server that took over", resp.StatusCode)
	}
}
