package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/webhook"
)

// hookSecret is the webhooks' secret in these tests: its text is the key.
const hookSecret = "7c2e9a4b1d8f3e6a0c5b9d2f7e1a4c8b7c2e9a4b1d8f3e6a0c5b9d2f7e1a4c8b"

// hookEvent is an event a test receiver verified.
type hookEvent struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Position string `json:"position"`
	Data     struct {
		ID string `json:"id"`
	} `json:"data"`
}

// hookReceiver is a receiver of webhooks on 127.0.0.1 that verifies each
// request with webhook.Verify and records it.
type hookReceiver struct {
	srv   *httptest.Server
	delay time.Duration // before each answer
	mu    sync.Mutex
	got   []hookEvent
	bad   []string
}

func newHookReceiver(t *testing.T, status int) *hookReceiver {
	t.Helper()
	hr := &hookReceiver{}
	hr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev hookEvent
		err := webhook.Verify([]byte(hookSecret), r.Header.Get(webhook.SignatureHeader), body, time.Minute)
		if err == nil {
			err = json.Unmarshal(body, &ev)
		}
		if err == nil && ev.ID != r.Header.Get(webhook.EventIDHeader) {
			err = fmt.Errorf("Abandoned-Event-Id %q, body id %q", r.Header.Get(webhook.EventIDHeader), ev.ID)
		}
		hr.mu.Lock()
		if err != nil {
			hr.bad = append(hr.bad, err.Error())
		} else {
			hr.got = append(hr.got, ev)
		}
		delay := hr.delay
		hr.mu.Unlock()
		time.Sleep(delay)
		w.WriteHeader(status)
		io.WriteString(w, `{"received":true}`)
	}))
	t.Cleanup(hr.srv.Close)
	return hr
}

func (hr *hookReceiver) events(t *testing.T) []hookEvent {
	t.Helper()
	hr.mu.Lock()
	defer hr.mu.Unlock()
	if len(hr.bad) > 0 {
		t.Fatalf("the receiver got requests it could not verify: %q", hr.bad)
	}
	return append([]hookEvent(nil), hr.got...)
}

func (hr *hookReceiver) port() string {
	_, p, _ := net.SplitHostPort(hr.srv.Listener.Addr().String())
	return p
}

func TestWebhookFlags(t *testing.T) {
	withEnv(t, map[string]string{
		"ABANDONED_WEBHOOK":               "https://hooks.example.com/a,https://crm.example.com/in?key=k",
		"ABANDONED_WEBHOOK_SECRET":        hookSecret,
		"ABANDONED_WEBHOOK_EVENTS":        "basket.abandoned,basket.erased",
		"ABANDONED_WEBHOOK_ALLOW_PRIVATE": "true",
	})
	cfg, err := parseServe(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	eps := cfg.webhooks.endpoints()
	if len(eps) != 2 || eps[1].URL != "https://crm.example.com/in?key=k" || !cfg.webhooks.allowPrivate ||
		len(eps[0].Events) != 2 || eps[0].Events[1] != basket.ChangeErased || string(eps[0].Secrets[0]) != hookSecret {
		t.Errorf("endpoints from the environment = %+v", eps)
	}
	var o basket.Options
	cfg.webhooks.engineOptions(&o)
	if o.ChangeRetention != basket.DefaultChangeRetention {
		t.Errorf("ChangeRetention = %v; want %v with -webhook", o.ChangeRetention, basket.DefaultChangeRetention)
	}

	withEnv(t, map[string]string{})
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-webhook", "https://hooks.example.com/a"}, "-webhook needs -webhook-secret: generate one with openssl rand -hex 32"},
		{[]string{"-webhook-secret", hookSecret}, "-webhook-secret: given without -webhook"},
		{[]string{"-webhook-events", "basket.abandoned"}, "-webhook-events: given without -webhook"},
		{[]string{"-webhook-allow-private"}, "-webhook-allow-private: given without -webhook"},
		{[]string{"-webhook", "https://hooks.example.com/a", "-webhook-secret", "weak*secret*text"}, "-webhook-secret 1: is not hex or base64"},
		{[]string{"-webhook", "https://hooks.example.com/a", "-webhook-secret", "abcd"}, "-webhook-secret 1: holds 2 bytes"},
		{[]string{"-webhook", "ftp://hooks.example.com/a?key=hidden", "-webhook-secret", hookSecret}, "-webhook 1: webhook endpoint ftp://hooks.example.com/a?…: url: want an http:// or https:// URL"},
		{[]string{"-webhook", "http://127.0.0.1:9/a", "-webhook-secret", hookSecret}, "-webhook-allow-private"},
		{[]string{"-webhook", "http://10.0.0.1/a", "-webhook-secret", hookSecret}, "10.0.0.1 is in 10.0.0.0/8"},
		{[]string{"-webhook", "http://[::ffff:169.254.169.254]/a", "-webhook-secret", hookSecret}, "169.254.169.254"},
		{[]string{"-webhook", "https://a.example/x", "-webhook", "https://a.example/x", "-webhook-secret", hookSecret}, "-webhook 2: https://a.example/x given twice"},
		{[]string{"-webhook", "https://a.example/x", "-webhook-secret", hookSecret, "-webhook-events", "basket.abandoned,basket.bought"}, `-webhook-events: webhook endpoint: events: "basket.bought" is not an event type`},
	} {
		_, err := parseServe(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseServe(%q) = %v; want an error naming %q", tt.args, err, tt.want)
		}
		if err != nil && (strings.Contains(err.Error(), "weak*secret*text") || strings.Contains(err.Error(), "hidden")) {
			t.Errorf("parseServe(%q): the error %q repeats a secret or a URL's query", tt.args, err)
		}
	}
}

