package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// helpExamples returns the command lines of a command's -h text: its
// indented lines after "Examples:" up to "Flags:", comments dropped and
// continuations joined.
func helpExamples(t *testing.T, cmd ...string) []string {
	t.Helper()
	var stderr bytes.Buffer
	if code := execute(context.Background(), append(cmd, "-h"), io.Discard, &stderr); code != 0 {
		t.Fatalf("%s -h: exit %d", strings.Join(cmd, " "), code)
	}
	text := stderr.String()
	i := strings.Index(text, "\nExample")
	if i < 0 {
		t.Fatalf("abandoned %s -h has no examples", strings.Join(cmd, " "))
	}
	text = text[i:]
	if j := strings.Index(text, "\nFlags:"); j >= 0 {
		text = text[:j]
	}
	var lines []string
	var cont string
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, "  ") && cont == "" {
			continue // prose
		}
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cont += s
			continue
		}
		lines = append(lines, cont+l)
		cont = ""
	}
	return lines
}

// exampleGroup runs the examples of some commands in order, as a user
// pasting them into a shell would: in a directory of its own, with an
// environment of its own, against a server started in process.
type exampleGroup struct {
	t      *testing.T
	dir    string
	env    map[string]string
	srv    *running // where 127.0.0.1:8080 and localhost:8080 lead
	stop   []func() // of what runs in the background, in reverse
	secret string   // the OAuth2 client esp's secret
	hooks  *httptest.Server
}

func newExampleGroup(t *testing.T, withServer bool) *exampleGroup {
	t.Helper()
	g := &exampleGroup{t: t, dir: t.TempDir(), env: map[string]string{}, secret: randomHex(16)}
	t.Chdir(g.dir)
	withEnv(t, g.env)
	oldSim := simLookupEnv
	simLookupEnv = func(k string) (string, bool) { v, ok := g.env[k]; return v, ok }
	t.Cleanup(func() { simLookupEnv = oldSim })
	noSignalReset(t)
	if withServer {
		// What the examples say is running: a server on 127.0.0.1:8080
		// (here another port), ABANDONED_API_TOKEN exported, keeping
		// baskets forever (serve -ttl 0, for the load tester's old times),
		// and an OAuth2 client esp whose secret is in
		// ABANDONED_CLIENT_SECRET.
		g.env["ABANDONED_API_TOKEN"] = randomHex(16)
		g.srv = startServe(t, "-ttl", "0", "-oauth-client", "esp:"+g.secret)
	}
	t.Cleanup(func() {
		for i := len(g.stop) - 1; i >= 0; i-- {
			g.stop[i]()
		}
	})
	return g
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// receiver returns the address of a receiver of webhooks on this machine,
// which answers every request 204: what an example's 127.0.0.1:9000 is.
func (g *exampleGroup) receiver() string {
	if g.hooks == nil {
		g.hooks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body) //nolint:errcheck // a stand-in
			w.WriteHeader(http.StatusNoContent)
		}))
		g.t.Cleanup(g.hooks.Close)
	}
	return strings.TrimPrefix(g.hooks.URL, "http://")
}

// quickFlags caps what would make an example long to run in a test: a
// flag the line sets above its cap, or leaves at a larger default, gets
// the cap appended (the last value of a flag wins). The command and its
// flags are the same; only the run is shorter.
var quickFlags = map[string][][2]string{
	"simulate": {{"-rate", "20"}},
	"demo":     {{"-rate", "20"}},
	"loadtest": {{"-duration", "300ms"}, {"-warmup", "100ms"}, {"-population", "500"}, {"-days", "2"},
		{"-ingest-events", "1000"}, {"-search-steps", "2"}},
}

func capFlags(args []string) []string {
	for _, c := range quickFlags[args[0]] {
		name, limit := c[0], c[1]
		if name == "-search-steps" && !hasArg(args, "-search") {
			continue
		}
		last := ""
		for i := 1; i+1 < len(args); i++ {
			if args[i] == name {
				last = args[i+1]
			}
		}
		if last != "" && !exceeds(last, limit) {
			continue
		}
		args = append(args, name, limit)
	}
	return args
}

func hasArg(args []string, name string) bool {
	for _, a := range args {
		if a == name {
			return true
		}
	}
	return false
}

// exceeds reports whether the value v of a flag is above limit, both
// durations or numbers.
func exceeds(v, limit string) bool {
	if d, err := time.ParseDuration(v); err == nil {
		l, _ := time.ParseDuration(limit)
		return d > l
	}
	n, err1 := strconv.ParseFloat(v, 64)
	l, err2 := strconv.ParseFloat(limit, 64)
	return err1 != nil || err2 != nil || n > l
}

