package campaign

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// TestSequence sends the default three steps at +1h, +25h (the window
// holds step 2 back an hour) and +72h.
func TestSequence(t *testing.T) {
	f := newFixture(t, nil, nil)
	f.tick() // activation
	f.basket("b-1", "Ann@Example.com", nil)
	f.run(80*time.Hour, 5*time.Minute)
	got := f.snd.messages()
	if want := []string{"b-1/1", "b-1/2", "b-1/3"}; !slices.Equal(summary(got), want) {
		t.Fatalf("messages = %v; want %v", summary(got), want)
	}
	for i, want := range []time.Duration{time.Hour, 25 * time.Hour, 72 * time.Hour} {
		if d := got[i].At.Sub(t0); d < want || d > want+5*time.Minute {
			t.Errorf("step %d sent at +%v; want +%v (within a tick)", i+1, d, want)
		}
		if got[i].To != "Ann@Example.com" {
			t.Errorf("step %d To = %q; want the customer's spelling", i+1, got[i].To)
		}
	}
	rep := f.r.Report()
	if rep.Total.Sent != 3 || rep.Deferred[ReasonDeduplicated] != 1 || rep.SkippedTotal() != 0 {
		t.Errorf("report sent %d, deferred %v, skipped %v; want 3 sent, 1 deferral by the window, no skip",
			rep.Total.Sent, rep.Deferred, rep.Skipped)
	}
}

// TestSkipReasons covers each reason code.
func TestSkipReasons(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		eopts   basket.Options
		setup   func(f *fixture) // after activation; the clock is at t0
		run     time.Duration
		want    []string // messages
		skipped map[Reason]int64
		defer_  map[Reason]int64
	}{
		{
			name: "completed", setup: func(f *fixture) {
				f.basket("b-1", "ann@example.com", nil)
				f.tick() // taken in
				f.clock.Add(30 * time.Minute)
				f.complete("b-1")
			},
			run: 2 * time.Hour, skipped: map[Reason]int64{ReasonCompleted: 1},
		},
		{
			name: "completed at the moment of sending", setup: func(f *fixture) {
				f.basket("b-1", "ann@example.com", nil)
				// The step is due at +1h; the order comes a minute before the
				// turn that would send it, after the turn before.
				f.snd.err = nil
			},
			run: 0, skipped: map[Reason]int64{ReasonCompleted: 1},
		},
		{
			name: "ordered since", setup: func(f *fixture) {
				f.basket("b-1", "ann@example.com", nil)
				f.clock.Add(10 * time.Minute)
				f.basket("b-2", "ANN@example.com", nil)
				f.complete("b-2") // never abandoned: never taken in
			},
			run: 2 * time.Hour, skipped: map[Reason]int64{ReasonOrderedSince: 1},
		},
		{
			name: "deduplicated: newest wins", opts: Options{Steps: []time.Duration{time.Hour}}, setup: func(f *fixture) {
				f.basket("b-1", "ann@example.com", nil)
				f.clock.Add(time.Minute)
				f.basket("b-2", "ann@example.com", nil) // another device
				f.basket("b-3", "bob@example.com", nil)
			},
			run: 3 * time.Hour, want: []string{"b-2/1", "b-3/1"}, skipped: map[Reason]int64{ReasonDeduplicated: 1},
		},
		{
			name: "suppressed", setup: func(f *fixture) {
				if err := f.r.Suppress(context.Background(), "Ann@Example.com", "unsubscribed"); err != nil {
					f.t.Fatal(err)
				}
				f.basket("b-1", "ann@example.com", nil)
				f.basket("b-2", "bob@example.com", nil)
			},
			run: 2 * time.Hour, want: []string{"b-2/1"}, skipped: map[Reason]int64{ReasonSuppressed: 1},
		},
		{
			name: "no consent", opts: Options{ConsentedOnly: true}, setup: func(f *fixture) {
				f.basket("b-1", "ann@example.com", nil)
				f.basket("b-2", "bob@example.com", func(ev *basket.Event) {
					ev.CustomFields = map[string]any{"marketingConsent": true}
				})
				f.basket("b-3", "cy@example.com", func(ev *basket.Event) {
					ev.Tracking = map[string]string{"marketingConsent": "yes"}
				})
				f.basket("b-4", "dee@example.com", func(ev *basket.Event) {
					ev.CustomFields = map[string]any{"marketingConsent": "no"}
				})
			},
			run: 2 * time.Hour, want: []string{"b-2/1", "b-3/1"}, skipped: map[Reason]int64{ReasonNoConsent: 2},
		},
		{
			name: "quiet hours", opts: Options{QuietHours: QuietHours{Start: 12*60 + 30, End: 15 * 60}}, setup: func(f *fixture) {
				f.basket("b-1", "ann@example.com", nil)
			},
			run: 4 * time.Hour, want: []string{"b-1/1"}, defer_: map[Reason]int64{ReasonQuietHours: 1},
		},
		{
			name: "expired: purged", eopts: basket.Options{TTL: 30 * time.Minute}, setup: func(f *fixture) {
				f.basket("b-1", "ann@example.com", nil)
			},
			run: 2 * time.Hour, skipped: map[Reason]int64{ReasonExpired: 1},
		},
		{
			name: "expired: erased", setup: func(f *fixture) {
				f.basket("b-1", "ann@example.com", nil)
				f.tick()
				f.apply(basket.Event{Type: basket.EventErased, Email: "ann@example.com", At: f.clock.Now()})
			},
			run: 2 * time.Hour, skipped: map[Reason]int64{ReasonExpired: 1},
		},
		{
			name: "overtaken: a first run with Since", opts: Options{Since: t0.Add(-48 * time.Hour)}, setup: func(f *fixture) {
				// Abandoned 30 hours before the first run: steps 1 (+1h) and
				// 2 (+24h) are both due; only step 2 goes.
				f.clock.Add(-30 * time.Hour)
				f.basket("b-1", "ann@example.com", nil)
				f.clock.Add(30 * time.Hour)
			},
			run: 2 * time.Hour, want: []string{"b-1/2"}, skipped: map[Reason]int64{ReasonOvertaken: 1},
		},
		{
			name: "expired: the last step too late", opts: Options{Since: t0.Add(-200 * time.Hour)}, setup: func(f *fixture) {
				f.clock.Add(-100 * time.Hour) // +72h and its 24h of grace are over
				f.basket("b-1", "ann@example.com", nil)
				f.clock.Add(100 * time.Hour)
			},
			run: time.Hour, skipped: map[Reason]int64{ReasonOvertaken: 2, ReasonExpired: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, &tc.opts, &tc.eopts)
			f.tick()
			tc.setup(f)
			if tc.run > 0 {
				f.run(tc.run, 5*time.Minute)
			} else {
				f.run(55*time.Minute, 5*time.Minute)
				f.complete("b-1")
				f.run(time.Hour, 5*time.Minute)
			}
			if got := summary(f.snd.messages()); !slices.Equal(got, tc.want) {
				t.Errorf("messages = %v; want %v", got, tc.want)
			}
			rep := f.r.Report()
			for _, r := range Reasons {
				if rep.Skipped[r] != tc.skipped[r] {
					t.Errorf("skipped[%s] = %d; want %d (all: %v)", r, rep.Skipped[r], tc.skipped[r], rep.Skipped)
				}
				if rep.Deferred[r] != tc.defer_[r] {
					t.Errorf("deferred[%s] = %d; want %d (all: %v)", r, rep.Deferred[r], tc.defer_[r], rep.Deferred)
				}
			}
		})
	}
}
