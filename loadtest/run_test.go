package loadtest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/simulator"
)

// checkOrdered fails unless a summary's percentiles are in order.
func checkOrdered(t *testing.T, what string, s Summary) {
	t.Helper()
	seq := []time.Duration{s.Min, s.P50, s.P90, s.P99, s.P999, s.P9999, s.Max}
	for i := 1; i < len(seq); i++ {
		if seq[i] < seq[i-1] {
			t.Errorf("%s: percentiles out of order: %v", what, seq)
			return
		}
	}
	for i := 1; i < len(s.Curve); i++ {
		if s.Curve[i] < s.Curve[i-1] {
			t.Errorf("%s: curve out of order: %v", what, s.Curve)
			return
		}
	}
}

// checkResult checks what holds of every clean run.
func checkResult(t *testing.T, r *Result) {
	t.Helper()
	if r.All.Errors != 0 || len(r.Errors) != 0 {
		t.Errorf("errors: %d, %v; want none", r.All.Errors, r.Errors)
	}
	if r.Interrupted {
		t.Error("Interrupted; want a run to its end")
	}
	if want := r.Duration - r.Warmup; r.Measured != want {
		t.Errorf("Measured = %v; want %v", r.Measured, want)
	}
	var ops int64
	for _, k := range append(r.Kinds, r.All) {
		checkOrdered(t, k.Kind+" latency", k.Latency)
		checkOrdered(t, k.Kind+" service", k.Service)
		if k.Latency.Count != k.Ops || k.Service.Count != k.Ops {
			t.Errorf("%s: %d ops but %d latencies, %d service times", k.Kind, k.Ops, k.Latency.Count, k.Service.Count)
		}
		// Every operation's latency from its intended start is at least its
		// service time, so every percentile is too.
		for i := range k.Latency.Curve {
			if k.Latency.Curve[i] < k.Service.Curve[i] {
				t.Errorf("%s: latency at p%v %v < service time %v", k.Kind, CurvePercentiles[i], k.Latency.Curve[i], k.Service.Curve[i])
			}
		}
		if k.Kind != "all" {
			ops += k.Ops
		}
		checkSeries(t, r, &k)
	}
	if ops != r.All.Ops {
		t.Errorf("kinds sum to %d ops; all has %d", ops, r.All.Ops)
	}
}

// newTestWorkload returns a small workload: a few thousand baskets, a few
// thousand events for ingest in batches of 100.
func newTestWorkload(t *testing.T, ndjson bool) *Workload {
	t.Helper()
	w, err := NewWorkload(t.Context(), &WorkloadOptions{
		Seed: 7, Population: 3000, Days: 3, IngestEvents: 2000, BatchSize: 100, NDJSON: ndjson,
		WalkSpan: 6 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// targets returns the two targets, each over a fresh preloaded engine.
func targets(t *testing.T) map[string]func(t *testing.T) (Target, *basket.Engine, *Workload) {
	return map[string]func(t *testing.T) (Target, *basket.Engine, *Workload){
		"engine": func(t *testing.T) (Target, *basket.Engine, *Workload) {
			eng, err := basket.New(&basket.Options{TTL: basket.NoExpiry})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { eng.Close() })
			w := newTestWorkload(t, false)
			if _, err := w.Preload(t.Context(), simulator.EngineSink{Engine: eng}); err != nil {
				t.Fatal(err)
			}
			return EngineTarget{Engine: eng}, eng, w
		},
		"http": func(t *testing.T) (Target, *basket.Engine, *Workload) {
			srv, err := StartServer(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := srv.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			ht, err := NewHTTPTarget(srv.URL, &HTTPOptions{Token: srv.Token})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ht.Close() })
			w := newTestWorkload(t, true)
			if _, err := w.Preload(t.Context(), simulator.EngineSink{Engine: srv.Engine}); err != nil {
				t.Fatal(err)
			}
			return ht, srv.Engine, w
		},
	}
}

// TestRunBothTargets runs a short open-model mix against the engine in
// process and a real server on a loopback port.
func TestRunBothTargets(t *testing.T) {
	for name, setup := range targets(t) {
		t.Run(name, func(t *testing.T) {
			tgt, eng, w := setup(t)
			before := mustStats(t, eng)
			r, err := Run(t.Context(), tgt, w, Options{
				Duration: 1500 * time.Millisecond, Warmup: 300 * time.Millisecond,
				Pacer: Constant{300}, Workers: 8, Mix: Mix{KindIngest: 1, KindQuery: 4, KindWalk: 1, KindFeed: 2},
			})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, r)
			if r.Target != name || r.Model != "open" || r.Rate != "300" {
				t.Errorf("Target, Model, Rate = %q, %q, %q; want %q, open, 300", r.Target, r.Model, r.Rate, name)
			}
			if len(r.Kinds) != int(numKinds) {
				t.Fatalf("kinds %v; want all four", r.Kinds)
			}
			for _, k := range r.Kinds {
				if k.Ops == 0 {
					t.Errorf("%s: no operations", k.Kind)
				}
			}
			ing, _ := r.Kind("ingest")
			if ing.Events < ing.Ops || ing.Events > 100*ing.Ops {
				t.Errorf("ingest: %d events in %d batches of at most 100", ing.Events, ing.Ops)
			}
			q, _ := r.Kind("query")
			if q.Pages != q.Ops || q.Items == 0 || q.Items > 50*q.Ops {
				t.Errorf("query: %d pages, %d baskets in %d operations of 50", q.Pages, q.Items, q.Ops)
			}
			if after := mustStats(t, eng); after.LastPosition <= before.LastPosition {
				t.Errorf("feed position %d after the run, %d before: ingest changed nothing", after.LastPosition, before.LastPosition)
			}
			if err := eng.Check(); err != nil {
				t.Errorf("engine invariants after the run: %v", err)
			}
		})
	}
}

