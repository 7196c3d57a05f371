package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
	"github.com/basketlab/abandoned/basket/webhook"
)

// start starts a deliverer on eng with one endpoint at url; the test's
// cleanup closes it.
func start(t testing.TB, eng *basket.Engine, ft *fakeTime, o webhook.Options) *webhook.Deliverer {
	t.Helper()
	o.Alias = "shop"
	if ft != nil {
		o.Now, o.Sleep = ft.clock.Now, ft.Sleep
	}
	d, err := webhook.Start(context.Background(), eng, &o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func endpointAt(url string, events ...basket.ChangeType) webhook.Endpoint {
	return webhook.Endpoint{URL: url, Secrets: [][]byte{secret}, Events: events}
}

// maxJitter draws the longest wait, for a schedule known in advance.
func maxJitter(d time.Duration) time.Duration { return d }

// TestDeliverThroughFailures: a receiver that answers 500, answers late,
// drops the connection or answers slowly, on a schedule; every change
// arrives, in the journal's order, a repeat only of the event just sent
// with its id and body; and each retry waited what the schedule says.
func TestDeliverThroughFailures(t *testing.T) {
	ft := newFakeTime()
	// Baskets idle a minute are abandoned, so that a recovery makes one
	// active again rather than abandoned anew at once.
	eng := btest.MustNewEngine(t, &basket.Options{Now: ft.clock.Now, ChangeRetention: basket.DefaultChangeRetention,
		Alias: "shop", AbandonAfter: time.Minute})
	rc := newReceiver(t, func(n int) action {
		switch {
		case n%5 == 1:
			return answer500
		case n%11 == 2:
			return answerLate
		case n%13 == 3:
			return answerDrop
		case n%7 == 4:
			return answerSlow
		case n%17 == 5:
			return answer500 // twice in a row, with n%5 == 1 after it sometimes
		}
		return answer200
	})
	ep := endpointAt(rc.url())
	d := start(t, eng, ft, webhook.Options{Endpoints: []webhook.Endpoint{ep}, AllowPrivate: true,
		Timeout: 200 * time.Millisecond, Jitter: maxJitter})
	waitActive(t, d, ep.ID())

	// Abandonments, a recovery, completions and an erasure, in batches
	// while the deliverer works.
	ctx := context.Background()
	at := ft.clock.Now().Add(-2 * time.Minute)
	for i := range 6 {
		var ids []string
		for j := range 5 {
			ids = append(ids, fmt.Sprintf("b-%d-%d", i, j))
		}
		abandon(t, eng, at, ids...)
		journal(t, eng) // a read makes the abandonments due
		if _, err := eng.Apply(ctx, basket.Event{Type: basket.EventCompleted, BasketID: ids[0], At: at.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := eng.Get(ctx, "b-1-1")
	if _, err := eng.Recover(ctx, "b-1-1", tokenOf(t, b.RecoveryLink)); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if _, err := eng.Apply(ctx, basket.Event{Type: basket.EventErased, Email: "b-2-2@example.com", At: ft.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	want := journal(t, eng)
	if len(want) != 38 {
		t.Fatalf("the journal holds %d changes; want the test's 30 abandonments, 6 completions, a recovery and an erasure", len(want))
	}
	got := rc.waitFor("every change", func(evs []received) bool { return countDistinct(evs) == len(want) })
	checkOrder(t, got, want, ep.ID())
	if len(got) == len(want) {
		t.Fatalf("no repeats among %d requests: the receiver's failures did not happen", len(got))
	}

	// The retry schedule: after the n-th failed attempt at an event, the
	// wait is min(1 h, 1 s × 2^(n-1)) (maxJitter draws the longest).
	sts, err := d.Endpoints(ep.ID())
	if err != nil {
		t.Fatal(err)
	}
	retries := 0
	for _, a := range sts[0].Attempts {
		if a.Outcome != webhook.OutcomeRetry {
			continue
		}
		retries++
		want := time.Second << (a.Attempt - 1)
		if got := a.NextAttempt.Sub(a.Time); got != want {
			t.Errorf("attempt %d at %s: next in %v; want %v", a.Attempt, a.EventID, got, want)
		}
	}
	if retries == 0 {
		t.Errorf("no retry in the deliveries list: %+v", sts[0].Attempts)
	}
	for _, w := range ft.slept() {
		if s := w / time.Second; w%time.Second != 0 || s < 1 || s > 16 || s&(s-1) != 0 {
			t.Errorf("a wait of %v; want 1 s, 2 s, 4 s … for one, two, three … failures in a row", w)
		}
	}
	checkBodies(t, got, eng)
}

// countDistinct returns how many distinct event ids evs holds.
func countDistinct(evs []received) int {
	seen := map[string]bool{}
	for _, ev := range evs {
		seen[ev.ID] = true
	}
	return len(seen)
}

// checkBodies checks the events' bodies: the item shape, the position of
// an abandonment, and no address in an erasure.
func checkBodies(t *testing.T, got []received, eng *basket.Engine) {
	t.Helper()
	types := map[string]int{}
	for _, ev := range got {
		types[ev.Type]++
		if _, err := time.Parse(time.RFC3339, ev.Created); err != nil {
			t.Errorf("%s: created %q: %v", ev.ID, ev.Created, err)
		}
		var data map[string]any
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatalf("%s: data: %v", ev.ID, err)
		}
		switch ev.Type {
		case "basket.erased":
			ids, ok := data["basketIds"].([]any)
			if !ok || len(ids) != 1 || ids[0] != "b-2-2" || len(data) != 1 {
				t.Errorf("erased: data %s; want {\"basketIds\":[\"b-2-2\"]} only", ev.Data)
			}
			if strings.Contains(string(ev.body), "@") {
				t.Errorf("erased: the body holds an address: %s", ev.body)
			}
		case "basket.abandoned":
			if ev.Position == "" || ev.Position == "0" {
				t.Errorf("abandoned: position %q", ev.Position)
			}
			if id, _ := data["id"].(string); id == "b-2-2" && len(data) == 1 {
				continue // erased before it was delivered: the id alone
			}
			if data["customerDetails"] == nil || data["orderItems"] == nil || data["created"] == nil {
				t.Errorf("abandoned: data %s; want the item shape", ev.Data)
			}
		default:
			if ev.Position != "" {
				t.Errorf("%s: position %q; want none", ev.Type, ev.Position)
			}
		}
	}
	for _, typ := range basket.ChangeTypes {
		if types[string(typ)] == 0 {
			t.Errorf("no %s event among %v", typ, types)
		}
	}
}

// tokenOf returns the recover parameter of a recovery link.
func tokenOf(t *testing.T, link string) string {
	t.Helper()
	_, tok, ok := strings.Cut(link, "recover=")
	if !ok {
		t.Fatalf("recovery link %q has no token", link)
	}
	return tok
}

// waitActive waits until the deliverer has loaded the endpoint's state.
func waitActive(t testing.TB, d *webhook.Deliverer, id string) webhook.EndpointState {
	t.Helper()
	return waitStatus(t, d, id, webhook.StatusActive)
}

func waitStatus(t testing.TB, d *webhook.Deliverer, id string, want webhook.Status) webhook.EndpointState {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		sts, err := d.Endpoints(id)
		if err != nil {
			t.Fatal(err)
		}
		if sts[0].Status == want {
			return sts[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoint %s is %q; want %q", id, sts[0].Status, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRetrySchedule: a receiver that always answers 503 gets an event
// tried on the documented schedule, on the injected clock: waits of 1 s,
// 2 s, 4 s … 2048 s, then 1 h, while the next attempt falls within 3 days
// of the first: 83 attempts; then the endpoint is failing, keeps its
// checkpoint, and a Resume delivers from it.
func TestRetrySchedule(t *testing.T) {
	ft := newFakeTime()
	eng := newEngine(t, ft.clock)
	down := true
	rc := newReceiver(t, func(int) action {
		if down {
			return answer500
		}
		return answer200
	})
	ep := endpointAt(rc.url())
	var ceilings []time.Duration
	d := start(t, eng, ft, webhook.Options{Endpoints: []webhook.Endpoint{ep}, AllowPrivate: true, KeepAttempts: 200,
		Jitter: func(d time.Duration) time.Duration { ceilings = append(ceilings, d); return d }})
	before := waitActive(t, d, ep.ID())
	first := ft.clock.Now()
	abandon(t, eng, first, "b-1")
	st := waitStatus(t, d, ep.ID(), webhook.StatusFailing)

	var want []time.Duration
	for i := range 12 {
		want = append(want, time.Second<<i) // 1 s … 2048 s
	}
	for range 70 {
		want = append(want, time.Hour)
	}
	waits := ft.slept()
	if len(waits) != len(want) {
		t.Fatalf("%d waits; want %d (12 doubling from 1 s, then 70 of an hour)", len(waits), len(want))
	}
	var total time.Duration
	for i := range want {
		if waits[i] != want[i] {
			t.Errorf("wait %d = %v; want %v", i+1, waits[i], want[i])
		}
		total += waits[i]
	}
	if limit := 72 * time.Hour; total > limit || total+time.Hour <= limit {
		t.Errorf("waits total %v; want the last attempt within 3 days and the next past them", total)
	}
	if n := rc.requests(); n != 83 {
		t.Errorf("the receiver got %d attempts; want 83", n)
	}
	if len(ceilings) != 83 {
		t.Errorf("Jitter was asked %d times; want once per failed attempt, 83", len(ceilings))
	}
	if st.Checkpoint != before.Checkpoint || !strings.Contains(st.Reason, "83 attempts") {
		t.Errorf("failing at checkpoint %d (%q); want it kept at %d, the reason naming 83 attempts", st.Checkpoint, st.Reason, before.Checkpoint)
	}
	last := st.Attempts[0]
	if last.Outcome != webhook.OutcomeFailing || last.Attempt != 83 || last.Status != 500 {
		t.Errorf("the last attempt %+v; want outcome failing, attempt 83, status 500", last)
	}

	// Nothing more while failing, even as changes come.
	abandon(t, eng, ft.clock.Now(), "b-2")
	if _, err := d.Resume(context.Background(), "wh_nosuch"); !errors.Is(err, webhook.ErrUnknownEndpoint) {
		t.Errorf("Resume of an unknown endpoint = %v; want ErrUnknownEndpoint", err)
	}
	if n := rc.requests(); n != 83 {
		t.Errorf("%d requests while failing; want none after the 83", n-83)
	}
	down = false
	if _, err := d.Resume(context.Background(), ep.URL); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	got := rc.waitFor("b-1 and b-2", func(evs []received) bool { return countDistinct(evs) == 2 })
	checkOrder(t, got, journal(t, eng), ep.ID())
}

// TestRetryJitter: with the default jitter every wait lies between 0 and
// the schedule's ceiling.
func TestRetryJitter(t *testing.T) {
	ft := newFakeTime()
	eng := newEngine(t, ft.clock)
	rc := newReceiver(t, func(n int) action {
		if n < 10 {
			return answer500
		}
		return answer200
	})
	ep := endpointAt(rc.url())
	d := start(t, eng, ft, webhook.Options{Endpoints: []webhook.Endpoint{ep}, AllowPrivate: true})
	waitActive(t, d, ep.ID())
	abandon(t, eng, ft.clock.Now(), "b-1")
	rc.waitFor("b-1 delivered", func(evs []received) bool { return len(evs) == 11 })
	waits := ft.slept()
	if len(waits) != 10 {
		t.Fatalf("%d waits; want 10", len(waits))
	}
	for i, w := range waits {
		if ceiling := webhook.DefaultRetry.Ceiling(i + 1); w < 0 || w > ceiling {
			t.Errorf("wait %d = %v; want between 0 and %v", i+1, w, ceiling)
		}
	}
}

func TestRetryCeiling(t *testing.T) {
	r := webhook.DefaultRetry
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 12: 2048 * time.Second, 13: time.Hour, 500: time.Hour} {
		if got := r.Ceiling(n); got != want {
			t.Errorf("Ceiling(%d) = %v; want %v", n, got, want)
		}
	}
}

// TestGoneDisables: a 410 disables the endpoint at once; a Resume
// delivers from the change it refused.
func TestGoneDisables(t *testing.T) {
	ft := newFakeTime()
	eng := newEngine(t, ft.clock)
	gone := true
	rc := newReceiver(t, func(int) action {
		if gone {
			return answer410
		}
		return answer200
	})
	ep := endpointAt(rc.url())
	d := start(t, eng, ft, webhook.Options{Endpoints: []webhook.Endpoint{ep}, AllowPrivate: true})
	waitActive(t, d, ep.ID())
	abandon(t, eng, ft.clock.Now(), "b-1")
	st := waitStatus(t, d, ep.ID(), webhook.StatusDisabled)
	if n := rc.requests(); n != 1 || len(ft.slept()) != 0 {
		t.Errorf("%d requests, %d waits before disabled; want one and none", n, len(ft.slept()))
	}
	if st.Attempts[0].Outcome != webhook.OutcomeDisabled || st.Attempts[0].Status != 410 {
		t.Errorf("the attempt %+v; want outcome disabled, status 410", st.Attempts[0])
	}
	abandon(t, eng, ft.clock.Now(), "b-2")
	gone = false
	if _, err := d.Resume(context.Background(), ep.ID()); err != nil {
		t.Fatal(err)
	}
	got := rc.waitFor("b-1 and b-2", func(evs []received) bool { return countDistinct(evs) == 2 })
	checkOrder(t, got, journal(t, eng), ep.ID())
}

// TestRestartResumes: a deliverer over a DirStore, closed and started
// again (as a restarted server), goes on from its checkpoint: nothing
// missing, nothing repeated after a clean stop; the failing status and
// attempt count survive too.
func TestRestartResumes(t *testing.T) {
	ft := newFakeTime()
	eng := newEngine(t, ft.clock)
	down := false
	rc := newReceiver(t, func(int) action {
		if down {
			return answer500
		}
		return answer200
	})
	dir := t.TempDir()
	ep := endpointAt(rc.url())
	open := func() *webhook.Deliverer {
		st, err := webhook.NewDirStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		d := start(t, eng, ft, webhook.Options{Endpoints: []webhook.Endpoint{ep}, AllowPrivate: true, Store: st, Jitter: maxJitter})
		waitActive(t, d, ep.ID())
		return d
	}
	d := open()
	abandon(t, eng, ft.clock.Now(), "b-1", "b-2")
	rc.waitFor("two", func(evs []received) bool { return len(evs) == 2 })
	waitCheckpoint(t, d, ep.ID(), lastSeq(t, eng))
	d.Close()
	abandon(t, eng, ft.clock.Now(), "b-3") // while it is stopped
	d = open()
	rc.waitFor("three", func(evs []received) bool { return len(evs) == 3 })
	waitCheckpoint(t, d, ep.ID(), lastSeq(t, eng))
	// b-4 fails once; the deliverer saves the attempt and waits, and is
	// stopped there.
	down = true
	ft.setPark(true)
	abandon(t, eng, ft.clock.Now(), "b-4")
	rc.waitFor("a failure", func(evs []received) bool { return len(evs) == 4 })
	for len(ft.slept()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	d.Close()
	down = false
	ft.setPark(false)
	d = open()
	waitCheckpoint(t, d, ep.ID(), lastSeq(t, eng))
	got := rc.events()
	checkOrder(t, got, journal(t, eng), ep.ID())
	if len(got) != 5 {
		t.Errorf("%d requests; want 5: b-1 to b-4, b-4 twice", len(got))
	}
	// The attempt after the restart went on counting.
	sts, _ := d.Endpoints(ep.ID())
	if a := sts[0].Attempts[0]; a.Outcome != webhook.OutcomeDelivered || a.Attempt != 2 || a.EventID != got[3].ID {
		t.Errorf("after the restart: %+v; want b-4's attempt 2 delivered", a)
	}
}

// TestFilter: an endpoint that wants abandonments only gets them, and its
// checkpoint moves past the changes it skips.
func TestFilter(t *testing.T) {
	ft := newFakeTime()
	eng := newEngine(t, ft.clock)
	rc := newReceiver(t, nil)
	ep := endpointAt(rc.url(), basket.ChangeAbandoned)
	d := start(t, eng, ft, webhook.Options{Endpoints: []webhook.Endpoint{ep}, AllowPrivate: true})
	waitActive(t, d, ep.ID())
	abandon(t, eng, ft.clock.Now(), "b-1", "b-2")
	if _, err := eng.Apply(context.Background(), basket.Event{Type: basket.EventCompleted, BasketID: "b-1", At: ft.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	all := journal(t, eng)
	var want []basket.Change
	for _, ch := range all {
		if ch.Type == basket.ChangeAbandoned {
			want = append(want, ch)
		}
	}
	got := rc.waitFor("the abandonments", func(evs []received) bool { return len(evs) == len(want) })
	checkOrder(t, got, want, ep.ID())
	// Its checkpoint moves past the completion it skips.
	waitCheckpoint(t, d, ep.ID(), all[len(all)-1].Seq)
}

// TestErasedBeforeDelivery: a basket erased before its abandonment was
// delivered goes out as its id alone, no address or name.
func TestErasedBeforeDelivery(t *testing.T) {
	ft := newFakeTime()
	eng := newEngine(t, ft.clock)
	rc := newReceiver(t, nil)
	ep := endpointAt(rc.url())
	o := webhook.Options{Endpoints: []webhook.Endpoint{ep}, AllowPrivate: true, Store: webhook.NewMemoryStore()}
	d := start(t, eng, ft, o)
	waitActive(t, d, ep.ID())
	d.Close()
	abandon(t, eng, ft.clock.Now(), "b-1")
	if _, err := eng.Apply(context.Background(), basket.Event{Type: basket.EventErased, Email: "b-1@example.com", At: ft.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	start(t, eng, ft, o)
	got := rc.waitFor("two", func(evs []received) bool { return len(evs) == 2 })
	if got[0].Type != "basket.abandoned" || string(got[0].Data) != `{"id":"b-1"}` ||
		got[1].Type != "basket.erased" || string(got[1].Data) != `{"basketIds":["b-1"]}` {
		t.Errorf("got %s and %s; want the abandonment with the id alone, then the erasure", got[0].body, got[1].body)
	}
}

// TestLostChanges: an endpoint away longer than the journal keeps records
// the loss, counts it, and goes on from the oldest change kept.
func TestLostChanges(t *testing.T) {
	ft := newFakeTime()
	eng := newEngineRetention(t, ft, time.Hour)
	rc := newReceiver(t, nil)
	ep := endpointAt(rc.url())
	store := webhook.NewMemoryStore()
	o := webhook.Options{Endpoints: []webhook.Endpoint{ep}, AllowPrivate: true, Store: store}
	d := start(t, eng, ft, o)
	waitActive(t, d, ep.ID())
	d.Close()
	abandon(t, eng, ft.clock.Now(), "b-1", "b-2") // while away
	ft.clock.Add(2 * time.Hour)
	abandon(t, eng, ft.clock.Now(), "b-3") // the journal drops b-1 and b-2
	d = start(t, eng, ft, o)
	got := rc.waitFor("b-3", func(evs []received) bool { return len(evs) == 1 })
	if !strings.Contains(string(got[0].Data), `"b-3"`) {
		t.Errorf("got %s; want b-3", got[0].Data)
	}
	sts, _ := d.Endpoints(ep.ID())
	lost := sts[0].Attempts[len(sts[0].Attempts)-1]
	if lost.Outcome != webhook.OutcomeLost || !strings.Contains(lost.Error, "2 changes") {
		t.Errorf("the first entry %+v; want outcome lost naming 2 changes", lost)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(d.Collectors()...)
	wantMetrics(t, reg, fmt.Sprintf("abandoned_webhook_lost_changes_total{endpoint=%q} 2", ep.ID()))
}

func newEngineRetention(t testing.TB, ft *fakeTime, keep time.Duration) *basket.Engine {
	t.Helper()
	eng, err := basket.New(&basket.Options{Now: ft.clock.Now, ChangeRetention: keep, Alias: "shop",
		RecoverySecrets: [][]byte{[]byte("test-secret-0123456789abcdef")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

// wantMetrics checks that a scrape of reg has every line of want and no
// series of the names in none.
func wantMetrics(t *testing.T, reg *prometheus.Registry, want string, none ...string) {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	got := rec.Body.String()
	for _, line := range strings.Split(strings.TrimSpace(want), "\n") {
		if !strings.Contains(got, "\n"+strings.TrimSpace(line)+"\n") {
			t.Errorf("the metrics lack %q:\n%s", line, got)
		}
	}
	for _, name := range none {
		if strings.Contains(got, "\n"+name+"{") {
			t.Errorf("the metrics have %s:\n%s", name, got)
		}
	}
}

// TestPrivateRefused: without AllowPrivate a name that resolves to
// 127.0.0.1 is refused where it is dialled, and nothing reaches the
// receiver; with it, the same endpoint gets the event.
func TestPrivateRefused(t *testing.T) {
	ft := newFakeTime()
	eng := newEngine(t, ft.clock)
	rc := newReceiver(t, nil)
	url := strings.Replace(rc.url(), "127.0.0.1", "receiver.test", 1)
	ep := endpointAt(url)
	store := webhook.NewMemoryStore()
	d := start(t, eng, ft, webhook.Options{Endpoints: []webhook.Endpoint{ep}, Resolver: loopback{}, Jitter: maxJitter, Store: store})
	waitActive(t, d, ep.ID())
	// The refused retries stop a day on: unchecked, they would move the
	// clock past the journal's retention, and the change would be lost
	// before the second start.
	ft.parkAt(ft.clock.Now().Add(24 * time.Hour))
	abandon(t, eng, ft.clock.Now(), "b-1")
	deadline := time.Now().Add(time.Minute)
	var st webhook.EndpointState
	for {
		sts, _ := d.Endpoints(ep.ID())
		if st = sts[0]; len(st.Attempts) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attempts %+v; want three refused", st.Attempts)
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.Close()
	for _, a := range st.Attempts[:3] {
		if a.Status != 0 || !strings.Contains(a.Error, "refused") || !strings.Contains(a.Error, "127.0.0.1") {
			t.Errorf("attempt %+v; want refused, naming 127.0.0.1", a)
		}
		if strings.Contains(a.Error, "receiver-own-token") {
			t.Errorf("attempt error %q shows the URL's query", a.Error)
		}
	}
	if n := rc.requests(); n != 0 {
		t.Fatalf("the receiver got %d requests; want none", n)
	}
	ft.parkAt(time.Time{})
	start(t, eng, ft, webhook.Options{Endpoints: []webhook.Endpoint{ep}, Resolver: loopback{}, AllowPrivate: true, Store: store})
	rc.waitFor("b-1", func(evs []received) bool { return len(evs) == 1 })
}

// TestStartChecks: bad endpoints and an engine without a journal are
// refused at Start, naming what is wrong.
func TestStartChecks(t *testing.T) {
	ft := newFakeTime()
	eng := newEngine(t, ft.clock)
	good := endpointAt("https://hooks.example.com/in")
	for _, tt := range []struct {
		name string
		eps  []webhook.Endpoint
		want string
	}{
		{"no secret", []webhook.Endpoint{{URL: good.URL}}, "secrets: none given"},
		{"short secret", []webhook.Endpoint{{URL: good.URL, Secrets: [][]byte{[]byte("short")}}}, "secret 1 holds 5 bytes"},
		{"bad type", []webhook.Endpoint{{URL: good.URL, Secrets: good.Secrets, Events: []basket.ChangeType{"basket.bought"}}}, `"basket.bought" is not an event type`},
		{"twice", []webhook.Endpoint{good, good}, "given twice"},
		{"private", []webhook.Endpoint{endpointAt("http://10.0.0.8/in")}, "10.0.0.8"},
		{"query shown", []webhook.Endpoint{endpointAt("ftp://hooks.example.com/in?token=abc")}, "http:// or https://"},
	} {
		_, err := webhook.Start(context.Background(), eng, &webhook.Options{Endpoints: tt.eps})
		if !errors.Is(err, webhook.ErrInvalidEndpoint) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Start = %v; want ErrInvalidEndpoint naming %q", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "token=abc") {
			t.Errorf("%s: the error %q shows the URL's query", tt.name, err)
		}
	}
	plain := newEngineRetention(t, ft, 0)
	if _, err := webhook.Start(context.Background(), plain, &webhook.Options{Endpoints: []webhook.Endpoint{good}}); !errors.Is(err, basket.ErrNoJournal) {
		t.Errorf("Start on an engine without a journal = %v; want basket.ErrNoJournal", err)
	}
}

// TestDeliveriesHandler: the deliveries list answers the latest attempts
// of an endpoint, by URL or id, newest first, without the URL's query.
func TestDeliveriesHandler(t *testing.T) {
	ft := newFakeTime()
	eng := newEngine(t, ft.clock)
	rc := newReceiver(t, func(n int) action {
		if n == 0 {
			return answer500
		}
		return answer200
	})
	ep := endpointAt(rc.url())
	d := start(t, eng, ft, webhook.Options{Endpoints: []webhook.Endpoint{ep}, AllowPrivate: true, Jitter: maxJitter})
	waitActive(t, d, ep.ID())
	abandon(t, eng, ft.clock.Now(), "b-1")
	rc.waitFor("b-1", func(evs []received) bool { return len(evs) == 2 })
	waitAttempts(t, d, ep.ID(), 2)
	h := d.DeliveriesHandler()
	get := func(query string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, webhook.DeliveriesPath+query, nil))
		return rec.Code, rec.Body.String()
	}
	for _, q := range []string{"?endpoint=" + ep.ID(), "?endpoint=" + urlEscape(ep.URL), ""} {
		code, body := get(q)
		if code != 200 {
			t.Fatalf("GET %s = %d %s", q, code, body)
		}
		var ans struct {
			Endpoints []struct {
				ID, URL, Status, Checkpoint string
				Delivering                  bool
				Items                       []struct {
					Time, EventID, Type, Seq, Outcome, Error string
					Attempt, Status                          int
					LatencyMs                                float64
				}
			}
		}
		if err := json.Unmarshal([]byte(body), &ans); err != nil {
			t.Fatalf("GET %s: %v: %s", q, err, body)
		}
		if len(ans.Endpoints) != 1 || ans.Endpoints[0].ID != ep.ID() || len(ans.Endpoints[0].Items) != 2 {
			t.Fatalf("GET %s = %s; want the endpoint and two attempts", q, body)
		}
		e := ans.Endpoints[0]
		first, second := e.Items[1], e.Items[0] // newest first
		if first.Status != 500 || first.Outcome != "retry" || first.Attempt != 1 ||
			second.Status != 200 || second.Outcome != "delivered" || second.Attempt != 2 ||
			first.EventID != second.EventID || first.Type != "basket.abandoned" || second.LatencyMs <= 0 {
			t.Errorf("GET %s: items %+v; want a 500 (retry, attempt 1) then a 200 (delivered, attempt 2) of one event", q, e.Items)
		}
		if strings.Contains(body, "receiver-own-token") || !strings.HasSuffix(e.URL, "/hooks?…") {
			t.Errorf("GET %s shows the URL %q; want it without its query", q, e.URL)
		}
		if e.Status != "active" || !e.Delivering {
			t.Errorf("GET %s: status %q, delivering %v; want active and true", q, e.Status, e.Delivering)
		}
	}
	if code, body := get("?endpoint=wh_000000000000"); code != 404 || !strings.Contains(body, `"message":"endpoint:`) {
		t.Errorf("an unknown endpoint = %d %s; want 404 naming endpoint", code, body)
	}
	if code, body := get("?endpoint=a&endpoint=b"); code != 400 || !strings.Contains(body, "more than once") {
		t.Errorf("endpoint twice = %d %s; want 400", code, body)
	}
	rec := httptest.NewRecorder()
	d.ResumeHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, webhook.ResumePath, nil))
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "endpoint: missing") {
		t.Errorf("resume without endpoint = %d %s; want 400", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	d.ResumeHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, webhook.ResumePath+"?endpoint="+ep.ID(), nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"status":"active"`) {
		t.Errorf("resume of an active endpoint = %d %s; want 200, active", rec.Code, rec.Body)
	}
}

// waitCheckpoint waits until the endpoint's checkpoint is seq.
func waitCheckpoint(t *testing.T, d *webhook.Deliverer, id string, seq uint64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		sts, _ := d.Endpoints(id)
		if sts[0].Checkpoint == seq {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %d; want %d", sts[0].Checkpoint, seq)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func lastSeq(t *testing.T, eng *basket.Engine) uint64 {
	t.Helper()
	seq, err := eng.LastChange(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func waitAttempts(t *testing.T, d *webhook.Deliverer, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		sts, _ := d.Endpoints(id)
		if len(sts[0].Attempts) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d attempts; want %d", len(sts[0].Attempts), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func urlEscape(s string) string {
	r := strings.NewReplacer("%", "%25", "&", "%26", "?", "%3F", "=", "%3D", "#", "%23", "+", "%2B", " ", "%20")
	return r.Replace(s)
}

// TestMetrics: deliveries, failures and lag by endpoint id.
func TestMetrics(t *testing.T) {
	ft := newFakeTime()
	eng := newEngine(t, ft.clock)
	rc := newReceiver(t, func(n int) action {
		if n == 0 {
			return answer500
		}
		return answer200
	})
	ep := endpointAt(rc.url())
	d := start(t, eng, ft, webhook.Options{Endpoints: []webhook.Endpoint{ep}, AllowPrivate: true})
	waitActive(t, d, ep.ID())
	abandon(t, eng, ft.clock.Now(), "b-1", "b-2")
	rc.waitFor("two", func(evs []received) bool { return countDistinct(evs) == 2 })
	waitAttempts(t, d, ep.ID(), 3)
	reg := prometheus.NewRegistry()
	reg.MustRegister(d.Collectors()...)
	id := ep.ID()
	wantMetrics(t, reg, fmt.Sprintf(`
abandoned_webhook_deliveries_total{endpoint=%[1]q} 2
abandoned_webhook_failures_total{endpoint=%[1]q} 1
abandoned_webhook_lag{endpoint=%[1]q} 0
abandoned_webhook_delivering 1
abandoned_webhook_endpoint_status{endpoint=%[1]q,status="active"} 1`, id))
	// Disabled by a 410, with changes after it: the lag counts them.
	rc.plan = func(int) action { return answer410 }
	abandon(t, eng, ft.clock.Now(), "b-3", "b-4")
	waitStatus(t, d, id, webhook.StatusDisabled)
	wantMetrics(t, reg, fmt.Sprintf(`
abandoned_webhook_lag{endpoint=%[1]q} 2
abandoned_webhook_endpoint_status{endpoint=%[1]q,status="active"} 0
abandoned_webhook_endpoint_status{endpoint=%[1]q,status="disabled"} 1
abandoned_webhook_endpoint_status{endpoint=%[1]q,status="failing"} 0`, id))
	d.Close()
	wantMetrics(t, reg, "abandoned_webhook_delivering 0", "abandoned_webhook_lag")
}

// TestDurableEventIDs: a durable engine opened again gives its changes
// the sequences they had, so that an event sent again after a restart
// carries the id it had.
func TestDurableEventIDs(t *testing.T) {
	dir := t.TempDir()
	o := &basket.Options{ChangeRetention: basket.DefaultChangeRetention, RecoverySecrets: [][]byte{btest.Secret}}
	open := func() *basket.Engine {
		eng, err := basket.Open(dir, o)
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}
	eng := open()
	abandon(t, eng, time.Now(), "b-1", "b-2")
	before := journal(t, eng)
	eng.Close()
	eng = open()
	defer eng.Close()
	after := journal(t, eng)
	if len(after) != len(before) {
		t.Fatalf("%d changes after the restart; want %d", len(after), len(before))
	}
	for i := range before {
		if after[i].Seq != before[i].Seq || after[i].BasketIDs[0] != before[i].BasketIDs[0] {
			t.Errorf("change %d: seq %d of %v after the restart; want %d of %v", i, after[i].Seq, after[i].BasketIDs, before[i].Seq, before[i].BasketIDs)
		}
	}
}
