package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// placedNode is a node of an in-process cluster with environments: its own
// embedded NATS server, data directory and listener.
type placedNode struct {
	name   string
	url    string
	es     *environments
	logs   *lockedBuffer
	cancel context.CancelFunc
	done   chan error
}

// placedCluster starts nodes running serve -environments file in a cluster
// of embedded NATS servers whose routes are routes (a node's peers are the
// others); hooked receives each node's environments.
type placedCluster struct {
	t      *testing.T
	file   string
	routes []string
	mu     sync.Mutex
	nodes  []*placedNode
}

func (pc *placedCluster) start(i int) *placedNode {
	t := pc.t
	t.Helper()
	addrs := freeLocalAddrs(t, 2) // HTTP and NATS client
	var peers []string
	for j, r := range pc.routes {
		if j != i {
			peers = append(peers, r)
		}
	}
	n := &placedNode{name: fmt.Sprint("n", i+1), url: "http://" + addrs[0], logs: &lockedBuffer{}, done: make(chan error, 1)}
	cfg, err := parseServe([]string{"-environments", pc.file, "-addr", addrs[0],
		"-data-dir", filepath.Join(filepath.Dir(pc.file), n.name),
		"-nats-listen", addrs[1], "-nats-cluster", pc.routes[i], "-nats-peers", strings.Join(peers, ","), "-replicas", "2"}, n.logs)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *environments, 1)
	pc.mu.Lock()
	environmentsHook = func(es *environments) { got <- es }
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { n.done <- runEnvironments(ctx, cfg, ln, n.logs, make(chan os.Signal)) }()
	n.es = <-got
	environmentsHook = nil
	pc.mu.Unlock()
	pc.nodes = append(pc.nodes, n)
	return n
}

func (n *placedNode) stop(t *testing.T) {
	t.Helper()
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	if err := <-n.done; err != nil {
		t.Errorf("%s: serve = %v", n.name, err)
	}
}

// ask sends a request for an environment's host to a node.
func (n *placedNode) ask(t *testing.T, env, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, n.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = env + ".shop.example"
	req.Header.Set("Authorization", "Bearer "+tokenOfEnv(env))
	if body != "" {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		k, err := resp.Body.Read(buf)
		b.Write(buf[:k])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

// converged waits until every environment is hosted by exactly two of the
// running nodes, each node hosting at most most of them, and returns what
// each hosts.
func (pc *placedCluster) converged(envs []string, most int) map[string][]string {
	t := pc.t
	t.Helper()
	var last map[string][]string
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		last = map[string][]string{}
		count := map[string]int{}
		ok := true
		for _, n := range pc.nodes {
			if n.cancel == nil {
				continue
			}
			h := n.es.hosted()
			last[n.name] = h
			ok = ok && len(h) <= most
			for _, e := range h {
				count[e]++
			}
		}
		for _, e := range envs {
			ok = ok && count[e] == 2
		}
		if ok {
			return last
		}
	}
	t.Fatalf("the placement did not settle with every environment on two nodes and at most %d on a node: %v", most, last)
	return nil
}

// TestEnvironmentsPlacement: three nodes, six environments at two
// replicas: each node holds the engines of at most four; a request for any
// environment succeeds on every node, and a write through one node is read
// on every other; a fourth node joins and takes environments, after which
// the others hold fewer; a node crashes and every environment still
// answers on every remaining node, with nothing acknowledged lost, written
// before and after the others noticed.
func TestEnvironmentsPlacement(t *testing.T) {
	dir := t.TempDir()
	envs := []string{"e1", "e2", "e3", "e4", "e5", "e6"}
	var entries []map[string]any
	for _, e := range envs {
		entries = append(entries, envEntryJSON(e, nil))
	}
	file := filepath.Join(dir, "environments.json")
	writeEnvFile(t, file, entries...)
	pc := &placedCluster{t: t, file: file, routes: freeLocalAddrs(t, 4)}
	for i := range 3 {
		pc.start(i)
	}
	t.Cleanup(func() {
		for _, n := range pc.nodes {
			n.stop(t)
		}
	})
	placed := pc.converged(envs, 4)
	t.Logf("three nodes: %v", placed)

	written := map[string][]string{} // env -> basket ids acknowledged
	write := func(round string) {
		t.Helper()
		for i, e := range envs {
			var via *placedNode
			for k := range pc.nodes {
				if n := pc.nodes[(i+k)%len(pc.nodes)]; n.cancel != nil {
					via = n
					break
				}
			}
			id := fmt.Sprintf("%s-%s", round, e)
			ev := strings.ReplaceAll(envEvents(id+"@"+e+".example"), `"b-1"`, `"`+id+`"`)
			var code int
			var body string
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				if code, body = via.ask(t, e, http.MethodPost, "/api/baskets/events", ev); code != http.StatusServiceUnavailable {
					break
				}
			}
			if code != http.StatusOK {
				t.Fatalf("ingest into %s through %s: %d %s", e, via.name, code, body)
			}
			written[e] = append(written[e], id)
		}
	}
	check := func() {
		t.Helper()
		for _, n := range pc.nodes {
			if n.cancel == nil {
				continue
			}
			for _, e := range envs {
				var code int
				var body string
				for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
					if code, body = n.ask(t, e, http.MethodGet, "/api/checkout/abandoned?limit=1000", ""); code != http.StatusServiceUnavailable {
						break
					}
				}
				if code != http.StatusOK {
					t.Fatalf("%s on %s: %d %s", e, n.name, code, body)
				}
				for _, id := range written[e] {
					if !strings.Contains(body, `"id":"`+id+`"`) {
						t.Fatalf("%s on %s misses %s, acknowledged: %s", e, n.name, id, body)
					}
				}
				for _, other := range envs {
					if other != e && strings.Contains(body, "@"+other+".example") {
						t.Fatalf("%s on %s shows a basket of %s", e, n.name, other)
					}
				}
			}
		}
	}
	write("a")
	check()

	pc.start(3)
	placed = pc.converged(envs, 3)
	if len(placed["n4"]) == 0 {
		t.Fatalf("the fourth node took no environment: %v", placed)
	}
	t.Logf("four nodes: %v", placed)
	write("b")
	check()

	// n1 goes as a crashed node does: its entries expire, nobody is told.
	pc.nodes[0].es.crash = true
	pc.nodes[0].stop(t)
	write("c") // while the others have not noticed yet
	placed = pc.converged(envs, 4)
	t.Logf("after n1 crashed: %v", placed)
	write("d")
	check()
}
