package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestActivation: baskets abandoned before the campaign's first turn (the
// backlog) are never mailed; with Since, those abandoned since then are.
func TestActivation(t *testing.T) {
	f := newFixture(t, &Options{Steps: []time.Duration{time.Hour}}, nil)
	f.basket("old-1", "ann@example.com", nil)
	f.clock.Add(time.Minute)
	f.tick() // activation: the watermark is past old-1
	f.basket("new-1", "bob@example.com", nil)
	f.run(3*time.Hour, 5*time.Minute)
	if got := summary(f.snd.messages()); len(got) != 1 || got[0] != "new-1/1" {
		t.Errorf("messages = %v; want only new-1/1", got)
	}
	if rep := f.r.Report(); rep.TookIn != 1 || rep.ActivatedAt != t0.Add(time.Minute) {
		t.Errorf("report took in %d, activated %v; want 1 at %v", rep.TookIn, rep.ActivatedAt, t0.Add(time.Minute))
	}

	g := newFixture(t, &Options{Steps: []time.Duration{time.Hour}, Since: t0.Add(-time.Second)}, nil)
	g.clock.Add(-time.Hour)
	g.basket("older", "cy@example.com", nil) // before Since
	g.clock.Add(time.Hour)
	g.basket("old-1", "ann@example.com", nil)
	g.clock.Add(time.Minute)
	g.tick()
	g.run(3*time.Hour, 5*time.Minute)
	if got := summary(g.snd.messages()); len(got) != 1 || got[0] != "old-1/1" {
		t.Errorf("with Since: messages = %v; want old-1/1 only", got)
	}
}

// TestSendFailureRetried: a temporary failure is tried again after
// RetryAfter and sent once; a bounce suppresses the address.
func TestSendFailureRetried(t *testing.T) {
	f := newFixture(t, &Options{Steps: []time.Duration{time.Hour, 48 * time.Hour}, RetryAfter: 20 * time.Minute}, nil)
	fails := 2
	f.snd.err = func(m *Message) error {
		if m.To == "gone@example.com" {
			return &SendError{"test", "rcpt", ErrBounced}
		}
		if fails > 0 {
			fails--
			return errTemporary
		}
		return nil
	}
	f.tick()
	f.basket("b-1", "ann@example.com", nil)
	f.basket("b-2", "gone@example.com", nil)
	f.run(3*time.Hour, 5*time.Minute)
	ms := f.snd.messages()
	if got := summary(ms); len(got) != 1 || got[0] != "b-1/1" {
		t.Fatalf("messages = %v; want b-1/1 once", got)
	}
	if d := ms[0].At.Sub(t0); d < time.Hour+40*time.Minute {
		t.Errorf("sent at +%v; want after two retries 20 minutes apart", d)
	}
	rep := f.r.Report()
	if rep.Steps[0].Failed != 3 || rep.Suppressed != 1 || !f.r.Suppressed("gone@example.com") {
		t.Errorf("failed %d, suppressed %d; want 3 failures (2 temporary, 1 bounce) and the bounced address suppressed",
			rep.Steps[0].Failed, rep.Suppressed)
	}
	f.run(48*time.Hour, 10*time.Minute)
	if rep := f.r.Report(); rep.Skipped[ReasonSuppressed] != 1 || rep.Total.Sent != 2 {
		t.Errorf("after step 2: skipped %v, sent %d; want the bounced address's step 2 suppressed, 2 sent", rep.Skipped, rep.Total.Sent)
	}
}

func TestWebhook(t *testing.T) {
	var mu sync.Mutex
	keys := map[string]int{}
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if r.Header.Get("Authorization") != "Bearer hook-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m Message
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.Key != r.Header.Get("Idempotency-Key") {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if calls%3 != 0 {
			w.WriteHeader(http.StatusServiceUnavailable) // two failures, then success
			return
		}
		if keys[m.Key]++; keys[m.Key] > 1 {
			w.WriteHeader(http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	wh := &Webhook{URL: srv.URL, Token: "hook-token", Backoff: time.Millisecond}
	ctx := context.Background()
	m := testMessage("c1-web", "ann@example.com")
	if err := wh.Send(ctx, m, noCommit); err != nil {
		t.Fatalf("Send = %v; want nil after retries", err)
	}
	if err := wh.Send(ctx, m, noCommit); err != nil {
		t.Fatalf("a repeat: Send = %v; want nil (409 is a repeat)", err)
	}
	if keys["c1-web"] != 2 || calls != 6 {
		t.Errorf("keys %v, calls %d; want the key twice (the second a repeat), 6 calls", keys, calls)
	}
	if res, _ := wh.Resolve(ctx, m, true); res != SendAgain {
		t.Errorf("Resolve = %v; want SendAgain", res)
	}
	bad := &Webhook{URL: srv.URL, Token: "wrong", Backoff: time.Millisecond}
	if err := bad.Send(ctx, m, noCommit); !errors.Is(err, ErrRejected) {
		t.Errorf("Send with a wrong token = %v; want ErrRejected", err)
	}
	down := &Webhook{URL: "http://" + closedPort(t), Retries: -1}
	if err := down.Send(ctx, m, noCommit); err == nil || errors.Is(err, ErrRejected) || errors.Is(err, ErrInDoubt) {
		t.Errorf("Send to nobody = %v; want a temporary error", err)
	}
}

func TestOutboxTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	ob, err := OpenOutbox(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, k := range []string{"k1", "k2", "k1"} {
		if err := ob.Send(ctx, testMessage(k, "ann@example.com"), noCommit); err != nil {
			t.Fatal(err)
		}
	}
	ob.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	io.WriteString(f, `{"key":"k3","to":"torn`)
	f.Close()
	ob, err = OpenOutbox(path)
	if err != nil {
		t.Fatalf("OpenOutbox after a torn write: %v", err)
	}
	defer ob.Close()
	for k, want := range map[string]Resolution{"k1": Delivered, "k2": Delivered, "k3": SendAgain} {
		if got, _ := ob.Resolve(ctx, testMessage(k, ""), true); got != want {
			t.Errorf("Resolve(%s) = %v; want %v", k, got, want)
		}
	}
	if err := ob.Send(ctx, testMessage("k3", "ann@example.com"), noCommit); err != nil {
		t.Fatal(err)
	}
	if keys := outboxKeys(t, path); len(keys) != 3 || keys["k1"] != 1 || keys["k3"] != 1 {
		t.Errorf("outbox keys = %v; want k1, k2, k3 once each", keys)
	}
	if err := os.WriteFile(path, []byte("not json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenOutbox(path); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("OpenOutbox of a foreign file = %v; want an error naming line 1", err)
	}
}

func TestDryRunHidesContent(t *testing.T) {
	var b strings.Builder
	d := &DryRun{W: &b}
	m := testMessage("c1-dry", "ann@example.com")
	if err := d.Send(context.Background(), m, noCommit); err != nil {
		t.Fatal(err)
	}
	if s := b.String(); strings.Contains(s, "ann@") || strings.Contains(s, "token") || !strings.Contains(s, "c1-dry") {
		t.Errorf("dry run line %q; want the key, no address or token", s)
	}
	b.Reset()
	d.ShowContent = true
	d.Send(context.Background(), m, noCommit)
	if !strings.Contains(b.String(), "ann@example.com") {
		t.Errorf("dry run with content %q; want the whole message", b.String())
	}
}