// TestWebhooksCommand runs abandoned webhooks test against receivers.
func TestWebhooksCommand(t *testing.T) {
	withEnv(t, map[string]string{})
	ok := newHookReceiver(t, http.StatusAccepted)
	down := newHookReceiver(t, http.StatusServiceUnavailable)
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := execute(context.Background(), append([]string{"webhooks"}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	code, out, errOut := run("test", "-url", ok.srv.URL+"/hooks", "-secret", hookSecret, "-allow-private")
	if code != 0 || !strings.Contains(out, "answered 202 in ") || !strings.Contains(out, `{"received":true}`) {
		t.Errorf("webhooks test = %d, %q, %q; want 0 and the status and body", code, out, errOut)
	}
	evs := ok.events(t)
	if len(evs) != 1 || evs[0].Type != "basket.abandoned" || evs[0].Position == "" || !strings.HasPrefix(evs[0].ID, "evt_sample_") {
		t.Errorf("the receiver got %+v; want one sample basket.abandoned", evs)
	}

	withEnv(t, map[string]string{"ABANDONED_WEBHOOK_SECRET": hookSecret})
	code, out, _ = run("test", "-url", down.srv.URL+"/hooks", "-allow-private", "-format", "json")
	var ans struct {
		Status int
		OK     bool
		Body   string
	}
	if code != 1 || json.Unmarshal([]byte(out), &ans) != nil || ans.Status != 503 || ans.OK || ans.Body != `{"received":true}` {
		t.Errorf("webhooks test of a 503 = %d, %q; want 1 and the JSON of the answer", code, out)
	}
	if n := len(down.events(t)); n != 1 {
		t.Errorf("the 503 receiver got %d requests; want 1 (the secret from the environment)", n)
	}

	// Loopback without -allow-private: a literal address is refused before
	// anything is sent; a name at the connection.
	code, _, errOut = run("test", "-url", ok.srv.URL+"/hooks")
	if code != 2 || !strings.Contains(errOut, "-allow-private") {
		t.Errorf("webhooks test of 127.0.0.1 = %d, %q; want 2 naming -allow-private", code, errOut)
	}
	code, _, errOut = run("test", "-url", "http://localhost:"+ok.port()+"/hooks")
	if code != 1 || !strings.Contains(errOut, "refused") {
		t.Errorf("webhooks test of localhost = %d, %q; want 1, refused", code, errOut)
	}
	if n := len(ok.events(t)); n != 1 {
		t.Errorf("the receiver got %d requests; want none refused to reach it", n-1)
	}

	withEnv(t, map[string]string{})
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"test", "-secret", hookSecret}, "-url: missing"},
		{[]string{"test", "-url", "https://hooks.example.com/"}, "-secret: missing"},
		{[]string{"test", "-url", "https://hooks.example.com/", "-secret", "short"}, "-secret 1: is not hex or base64"},
		{[]string{"test", "-url", "gopher://x", "-secret", hookSecret}, "-url: webhook endpoint"},
		{[]string{"test", "-url", "https://hooks.example.com/", "-secret", hookSecret, "-format", "xml"}, `-format "xml"`},
		{[]string{"probe"}, `unknown subcommand "probe"`},
		{nil, "want a subcommand: test"},
	} {
		code, _, errOut := run(tt.args...)
		if code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("webhooks %q = %d, %q; want 2 naming %q", tt.args, code, errOut, tt.want)
		}
	}
	for _, args := range [][]string{{"-h"}, {"test", "-h"}} {
		var stderr bytes.Buffer
		err := runWebhooks(context.Background(), args, io.Discard, &stderr)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "Abandoned-Signature") || !strings.Contains(stderr.String(), "-allow-private") {
			t.Errorf("webhooks %q = %v, %q; want the help", args, err, stderr.String())
		}
	}
}

