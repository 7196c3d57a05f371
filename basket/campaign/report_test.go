package campaign

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// TestHoldout: a durable campaign with a 30% holdout sends nothing to the
// customers a keyed hash of their address puts in it, the same ones after
// a restart, records each of their steps as holdout, and reports both
// groups' recovered shares.
func TestHoldout(t *testing.T) {
	clock := btest.NewClock(t0)
	eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now})
	dir := t.TempDir()
	opts := &Options{ShopURL: "shop.example.com", Steps: []time.Duration{time.Hour, 48 * time.Hour}, Holdout: 0.3, Now: clock.Now}
	snd := &memSender{}
	r, err := Open(dir, EngineSource{eng}, snd, opts)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, clock: clock, eng: eng, snd: snd, r: r}
	f.tick()
	const n = 200
	email := func(i int) string { return fmt.Sprintf("c%03d@example.com", i) }
	for i := range n {
		f.basket(fmt.Sprintf("b-%03d", i), email(i), nil)
	}
	f.run(2*time.Hour, 10*time.Minute)
	// Every fourth customer orders, in either group.
	for i := 0; i < n; i += 4 {
		f.complete(fmt.Sprintf("b-%03d", i))
	}
	f.run(52*time.Hour, 30*time.Minute)

	mailed := map[string]bool{}
	for _, m := range snd.messages() {
		mailed[m.To] = true
	}
	held := map[string]bool{}
	var heldDone, mailedDone, heldSteps int64
	r.mu.Lock()
	for i := range n {
		e := email(i)
		if r.heldOut(e) {
			held[e] = true
			heldSteps++
			if i%4 == 0 {
				heldDone++
			} else {
				heldSteps++ // step 2 too
			}
		} else if i%4 == 0 {
			mailedDone++
		}
	}
	r.mu.Unlock()
	if len(held) < 30 || len(held) > 90 {
		t.Errorf("%d of %d held out; want about 30%%", len(held), n)
	}
	for e := range held {
		if mailed[e] {
			t.Errorf("%s is held out and was mailed", e)
		}
	}
	if len(mailed)+len(held) != n {
		t.Errorf("%d mailed and %d held out; want every one of the %d in one group", len(mailed), len(held), n)
	}
	want := HoldoutReport{Share: 0.3,
		Mailed:  GroupReport{Baskets: int64(len(mailed)), Recovered: mailedDone},
		Holdout: GroupReport{Baskets: int64(len(held)), Recovered: heldDone}}
	check := func(when string, rep Report) {
		t.Helper()
		if rep.Skipped[ReasonHoldout] != heldSteps {
			t.Errorf("%s: skipped as holdout %d; want %d", when, rep.Skipped[ReasonHoldout], heldSteps)
		}
		h := rep.Holdout
		if h == nil {
			t.Fatalf("%s: no holdout in the report", when)
		}
		if h.Share != want.Share || h.Mailed.Baskets != want.Mailed.Baskets || h.Mailed.Recovered != want.Mailed.Recovered ||
			h.Holdout.Baskets != want.Holdout.Baskets || h.Holdout.Recovered != want.Holdout.Recovered {
			t.Errorf("%s: holdout report %+v; want %+v", when, *h, want)
		}
	}
	rep := r.Report()
	check("running", rep)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	// After a restart: the same customers held out, the same counts.
	r, err = Open(dir, EngineSource{eng}, &memSender{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.mu.Lock()
	for i := range n {
		if r.heldOut(email(i)) != held[email(i)] {
			t.Errorf("after a restart %s is held out: %v; want %v", email(i), !held[email(i)], held[email(i)])
		}
	}
	r.mu.Unlock()
	check("reopened", r.Report())
	r.Close()
	read, err := ReadReport(dir, &Options{Steps: opts.Steps}) // the share is the state's
	if err != nil {
		t.Fatal(err)
	}
	check("read from the state", read)

	// Another campaign's state draws another holdout.
	other, err := Open(t.TempDir(), EngineSource{eng}, &memSender{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	same := 0
	other.mu.Lock()
	for i := range n {
		if other.heldOut(email(i)) == held[email(i)] {
			same++
		}
	}
	other.mu.Unlock()
	if same == n {
		t.Error("a state with another secret holds out the very same customers")
	}
}

// TestHoldoutReportMath checks the comparison's figures.
func TestHoldoutReportMath(t *testing.T) {
	h := newHoldoutReport(0.1, groupCounts{Mailed: 100, MailedRecovered: 30, Holdout: 50, HoldoutRecovered: 10})
	se := math.Sqrt(0.3*0.7/100 + 0.2*0.8/50)
	if h.Mailed.Rate != 0.3 || h.Holdout.Rate != 0.2 || math.Abs(h.Difference-0.1) > 1e-12 || math.Abs(h.StdErr-se) > 1e-12 {
		t.Errorf("newHoldoutReport = %+v; want rates 0.3 and 0.2, difference 0.1, standard error %v", *h, se)
	}
	if lo, hi, ok := h.Interval(); !ok || math.Abs(lo-(0.1-1.96*se)) > 1e-12 || math.Abs(hi-(0.1+1.96*se)) > 1e-12 {
		t.Errorf("Interval = %v, %v, %v", lo, hi, ok)
	}
	empty := newHoldoutReport(0.1, groupCounts{Mailed: 10, MailedRecovered: 3})
	if _, _, ok := empty.Interval(); ok || empty.Difference != 0 || empty.StdErr != 0 {
		t.Errorf("with no basket held out: %+v; want no difference yet", *empty)
	}
	var b strings.Builder
	b.WriteString(h.text(DefaultAttributionWindow))
	for _, want := range []string{"holdout 10%", "mailed    100 baskets, 30 recovered (30.00%)", "held out  50 baskets, 10 recovered (20.00%)",
		"difference +10.00 points (standard error 7.28; 95% interval -4.27 to +24.27)", "within 120h"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("holdout text lacks %q:\n%s", want, b.String())
		}
	}
}

// TestParseHoldout covers the holdout's syntax, as flag and as
// configuration.
func TestParseHoldout(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{{"10%", 0.1, true}, {"2.5%", 0.025, true}, {" 50 %", 0.5, true}, {"0", 0, true}, {"0%", 0, true},
		{"10", 0, false}, {"0.1", 0, false}, {"1e1%", 0, false}, {"0x10%", 0, false}, {"51%", 0, false}, {"-1%", 0, false}, {"NaN%", 0, false}, {"", 0, false}, {"ten%", 0, false}} {
		got, err := ParseHoldout(tc.in)
		if (err == nil) != tc.ok || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("ParseHoldout(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "holdout") {
			t.Errorf("ParseHoldout(%q) = %v; want an error naming the holdout", tc.in, err)
		}
	}
	for _, tc := range []struct {
		json string
		want float64
	}{{`"10%"`, 0.1}, {`0.25`, 0.25}} {
		o, err := ParseConfig([]byte(`{"shop":"x","holdout":` + tc.json + `}`))
		if err != nil || o.Holdout != tc.want {
			t.Errorf("ParseConfig(holdout %s) = %v, %v; want %v", tc.json, o.Holdout, err, tc.want)
		}
	}
	for _, bad := range []string{`"10"`, `10`, `0.9`, `true`} {
		if _, err := ParseConfig([]byte(`{"shop":"x","holdout":` + bad + `}`)); err == nil || !strings.Contains(err.Error(), "holdout") {
			t.Errorf("ParseConfig(holdout %s) = %v; want an error naming holdout", bad, err)
		}
	}
	if _, err := New(EngineSource{}, &memSender{}, &Options{ShopURL: "x", Holdout: 0.6}); err == nil {
		t.Error("New with a holdout of 60% = nil; want an error")
	}
	if got := formatShare(0.07); got != "7%" {
		t.Errorf("formatShare(0.07) = %q; want 7%%", got)
	}
}

// TestReportJSON: the JSON report writes times only when set, durations
// as Go duration strings, which a configuration file reads back, and
// reads back as it was.
func TestReportJSON(t *testing.T) {
	f := newFixture(t, nil, nil)
	var b bytes.Buffer
	rep := f.r.Report()
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if s := b.String(); strings.Contains(s, "0001-01-01") || strings.Contains(s, `"at"`) || strings.Contains(s, "activatedAt") {
		t.Errorf("a report before any turn writes zero times:\n%s", s)
	}
	f.tick()
	f.basket("b-1", "ann@example.com", nil)
	f.run(2*time.Hour, 10*time.Minute)
	rep = f.r.Report()
	b.Reset()
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		At                string `json:"at"`
		ActivatedAt       string `json:"activatedAt"`
		AttributionWindow string `json:"attributionWindow"`
		Steps             []struct {
			After string `json:"after"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(b.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if raw.At != "2025-03-03T14:00:00Z" || raw.ActivatedAt != "2025-03-03T12:00:00Z" || raw.AttributionWindow != "120h0m0s" ||
		len(raw.Steps) != 3 || raw.Steps[2].After != "72h0m0s" {
		t.Errorf("JSON report %s; want at the last turn, activatedAt, attributionWindow 120h0m0s, steps with after", b.String())
	}
	if strings.Contains(b.String(), "Ns\"") {
		t.Errorf("JSON report holds nanoseconds:\n%s", b.String())
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("reading the JSON report back: %v", err)
	}
	if !reflect.DeepEqual(back, rep) {
		t.Errorf("read back %+v; want %+v", back, rep)
	}
	cfg := fmt.Sprintf(`{"shop":"x","attributionWindow":%q,"steps":[%q,%q,%q]}`, raw.AttributionWindow,
		raw.Steps[0].After, raw.Steps[1].After, raw.Steps[2].After)
	o, err := ParseConfig([]byte(cfg))
	if err != nil || o.AttributionWindow != DefaultAttributionWindow || !reflect.DeepEqual(o.Steps, DefaultSteps) {
		t.Errorf("ParseConfig(%s) = %+v, %v; want the report's durations", cfg, o, err)
	}
}

// TestDryRunReport: a dry run's report says what would have been sent,
// and that nothing was.
func TestDryRunReport(t *testing.T) {
	f := newFixture(t, nil, nil)
	r, err := New(EngineSource{f.eng}, &DryRun{}, &Options{ShopURL: "shop.example.com", Steps: []time.Duration{time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f.r = r
	f.tick()
	f.basket("b-1", "ann@example.com", nil)
	f.run(2*time.Hour, 10*time.Minute)
	rep := r.Report()
	if !rep.DryRun || rep.Total.Sent != 0 || rep.Total.WouldSend != 1 || rep.Steps[0].WouldSend != 1 {
		t.Errorf("dry run report: dry %v, sent %d, would send %d; want a dry run, 0 sent, 1 would send",
			rep.DryRun, rep.Total.Sent, rep.Total.WouldSend)
	}
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if s := b.String(); !strings.Contains(s, "dry run: nothing was sent") || !strings.Contains(s, "would send") || strings.Contains(s, "\n  step  after  sent") {
		t.Errorf("dry run text report:\n%s\nwant it to say nothing was sent and what would have been", s)
	}
	var j bytes.Buffer
	if err := rep.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	if s := j.String(); !strings.Contains(s, `"dryRun": true`) || !strings.Contains(s, `"wouldSend": 1`) {
		t.Errorf("dry run JSON report:\n%s\nwant dryRun and wouldSend", s)
	}
}

// TestCheckEvery: the baskets taken in are looked at again every
// CheckEvery: a recovery shows in the report at the first look after it,
// not before.
func TestCheckEvery(t *testing.T) {
	for _, tc := range []struct {
		every time.Duration
		want  int64 // recovered at +1h30m
	}{{10 * time.Minute, 1}, {2 * time.Hour, 0}} {
		f := newFixture(t, &Options{Steps: []time.Duration{time.Hour}, CheckEvery: tc.every}, nil)
		f.tick() // the first look, at t0
		f.basket("b-1", "ann@example.com", nil)
		f.run(70*time.Minute, 10*time.Minute)
		ms := f.snd.messages()
		if len(ms) != 1 {
			t.Fatalf("%d messages; want 1", len(ms))
		}
		id, tok := recoveryParams(t, ms[0])
		if _, err := f.eng.Recover(t.Context(), id, tok); err != nil {
			t.Fatal(err)
		}
		f.complete("b-1")
		f.run(20*time.Minute, 10*time.Minute) // +1h30m
		if got := f.r.Report().Total.Recovered; got != tc.want {
			t.Errorf("CheckEvery %v: recovered at +1h30m = %d; want %d", tc.every, got, tc.want)
		}
		f.run(30*time.Minute, 10*time.Minute) // +2h: a look either way
		if got := f.r.Report().Total.Recovered; got != 1 {
			t.Errorf("CheckEvery %v: recovered at +2h = %d; want 1", tc.every, got)
		}
	}
}

// TestProgress: Runner.Progress counts every turn since Open, the one
// under way included, and answers while the sender works.
func TestProgress(t *testing.T) {
	f := newFixture(t, &Options{Steps: []time.Duration{time.Hour}}, nil)
	var during []TickStats
	f.snd.err = func(*Message) error {
		during = append(during, f.r.Progress()) // the runner is free while the sender works
		return nil
	}
	f.tick()
	f.basket("b-1", "ann@example.com", nil)
	f.basket("b-2", "bob@example.com", nil)
	f.tick()
	f.complete("b-2")
	f.run(2*time.Hour, 10*time.Minute)
	if len(during) != 1 || during[0].TookIn != 2 || during[0].Sent != 0 {
		t.Errorf("Progress during the send = %+v; want 2 taken in, none sent yet", during)
	}
	if p := f.r.Progress(); p.TookIn != 2 || p.Sent != 1 || p.Skipped != 1 {
		t.Errorf("Progress = %+v; want 2 taken in, 1 sent, 1 skipped", p)
	}
}