// TestWalkCountsEveryBasket walks the whole population on both targets: each
// walk must read every abandoned basket once.
func TestWalkCountsEveryBasket(t *testing.T) {
	for name, setup := range targets(t) {
		t.Run(name, func(t *testing.T) {
			tgt, eng, w := setup(t)
			w.opts.WalkSpan = -1
			w.opts.WalkLimit = 97
			r, err := Run(t.Context(), tgt, w, Options{Duration: 300 * time.Millisecond, Workers: 2, Mix: Mix{KindWalk: 1}})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, r)
			abandoned := int64(mustStats(t, eng).Abandoned)
			k, ok := r.Kind("walk")
			if !ok || k.Ops == 0 || abandoned == 0 {
				t.Fatalf("walks %+v over %d abandoned baskets; want some", k, abandoned)
			}
			if k.Items != k.Ops*abandoned {
				t.Errorf("%d walks read %d baskets; want %d each", k.Ops, k.Items, abandoned)
			}
			if minPages := (abandoned + 96) / 97; k.Pages < k.Ops*minPages {
				t.Errorf("%d walks read %d pages; want at least %d each", k.Ops, k.Pages, minPages)
			}
			if r.Model != "closed" || r.Late != 0 || r.Unstarted != 0 {
				t.Errorf("closed model: Model %q, Late %d, Unstarted %d; want closed, 0, 0", r.Model, r.Late, r.Unstarted)
			}
		})
	}
}

// stallTarget answers at once, but for one call that stalls.
type stallTarget struct {
	calls   atomic.Int64
	stallAt int64
	stall   time.Duration
	fail    bool
}

func (s *stallTarget) Name() string { return "stall" }