// TestServeWebhooks: serve with -webhook delivers what is ingested to a
// loopback receiver with -webhook-allow-private; without it, a name that
// resolves to loopback is refused where it is dialled (the deliveries list
// says so) and nothing reaches the receiver.
func TestServeWebhooks(t *testing.T) {
	withEnv(t, map[string]string{"ABANDONED_API_TOKEN": envToken, "ABANDONED_WEBHOOK_SECRET": hookSecret})
	hr := newHookReceiver(t, http.StatusOK)
	events := `{"type":"created","basketId":"b-1","at":"` + time.Now().UTC().Format(time.RFC3339) + `","entry":"/checkout","orderItems":[]}
{"type":"emailCaptured","basketId":"b-1","at":"` + time.Now().UTC().Format(time.RFC3339) + `","email":"ann@example.com"}`

	byName := "http://localhost:" + hr.port() + "/hooks?key=receiver-key"
	r := startServe(t, "-webhook", byName, "-alias", "shop")
	if code, _, body := r.do(t, http.MethodPost, "/api/baskets/events", envToken, events); code != 200 {
		t.Fatalf("ingest = %d %s", code, body)
	}
	id := webhook.EndpointID(byName)
	var body string
	for deadline := time.Now().Add(time.Minute); !strings.Contains(body, "refused"); {
		if time.Now().After(deadline) {
			t.Fatalf("no refused attempt in the deliveries list: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
		_, _, body = r.do(t, http.MethodGet, "/api/webhooks/deliveries?endpoint="+id, envToken, "")
	}
	if !strings.Contains(body, "127.0.0.1") || !strings.Contains(body, "-webhook-allow-private") || strings.Contains(body, "receiver-key") {
		t.Errorf("deliveries = %s; want the refusal naming the address and the flag, without the URL's query", body)
	}
	if code, _, _ := r.do(t, http.MethodGet, "/api/webhooks/deliveries?endpoint="+id, "", ""); code != 401 {
		t.Errorf("deliveries without a token = %d; want 401", code)
	}
	r.stop(t)
	if n := len(hr.events(t)); n != 0 {
		t.Fatalf("the receiver got %d events from a server without -webhook-allow-private; want none", n)
	}
	if logs := r.logs.String(); strings.Contains(logs, "receiver-key") || strings.Contains(logs, hookSecret) {
		t.Errorf("the logs hold the URL's query or the secret:\n%s", logs)
	}

	r = startServe(t, "-webhook", byName, "-alias", "shop", "-webhook-allow-private")
	if code, _, body := r.do(t, http.MethodPost, "/api/baskets/events", envToken, strings.ReplaceAll(events, "b-1", "b-2")); code != 200 {
		t.Fatalf("ingest = %d %s", code, body)
	}
	for deadline := time.Now().Add(time.Minute); len(hr.events(t)) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the receiver got nothing with -webhook-allow-private")
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := hr.events(t)
	if got[0].Type != "basket.abandoned" || got[0].Data.ID != "b-2" {
		t.Errorf("the receiver got %+v; want b-2's abandonment", got)
	}
	// The receiver records a request before it answers; the server counts
	// the delivery once the answer came.
	for deadline := time.Now().Add(time.Minute); ; {
		_, _, metrics := r.do(t, http.MethodGet, "/metrics", "", "")
		if strings.Contains(metrics, `abandoned_webhook_deliveries_total{endpoint="`+id+`"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks the delivery:\n%s", metrics)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeWebhooksNode: a node of a cluster (one embedded NATS server)
// delivers under the cluster's lease, its state in key-value, and its
// deliveries list says it delivers.
func TestServeWebhooksNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded NATS server; -short skips it")
	}
	withEnv(t, map[string]string{"ABANDONED_API_TOKEN": envToken, "ABANDONED_WEBHOOK_SECRET": hookSecret})
	hr := newHookReceiver(t, http.StatusOK)
	url := hr.srv.URL + "/hooks"
	r := startServe(t, "-webhook", url, "-webhook-allow-private", "-alias", "shop", "-data-dir", t.TempDir(),
		"-nats-listen", "127.0.0.1:0", "-replicas", "1", "-recovery-secret", strings.Repeat("ab", 32))
	now := time.Now().UTC().Format(time.RFC3339)
	events := `{"type":"created","basketId":"b-1","at":"` + now + `","entry":"/checkout","orderItems":[]}
{"type":"emailCaptured","basketId":"b-1","at":"` + now + `","email":"ann@example.com"}`
	// The lease is taken within a poll of the start; events after it are
	// delivered.
	id := webhook.EndpointID(url)
	for deadline := time.Now().Add(time.Minute); ; {
		_, _, body := r.do(t, http.MethodGet, "/api/webhooks/deliveries?endpoint="+id, envToken, "")
		if strings.Contains(body, `"delivering":true`) && strings.Contains(body, `"status":"active"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node does not deliver: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _, body := r.do(t, http.MethodPost, "/api/baskets/events", envToken, events); code != 200 {
		t.Fatalf("ingest = %d %s", code, body)
	}
	for deadline := time.Now().Add(time.Minute); len(hr.events(t)) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the receiver got nothing from the node")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := hr.events(t); got[0].Data.ID != "b-1" || got[0].Type != "basket.abandoned" {
		t.Errorf("the receiver got %+v; want b-1's abandonment", got)
	}
}