// words splits a line as sh would, with every $(openssl rand -hex N)
// replaced by that many random bytes in hex, the addresses of the
// examples' servers by the test's, and absolute paths under /var and
// /tmp moved into the group's directory.
func (g *exampleGroup) words(line string) []string {
	t := g.t
	openssl := regexp.MustCompile(`\$\(openssl rand -hex (\d+)\)`)
	line = openssl.ReplaceAllStringFunc(line, func(m string) string {
		n, _ := strconv.Atoi(openssl.FindStringSubmatch(m)[1])
		return randomHex(n)
	})
	words := shellWords(t, line, g.env)
	for i, w := range words {
		if g.srv != nil {
			host := strings.TrimPrefix(g.srv.url, "http://")
			w = strings.NewReplacer("127.0.0.1:8080", host, "localhost:8080", host, "https://abandoned.internal", g.srv.url).Replace(w)
		}
		w = strings.ReplaceAll(w, "127.0.0.1:9000", g.receiver())
		for _, root := range []string{"/var/", "/tmp/"} {
			if strings.HasPrefix(w, root) {
				w = filepath.Join(g.dir, w)
				if err := os.MkdirAll(filepath.Dir(w), 0o755); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		words[i] = w
	}
	return words
}

// outsideHosts are hosts of the reader's own that an example reaches and
// a test cannot: such a line is not run.
var outsideHosts = []string{"https://hooks.example.com"}

// run runs the examples in order.
func (g *exampleGroup) run(lines []string) {
	t := g.t
	for _, line := range lines {
		t.Logf("$ %s", line)
		if slices.ContainsFunc(outsideHosts, func(h string) bool { return strings.Contains(line, h) }) {
			t.Logf("not run: it reaches a host of the reader's")
			continue
		}
		var stages [][]string
		var stage []string
		for _, w := range g.words(line) {
			if w == "|" {
				stages, stage = append(stages, stage), nil
				continue
			}
			stage = append(stage, w)
		}
		stages = append(stages, stage)
		var piped []byte
		for i, s := range stages {
			out := g.runStage(line, s, piped, i < len(stages)-1)
			piped = out
		}
	}
}

// runStage runs one command of a pipeline, with in as its stdin if it is
// not the first; it returns its stdout if piped.
func (g *exampleGroup) runStage(line string, words []string, in []byte, piped bool) []byte {
	t := g.t
	// Assignments before the command apply to it alone.
	var restore []func()
	for len(words) > 0 && regexp.MustCompile(`^[A-Z_]+=`).MatchString(words[0]) {
		k, v, _ := strings.Cut(words[0], "=")
		old, had := g.env[k]
		g.env[k] = v
		restore = append(restore, func() {
			if had {
				g.env[k] = old
			} else {
				delete(g.env, k)
			}
		})
		words = words[1:]
	}
	defer func() {
		for _, f := range restore {
			f()
		}
	}()
	if hasArg(words, "-client-id") && g.env["ABANDONED_CLIENT_SECRET"] == "" {
		// The client's secret comes from the environment, as -h says.
		words = append([]string{"ABANDONED_CLIENT_SECRET=" + g.secret}, words...)
		return g.runStage(line, words, in, piped)
	}
	if len(words) >= 3 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/abandoned" {
		words = append([]string{"abandoned"}, words[3:]...) // the test binary is the command
	}
	switch {
	case len(words) == 0:
		t.Fatalf("%s: no command", line)
	case words[0] == "export":
		for _, kv := range words[1:] {
			k, v, _ := strings.Cut(kv, "=")
			g.env[k] = v
		}
	case words[0] == "echo":
		if len(words) != 4 || words[2] != ">" {
			t.Fatalf("%s: want echo 'TEXT' > FILE", line)
		}
		if err := os.WriteFile(words[3], []byte(words[1]+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	case words[0] == "curl":
		g.curl(line, words[1:])
	case words[0] == "jq":
		// A stand-in for jq -r .customerDetails.email: each line a basket.
		for _, l := range strings.Split(strings.TrimSpace(string(in)), "\n") {
			var b struct {
				CustomerDetails struct{ Email *string } `json:"customerDetails"`
			}
			if l != "" && (json.Unmarshal([]byte(l), &b) != nil || b.CustomerDetails.Email == nil) {
				t.Errorf("%s: %q is not a basket with customerDetails.email", line, l)
			}
		}
	case words[0] == "abandoned":
		return g.abandoned(line, words[1:], in, piped)
	default:
		t.Fatalf("%s: the test does not know how to run %q", line, words[0])
	}
	return nil
}

func (g *exampleGroup) curl(line string, args []string) {
	t := g.t
	var u string
	hdr := http.Header{}
	for i := 0; i < len(args); i++ {
		if args[i] == "-H" && i+1 < len(args) {
			k, v, _ := strings.Cut(args[i+1], ": ")
			hdr.Set(k, v)
			i++
			continue
		}
		u = args[i]
	}
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	req.Header = hdr
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("%s: %d %.300s; want 200", line, resp.StatusCode, body)
	}
}

// abandoned runs a command of the binary. What runs until Ctrl-C (serve,
// demo without -no-serve) is started in the background and stopped at the
// end of the group; the rest must exit 0, but a load test whose
// thresholds or search the machine did not meet (3, 5: its result, not a
// failure to run).
func (g *exampleGroup) abandoned(line string, args []string, in []byte, piped bool) []byte {
	t := g.t
	if len(args) == 0 {
		t.Fatalf("%s: no command", line)
	}
	var stdout io.Writer
	var outBuf bytes.Buffer
	stdout = &outBuf
	if n := len(args); n >= 2 && args[n-2] == ">" {
		f, err := os.Create(args[n-1])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		stdout, args = f, args[:n-2]
	}
	if in != nil {
		old := stdin
		stdin = bytes.NewReader(in)
		defer func() { stdin = old }()
	}
	args = capFlags(args)
	switch args[0] {
	case "serve":
		if hasArg(args, "-nats-url") || hasArg(args, "-nats-listen") {
			// A node of a cluster needs the other nodes or a NATS
			// cluster elsewhere: check that its flags are good.
			if _, err := parseServe(args[1:], io.Discard); err != nil {
				t.Errorf("%s: %v", line, err)
			}
			return nil
		}
		g.srv = startServe(t, args[1:]...)
		return nil
	case "demo":
		if !hasArg(args, "-no-serve") {
			g.background(line, append(args, "-addr", freeAddr(t)))
			return nil
		}
	case "campaign":
		if len(args) > 1 && args[1] == "run" && !hasArg(args, "-once") {
			args = append(args, "-once") // a turn, then the report, as Ctrl-C would
		}
	}
	var errBuf bytes.Buffer
	code := execute(context.Background(), args, stdout, &errBuf)
	ok := code == 0 || (args[0] == "loadtest" && (code == 3 || code == 5) && (hasArg(args, "-threshold") || hasArg(args, "-search")))
	if !ok {
		t.Errorf("%s: exit %d\nstdout %.500s\nstderr %.2000s", line, code, outBuf.String(), errBuf.String())
	} else if code != 0 {
		t.Logf("%s: exit %d, the thresholds' verdict on this machine", line, code)
	}
	if piped {
		return outBuf.Bytes()
	}
	return nil
}

// background runs a command that serves until it is stopped, waits until
// it answers on the address it was given, and stops it with the group.
func (g *exampleGroup) background(line string, args []string) {
	t := g.t
	addr := args[len(args)-1]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out lockedBuffer
	go func() { done <- execute(ctx, args, &out, &out) }()
	for deadline := time.Now().Add(60 * time.Second); ; {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		select {
		case code := <-done:
			cancel()
			t.Fatalf("%s: exit %d before serving\n%s", line, code, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("%s: not serving on %s\n%s", line, addr, out.String())
		}
	}
	g.stop = append(g.stop, func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("%s: exit %d after Ctrl-C\n%s", line, code, out.String())
		}
	})
}

// TestHelpExamples runs every example of every command's -h text, in
// order, as pasted into a shell, each command's in a directory of its own
// beside a server: a help text cannot go stale unnoticed.
func TestHelpExamples(t *testing.T) {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		cmds := [][]string{{name}}
		if name == "campaign" {
			cmds = [][]string{{"campaign", "run"}, {"campaign", "report"}} // report reads what run kept
		}
		t.Run(name, func(t *testing.T) {
			g := newExampleGroup(t, true)
			for _, cmd := range cmds {
				lines := helpExamples(t, cmd...)
				if len(lines) == 0 {
					t.Fatalf("abandoned %s -h: no example", strings.Join(cmd, " "))
				}
				g.run(lines)
			}
		})
	}
}