func (s *stallTarget) wait(ctx context.Context) error {
	if s.calls.Add(1) != s.stallAt {
		if s.fail {
			return errors.New("refused")
		}
		return nil
	}
	select {
	case <-time.After(s.stall):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *stallTarget) Ingest(ctx context.Context, b *Batch) error { return s.wait(ctx) }

func (s *stallTarget) Query(ctx context.Context, q basket.Query) (int, string, error) {
	return 1, "", s.wait(ctx)
}

func (s *stallTarget) Feed(ctx context.Context, after uint64, limit int) (int, uint64, error) {
	return 1, after + 1, s.wait(ctx)
}

func noIngest(t *testing.T) *Workload {
	t.Helper()
	w, err := NewWorkload(t.Context(), &WorkloadOptions{IngestEvents: -1})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestCoordinatedOmission stalls a target once for 300 ms in a run of 500
// operations a second through one worker: the 150 operations due during
// the stall wait for it, so latency from the intended start shows the stall
// at p99, while the service time, blind to the waiting, shows it only at
// the max (one operation in 750).
func TestCoordinatedOmission(t *testing.T) {
	const stall = 300 * time.Millisecond
	tgt := &stallTarget{stallAt: 100, stall: stall}
	r, err := Run(t.Context(), tgt, noIngest(t), Options{
		Duration: 1500 * time.Millisecond, Pacer: Constant{500}, Workers: 1, Mix: Mix{KindQuery: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, r)
	lat, svc := r.All.Latency, r.All.Service
	if lat.P99 < stall/2 {
		t.Errorf("latency p99 = %v; want the stall of %v to show (at least %v)", lat.P99, stall, stall/2)
	}
	if lat.Max < stall || svc.Max < stall {
		t.Errorf("latency max %v, service max %v; want both at least the stall, %v", lat.Max, svc.Max, stall)
	}
	if svc.P99 >= stall/2 {
		t.Errorf("service time p99 = %v; want the naive measure to hide the stall (under %v)", svc.P99, stall/2)
	}
	if r.Late < 50 {
		t.Errorf("Late = %d; want the operations due during the stall (about 150) counted", r.Late)
	}
}

// TestUnstarted loads a target that never answers in time through one
// worker: operations due after the first cannot start, and are counted.
func TestUnstarted(t *testing.T) {
	tgt := &stallTarget{stallAt: 1, stall: time.Hour}
	r, err := Run(t.Context(), tgt, noIngest(t), Options{
		Duration: 500 * time.Millisecond, Pacer: Constant{100}, Workers: 1, Mix: Mix{KindFeed: 1},
		Timeout: 700 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Unstarted != 49 {
		t.Errorf("Unstarted = %d; want 49 (50 due, 1 started)", r.Unstarted)
	}
	if r.All.Ops != 1 || r.All.Errors != 1 || r.Errors["timeout"] != 1 {
		t.Errorf("ops %d, errors %d %v; want the one operation timed out", r.All.Ops, r.All.Errors, r.Errors)
	}
}

// TestErrorsCounted counts failed operations by kind.
func TestErrorsCounted(t *testing.T) {
	tgt := &stallTarget{fail: true}
	r, err := Run(t.Context(), tgt, noIngest(t), Options{Duration: 200 * time.Millisecond, Pacer: Constant{200}, Mix: Mix{KindQuery: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if r.All.Ops != 40 || r.All.Errors != 40 || r.Errors["other"] != 40 {
		t.Errorf("ops %d, errors %d %v; want 40 failed, as other", r.All.Ops, r.All.Errors, r.Errors)
	}
}

// TestInterrupt stops a long run by its context: it returns soon, with the
// result so far.
func TestInterrupt(t *testing.T) {
	for _, closed := range []bool{false, true} {
		t.Run(map[bool]string{false: "open", true: "closed"}[closed], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			o := Options{Duration: time.Hour, Pacer: Constant{1000}, Mix: Mix{KindQuery: 1, KindFeed: 1}}
			if closed {
				o.Pacer = nil
			}
			start := time.Now()
			r, err := Run(ctx, &stallTarget{}, noIngest(t), o)
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > time.Minute {
				t.Errorf("Run took %v after an interruption at 300ms", took)
			}
			if !r.Interrupted || r.Measured >= time.Hour || r.All.Ops == 0 {
				t.Errorf("Interrupted %v, Measured %v, ops %d; want an interrupted run with its result so far", r.Interrupted, r.Measured, r.All.Ops)
			}
		})
	}
}

func TestRunOptionsChecked(t *testing.T) {
	w := noIngest(t)
	for _, o := range []Options{
		{},
		{Duration: -time.Second},
		{Duration: time.Second, Warmup: time.Second},
		{Duration: time.Second, Warmup: -1},
		{Duration: time.Second, Mix: Mix{KindIngest: 1}}, // no events
	} {
		if _, err := Run(t.Context(), &stallTarget{}, w, o); err == nil {
			t.Errorf("Run(%+v) = nil error; want one", o)
		}
	}
}

func TestSearchRealTarget(t *testing.T) {
	res, err := Search(t.Context(), &stallTarget{}, noIngest(t), SearchOptions{
		Run: Options{Duration: 200 * time.Millisecond, Mix: Mix{KindQuery: 1}},
		P99: time.Second, Start: 100, Steps: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 2 || !res.Steps[0].Pass || !res.Steps[1].Pass || res.Steps[1].Rate != 200 || res.Best != 200 {
		t.Errorf("Search = %+v; want two passing steps, at 100 and 200/s", res)
	}
}
