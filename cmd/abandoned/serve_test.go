package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/simulator"
)

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// withEnv replaces the environment for the test.
func withEnv(t *testing.T, env map[string]string) {
	t.Helper()
	old := lookupEnv
	lookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	t.Cleanup(func() { lookupEnv = old })
}

// running is a server started by serve on a loopback port.
type running struct {
	url    string
	logs   *lockedBuffer
	cancel context.CancelFunc
	done   chan error
}

// startServe parses args as serve's flags and runs the server on a loopback
// port until the test ends (or stop is called).
func startServe(t *testing.T, args ...string) *running {
	t.Helper()
	logs := &lockedBuffer{}
	cfg, err := parseServe(args, logs)
	if err != nil {
		t.Fatalf("parseServe(%q) = %v", args, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{url: "http://" + ln.Addr().String(), logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- serve(ctx, cfg, ln, logs) }()
	t.Cleanup(func() { r.stop(t) })
	// Wait for the ready line.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), "msg=ready"); {
		if time.Now().After(deadline) {
			t.Fatalf("no ready line; logs:\n%s", logs.String())
		}
		select {
		case err := <-r.done:
			r.cancel, r.done = nil, nil // nothing left to stop
			cancel()
			t.Fatalf("serve ended before ready: %v\n%s", err, logs.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return r
}

// stop shuts the server down and returns what serve returned.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		t.Errorf("serve = %v", err)
	}
}

func (r *running) do(t *testing.T, method, path, token, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, r.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if strings.HasPrefix(body, "grant_type") {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestServeFlags(t *testing.T) {
	withEnv(t, map[string]string{
		"ABANDONED_API_TOKEN":       "5e7a1c0d9b3f4e2a8c6d0b1f3e5a7c9d, f9e8d7c6b5a4938271605f4e3d2c1b0a",
		"ABANDONED_ALIAS":           "from-env",
		"ABANDONED_TTL":             "0",
		"ABANDONED_MAX_BODY":        "1MiB",
		"ABANDONED_OAUTH_CLIENT":    "c1:c1d2e3f405162738495a6b7c8d9e0f1a,c2:a0b1c2d3e4f5061728394a5b6c7d8e9f",
		"ABANDONED_RECOVERY_SECRET": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	})
	cfg, err := parseServe([]string{"-alias", "from-flag", "-abandon-after", "90s", "-fsync", "never"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	clients, _ := cfg.clients()
	switch {
	case cfg.alias != "from-flag":
		t.Errorf("alias = %q; the flag should win over the environment", cfg.alias)
	case strings.Join(cfg.apiTokens.listFlag, "|") != "5e7a1c0d9b3f4e2a8c6d0b1f3e5a7c9d|f9e8d7c6b5a4938271605f4e3d2c1b0a":
		t.Errorf("api tokens = %q", cfg.apiTokens.listFlag)
	case cfg.ttl != 0 || cfg.abandonAfter != 90*time.Second || cfg.maxBody != 1<<20 || cfg.fsync != "never":
		t.Errorf("cfg = %+v", cfg)
	case len(clients) != 2 || clients["c2"] != "a0b1c2d3e4f5061728394a5b6c7d8e9f":
		t.Errorf("clients = %d", len(clients))
	case cfg.addr != "127.0.0.1:8080" || cfg.checkoutURL != "/checkout" || cfg.purchasedURL != "/checkout/complete":
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestServeFlagErrors(t *testing.T) {
	withEnv(t, map[string]string{})
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-fsync", "sometimes"}, "-fsync"},
		{[]string{"-ttl", "-1h"}, "-ttl"},
		{[]string{"-abandon-after", "-1s"}, "-abandon-after"},
		{[]string{"-recovery-secret", "short-secret"}, "-recovery-secret 1: holds 9 bytes; want 32 or more random bytes: generate one with openssl rand -hex 32"},
		{[]string{"-oauth-client", "no-colon-secret-value"}, "-oauth-client 1: want ID:SECRET"},
		{[]string{"-oauth-client", "a:" + strings.Repeat("01", 16), "-oauth-client", "a:" + strings.Repeat("02", 16)}, `client "a" given twice`},
		{[]string{"-api-token", "has space"}, "-api-token 1"},
		{[]string{"-max-body", "lots"}, "max-body"},
		{[]string{"-max-body", "0"}, "max-body"},
		{[]string{"-max-batch", "0"}, "-max-batch 0: want 1 or more events"},
		{[]string{"-max-future", "-1m"}, "-max-future: must not be negative"},
		{[]string{"-nope"}, "-nope"},
		{[]string{"stray"}, `unexpected argument "stray"`},
	} {
		var stderr bytes.Buffer
		_, err := parseServe(tt.args, &stderr)
		msg := ""
		if err != nil {
			msg = err.Error() + " " + stderr.String()
		}
		if err == nil || !strings.Contains(msg, tt.want) {
			t.Errorf("parseServe(%q) = %v; want an error mentioning %q", tt.args, err, tt.want)
		}
		for _, secret := range []string{"short-secret", "no-colon-secret-value", "two-secret"} {
			if strings.Contains(msg, secret) {
				t.Errorf("parseServe(%q): error repeats a secret: %s", tt.args, msg)
			}
		}
	}
	withEnv(t, map[string]string{"ABANDONED_TTL": "forever"})
	if _, err := parseServe(nil, io.Discard); err == nil || !strings.Contains(err.Error(), "ABANDONED_TTL") {
		t.Errorf("bad environment variable: %v", err)
	}
}

func TestServeUsage(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "-h"}, io.Discard, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("serve -h = %v", err)
	}
	// Exactly the flags of the product contract: the server's and the
	// cluster's.
	flags := []string{"-addr", "-api-token", "-recovery-secret", "-access-secret", "-alias", "-abandon-after", "-ttl",
		"-data-dir", "-fsync", "-checkout-url", "-oauth-client", "-purchased-url", "-max-body", "-max-batch", "-max-future", "-simulate",
		"-console", "-console-campaign", "-environments",
		"-webhook", "-webhook-secret", "-webhook-events", "-webhook-allow-private",
		"-nats-url", "-nats-listen", "-nats-cluster", "-nats-peers", "-replicas"}
	for _, f := range append(flags, "Examples:") {
		if !strings.Contains(stderr.String(), f) {
			t.Errorf("usage lacks %s", f)
		}
	}
	if n := strings.Count(stderr.String(), "\n  -"); n != len(flags) {
		t.Errorf("usage lists %d flags; want the %d of the product contract", n, len(flags))
	}
}

// Credentials of the tests: random bytes in hex, as serve wants them.
const (
	envToken  = "5e7a1c0d9b3f4e2a8c6d0b1f3e5a7c9d"
	espSecret = "c1d2e3f405162738495a6b7c8d9e0f1a"
)

// TestServeEndToEnd runs serve over a data directory: ingest, query, a
// recovery redirect, OAuth2, then a restart that finds the baskets again.
func TestServeEndToEnd(t *testing.T) {
	withEnv(t, map[string]string{"ABANDONED_API_TOKEN": envToken})
	dir := t.TempDir()
	args := []string{"-data-dir", dir, "-fsync", "always", "-ttl", "0", "-alias", "e2e",
		"-oauth-client", "esp:" + espSecret, "-checkout-url", "https://shop.example/checkout"}
	r := startServe(t, args...)
	events := `{"type":"created","basketId":"b-1","at":"2024-03-26T15:44:54.975Z","entry":"/checkout","orderItems":[{"name":"The Offer","path":"/offers2/The Offer","products":[]}]}
{"type":"emailCaptured","basketId":"b-1","at":"2024-03-26T15:45:00Z","email":"ann@example.com"}`
	if code, _, body := r.do(t, http.MethodPost, "/api/baskets/events", envToken, events); code != 200 || body != "{\"applied\":2}\n" {
		t.Fatalf("ingest = %d %s", code, body)
	}
	code, _, body := r.do(t, http.MethodGet, "/api/checkout/abandoned", envToken, "")
	if code != 200 || !strings.Contains(body, `"id":"b-1"`) {
		t.Fatalf("query = %d %s", code, body)
	}
	var page struct {
		Items []struct{ RecoveryLink string }
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil || len(page.Items) != 1 {
		t.Fatalf("page %s: %v", body, err)
	}
	code, hdr, _ := r.do(t, http.MethodGet, page.Items[0].RecoveryLink+"&utm_source=x", "", "")
	if want := "https://shop.example/checkout?basket=b-1&utm_source=x"; code != http.StatusFound || hdr.Get("Location") != want {
		t.Errorf("recovery = %d %q; want 302 %q", code, hdr.Get("Location"), want)
	}
	code, _, body = r.do(t, http.MethodPost, "/oauth2/token", "", "grant_type=client_credentials&client_id=esp&client_secret="+espSecret+"&scope=checkout")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &tok) != nil {
		t.Fatalf("token = %d %s", code, body)
	}
	if code, _, _ := r.do(t, http.MethodGet, "/api/checkout/abandoned/feed", tok.AccessToken, ""); code != 200 {
		t.Errorf("feed with an access token = %d", code)
	}
	if code, _, body := r.do(t, http.MethodGet, "/metrics", "", ""); code != 200 || !strings.Contains(body, `abandoned_baskets{state="abandoned"} 1`) {
		t.Errorf("metrics = %d", code)
	}
	r.stop(t)
	logs := r.logs.String()
	for _, secret := range []string{envToken, espSecret, tok.AccessToken, "ann@example.com", "utm_source"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs hold %q:\n%s", secret, logs)
		}
	}
	if !regexp.MustCompile(`msg=ready addr=127\.0\.0\.1:\d+`).MatchString(logs) {
		t.Errorf("no ready line naming the address:\n%s", logs)
	}

	// A restart on the same directory finds the basket, and the generated
	// recovery secret: the old link still verifies.
	r2 := startServe(t, args...)
	code, _, body = r2.do(t, http.MethodGet, "/api/checkout/abandoned", envToken, "")
	if code != 200 || !strings.Contains(body, `"id":"b-1"`) {
		t.Errorf("after restart: query = %d %s", code, body)
	}
	if code, _, _ := r2.do(t, http.MethodGet, page.Items[0].RecoveryLink, "", ""); code != http.StatusFound {
		t.Errorf("after restart: the old recovery link = %d; want 302", code)
	}
}

// TestServeGeneratedToken checks that without -api-token one token is
// generated, printed once, and works.
func TestServeGeneratedToken(t *testing.T) {
	withEnv(t, map[string]string{})
	r := startServe(t)
	m := regexp.MustCompile(`generated one for this run: (\S+)\n`).FindStringSubmatch(r.logs.String())
	if m == nil {
		t.Fatalf("no generated token printed:\n%s", r.logs.String())
	}
	if code, _, body := r.do(t, http.MethodGet, "/api/checkout/abandoned", m[1], ""); code != 200 || body != "{\"items\":[]}\n" {
		t.Errorf("query with the generated token = %d %s", code, body)
	}
	r.stop(t)
	if n := strings.Count(r.logs.String(), m[1]); n != 1 {
		t.Errorf("the generated token appears %d times in the output; want once", n)
	}
}

// TestServeGracefulShutdown checks that a request in flight when the
// shutdown begins is answered.
func TestServeGracefulShutdown(t *testing.T) {
	withEnv(t, map[string]string{})
	r := startServe(t, "-api-token", envToken, "-ttl", "0")
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"type":"created","basketId":"late","at":"2024-03-26T15:44:54Z"}`
	// With Expect: 100-continue the server answers "100 Continue" once the
	// handler reads the body: then the request is surely in flight.
	fmt.Fprintf(conn, "POST /api/baskets/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+envToken+"\r\n"+
		"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(body))
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("before the body: %q, %v; want 100 Continue", line, err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "\r\n" {
		t.Fatalf("after 100 Continue: %q, %v", line, err)
	}
	r.cancel()
	r.cancel = nil
	time.Sleep(50 * time.Millisecond) // let the shutdown begin; the outcome does not depend on it
	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the request in flight got no answer: %v; logs:\n%s", err, r.logs.String())
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "{\"applied\":1}\n" {
		t.Errorf("in-flight request = %d %s", resp.StatusCode, b)
	}
	if err := <-r.done; err != nil {
		t.Errorf("serve = %v", err)
	}
}

// TestSimulateLive checks that -simulate feeds the engine: a fast scenario
// creates baskets within moments.
func TestSimulateLive(t *testing.T) {
	eng, err := basket.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	sc := simulator.DefaultScenario()
	sc.Rate = 360_000 // 100 baskets a second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- simulateLive(ctx, eng, &sc, slog.New(slog.DiscardHandler)) }()
	deadline := time.Now().Add(30 * time.Second)
	for s := mustStats(t, eng); s.Open+s.Contactable+s.Completed == 0; s = mustStats(t, eng) {
		if time.Now().After(deadline) {
			t.Fatal("no simulated basket arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("simulateLive = %v", err)
	}
	if err := eng.Check(); err != nil {
		t.Error(err)
	}
}

// TestServeRefusesWeakSecrets: a secret or token that is not hex or base64
// of enough bytes is refused, from a flag or the environment, with an error
// naming the flag and how to generate one, never the value.
func TestServeRefusesWeakSecrets(t *testing.T) {
	withEnv(t, map[string]string{})
	b64of := func(n int, enc *base64.Encoding) string { return enc.EncodeToString(bytes.Repeat([]byte{0xa5}, n)) }
	hexOf := func(n int) string { return strings.Repeat("a5", n) }
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-recovery-secret", "Summer2024Shop!!"}, "-recovery-secret 1: is not hex or base64: generate one with openssl rand -hex 32"},
		{[]string{"-recovery-secret", hexOf(31)}, "-recovery-secret 1: holds 31 bytes"},
		{[]string{"-recovery-secret", b64of(31, base64.StdEncoding)}, "-recovery-secret 1: holds 31 bytes"},
		{[]string{"-recovery-secret", hexOf(32), "-recovery-secret", "correct horse battery staple"}, "-recovery-secret 2: is not hex or base64"},
		{[]string{"-access-secret", "Summer2024Shop!!"}, "-access-secret 1: is not hex or base64: generate one with openssl rand -hex 32"},
		{[]string{"-access-secret", hexOf(32), "-recovery-secret", hexOf(32)}, "-access-secret 1: is also a -recovery-secret"},
		{[]string{"-access-secret", hexOf(32), "-recovery-secret", b64of(32, base64.StdEncoding)}, "-access-secret 1: is also a -recovery-secret"},
		{[]string{"-api-token", "a"}, "-api-token 1: is not hex or base64: generate one with openssl rand -hex 16"},
		{[]string{"-api-token", "tok-123456"}, "-api-token 1: is not hex or base64"},
		{[]string{"-api-token", hexOf(7)}, "-api-token 1: holds 7 bytes; want 16 or more"},
		{[]string{"-api-token", hexOf(15)}, "-api-token 1: holds 15 bytes"},
		{[]string{"-oauth-client", "esp:" + b64of(13, base64.RawURLEncoding)}, `-oauth-client 1: client "esp": its secret holds 13 bytes; want 16 or more random bytes: generate one with openssl rand -hex 16`},
		{[]string{"-oauth-client", "esp:" + hexOf(16) + "\n"}, `-oauth-client 1: client "esp": its secret is not hex or base64`},
	} {
		_, err := parseServe(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseServe(%q) = %v; want an error mentioning %q", tt.args, err, tt.want)
			continue
		}
		for _, a := range tt.args {
			if !strings.HasPrefix(a, "-") && len(a) > 3 && strings.Contains(err.Error(), a) {
				t.Errorf("parseServe(%q): the error repeats a secret: %v", tt.args, err)
			}
		}
	}
	withEnv(t, map[string]string{"ABANDONED_RECOVERY_SECRET": "Summer2024Shop!!"})
	if _, err := parseServe(nil, io.Discard); err == nil || !strings.Contains(err.Error(), "openssl rand -hex 32") || strings.Contains(err.Error(), "Summer") {
		t.Errorf("a weak ABANDONED_RECOVERY_SECRET: %v", err)
	}
	withEnv(t, map[string]string{})
	for _, args := range [][]string{
		{"-recovery-secret", hexOf(32), "-access-secret", strings.ToUpper(hexOf(40))},
		{"-recovery-secret", b64of(32, base64.StdEncoding), "-access-secret", b64of(33, base64.RawStdEncoding)},
		{"-recovery-secret", b64of(32, base64.URLEncoding), "-access-secret", b64of(34, base64.RawURLEncoding)},
		{"-api-token", hexOf(16), "-api-token", b64of(16, base64.RawURLEncoding), "-oauth-client", "esp:" + b64of(16, base64.StdEncoding)},
	} {
		if _, err := parseServe(args, io.Discard); err != nil {
			t.Errorf("parseServe(%q) = %v; want it accepted", args, err)
		}
	}
	if tok, err := generateToken(); err != nil || checkRandom(tok, minTokenBytes) != nil {
		t.Errorf("the generated API token %v is refused: %v", err, checkRandom(tok, minTokenBytes))
	}
}

// TestServeRecoverySecretForms: a -recovery-secret stands for the bytes it
// encodes, so the hex kept in recovery.secret given by flag (second, after
// a new secret) is that secret, and its links verify; a secret's text, as
// earlier versions used it, verifies too.
func TestServeRecoverySecretForms(t *testing.T) {
	withEnv(t, map[string]string{})
	events := `{"type":"created","basketId":"b-1","at":"2024-03-26T15:44:54.975Z","entry":"/checkout","orderItems":[{"name":"The Offer","path":"/offers2/The Offer","products":[]}]}
{"type":"emailCaptured","basketId":"b-1","at":"2024-03-26T15:45:00Z","email":"ann@example.com"}`
	linkOf := func(r *running) string {
		t.Helper()
		if code, _, body := r.do(t, http.MethodPost, "/api/baskets/events", envToken, events); code != 200 {
			t.Fatalf("ingest = %d %s", code, body)
		}
		_, _, body := r.do(t, http.MethodGet, "/api/checkout/abandoned", envToken, "")
		var page struct {
			Items []struct{ RecoveryLink string }
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil || len(page.Items) != 1 {
			t.Fatalf("page %s: %v", body, err)
		}
		return page.Items[0].RecoveryLink
	}
	dir := t.TempDir()
	r := startServe(t, "-data-dir", dir, "-ttl", "0", "-api-token", envToken)
	link := linkOf(r)
	r.stop(t)
	kept, err := os.ReadFile(filepath.Join(dir, "recovery.secret"))
	if err != nil {
		t.Fatal(err)
	}
	r = startServe(t, "-data-dir", dir, "-ttl", "0", "-api-token", envToken,
		"-recovery-secret", strings.Repeat("3c", 32), "-recovery-secret", strings.TrimSpace(string(kept)))
	if code, _, _ := r.do(t, http.MethodGet, link, "", ""); code != http.StatusFound {
		t.Errorf("the link of the kept secret, given second by flag = %d; want 302", code)
	}
	r.stop(t)

	// A link signed with a secret's text.
	text := strings.Repeat("7e", 32)
	eng, err := basket.New(&basket.Options{RecoverySecrets: [][]byte{[]byte(text)}, TTL: basket.NoExpiry})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	at := time.Date(2024, 3, 26, 15, 44, 54, 975e6, time.UTC)
	if _, err := eng.Apply(context.Background(),
		basket.Event{Type: basket.EventCreated, BasketID: "b-1", At: at},
		basket.Event{Type: basket.EventEmailCaptured, BasketID: "b-1", At: at, Email: "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	b, err := eng.Get(context.Background(), "b-1")
	if err != nil || b.RecoveryLink == "" {
		t.Fatalf("Get = %+v, %v", b, err)
	}
	r = startServe(t, "-ttl", "0", "-api-token", envToken, "-recovery-secret", text)
	if ours := linkOf(r); ours == b.RecoveryLink {
		t.Errorf("serve signs with the secret's text, not its bytes")
	}
	if code, _, _ := r.do(t, http.MethodGet, b.RecoveryLink, "", ""); code != http.StatusFound {
		t.Errorf("a link signed with the secret's text = %d; want 302", code)
	}
}

// TestServeAccessSecret: with -data-dir the access-token secret is
// generated once, kept (mode 0600) beside the recovery secret and apart
// from it, so that access tokens survive a restart; removing the file
// rotates it: the access tokens stop working, the recovery links do not.
// In memory, -access-secret shared by two runs lets one's tokens work on
// the other.
func TestServeAccessSecret(t *testing.T) {
	withEnv(t, map[string]string{})
	dir := t.TempDir()
	args := []string{"-data-dir", dir, "-ttl", "0", "-api-token", envToken, "-oauth-client", "esp:" + espSecret}
	token := func(r *running) string {
		t.Helper()
		code, _, body := r.do(t, http.MethodPost, "/oauth2/token", "", "grant_type=client_credentials&client_id=esp&client_secret="+espSecret)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &tok) != nil {
			t.Fatalf("token = %d %s", code, body)
		}
		return tok.AccessToken
	}
	r := startServe(t, args...)
	events := `{"type":"created","basketId":"b-1","at":"2024-03-26T15:44:54.975Z","entry":"/checkout","orderItems":[{"name":"The Offer","path":"/offers2/The Offer","products":[]}]}
{"type":"emailCaptured","basketId":"b-1","at":"2024-03-26T15:45:00Z","email":"ann@example.com"}`
	if code, _, body := r.do(t, http.MethodPost, "/api/baskets/events", envToken, events); code != 200 {
		t.Fatalf("ingest = %d %s", code, body)
	}
	_, _, body := r.do(t, http.MethodGet, "/api/checkout/abandoned", envToken, "")
	var page struct {
		Items []struct{ RecoveryLink string }
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil || len(page.Items) != 1 {
		t.Fatalf("page %s: %v", body, err)
	}
	link := page.Items[0].RecoveryLink
	tok := token(r)
	r.stop(t)

	fi, err := os.Stat(filepath.Join(dir, accessSecretFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, %v; want a file of mode 0600", accessSecretFile, fi, err)
	}
	access, _ := os.ReadFile(filepath.Join(dir, accessSecretFile))
	recovery, err := os.ReadFile(filepath.Join(dir, "recovery.secret"))
	if err != nil || bytes.Equal(access, recovery) || len(bytes.TrimSpace(access)) != 64 {
		t.Fatalf("access secret %d bytes, the same as the recovery secret: %v (%v)", len(access), bytes.Equal(access, recovery), err)
	}

	r = startServe(t, args...)
	if code, _, _ := r.do(t, http.MethodGet, "/api/checkout/abandoned", tok, ""); code != 200 {
		t.Errorf("after a restart, the access token = %d; want 200", code)
	}
	r.stop(t)

	if err := os.Remove(filepath.Join(dir, accessSecretFile)); err != nil {
		t.Fatal(err)
	}
	r = startServe(t, args...)
	if code, _, _ := r.do(t, http.MethodGet, "/api/checkout/abandoned", tok, ""); code != http.StatusUnauthorized {
		t.Errorf("after the access secret's rotation, the old access token = %d; want 401", code)
	}
	if code, _, _ := r.do(t, http.MethodGet, link, "", ""); code != http.StatusFound {
		t.Errorf("after the access secret's rotation, the recovery link = %d; want 302", code)
	}
	if code, _, _ := r.do(t, http.MethodGet, "/api/checkout/abandoned", token(r), ""); code != 200 {
		t.Errorf("a new access token = %d; want 200", code)
	}
	r.stop(t)

	mem := []string{"-ttl", "0", "-api-token", envToken, "-oauth-client", "esp:" + espSecret}
	a, b := startServe(t, mem...), startServe(t, mem...)
	if code, _, _ := b.do(t, http.MethodGet, "/api/checkout/abandoned", token(a), ""); code != http.StatusUnauthorized {
		t.Errorf("in memory, another run's access token = %d; want 401", code)
	}
	shared := append(mem, "-access-secret", strings.Repeat("5a", 32))
	c, d := startServe(t, shared...), startServe(t, shared...)
	if code, _, _ := d.do(t, http.MethodGet, "/api/checkout/abandoned", token(c), ""); code != 200 {
		t.Errorf("with a shared -access-secret, another run's access token = %d; want 200", code)
	}
}

// TestServeBatchLimits: -max-batch and -max-future (also from the
// environment) reach the ingest endpoint, and its answers name them.
func TestServeBatchLimits(t *testing.T) {
	withEnv(t, map[string]string{"ABANDONED_API_TOKEN": envToken, "ABANDONED_MAX_FUTURE": "1m"})
	r := startServe(t, "-max-batch", "2")
	now := time.Now().UTC()
	ev := func(id string, at time.Time) string {
		return `{"type":"created","basketId":"` + id + `","at":"` + at.Format(time.RFC3339Nano) + `"}`
	}
	post := func(body string) (int, string) {
		code, _, b := r.do(t, http.MethodPost, "/api/baskets/events", envToken, body)
		return code, b
	}
	if code, body := post(ev("a", now) + "\n" + ev("b", now) + "\n" + ev("c", now)); code != http.StatusRequestEntityTooLarge ||
		!strings.Contains(body, "more than 2 events in one batch") || !strings.Contains(body, "-max-batch") {
		t.Errorf("3 events = %d %s; want 413 naming 2 and -max-batch", code, body)
	}
	if code, body := post(ev("a", now) + "\n" + ev("b", now.Add(2*time.Minute))); code != http.StatusBadRequest ||
		!strings.Contains(body, `"index":1`) || !strings.Contains(body, "event 1: at: more than 1m0s ahead") {
		t.Errorf("an event 2m ahead = %d %s; want 400 at index 1 naming at", code, body)
	}
	if code, body := post(ev("a", now) + "\n" + ev("b", now.Add(30*time.Second))); code != http.StatusOK {
		t.Errorf("2 events within the limits = %d %s; want 200", code, body)
	}
}
