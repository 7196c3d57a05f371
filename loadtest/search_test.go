package loadtest

import (
	"errors"
	"testing"
	"time"
)

// fakeRun returns results whose p99 is 1 ms up to limit operations a
// second and 1 s above.
func fakeRun(limit float64, calls *[]float64) func(float64) (*Result, error) {
	return func(rate float64) (*Result, error) {
		*calls = append(*calls, rate)
		p99 := time.Millisecond
		if rate > limit {
			p99 = time.Second
		}
		s := Summary{Count: 100, P99: p99}
		return &Result{All: KindResult{Kind: "all", Ops: 100, Latency: s},
			Kinds: []KindResult{{Kind: "query", Ops: 100, Latency: s}}}, nil
	}
}

func TestSearchAlgorithm(t *testing.T) {
	tests := []struct {
		name      string
		limit     float64
		start     float64
		steps     int
		wantBest  float64 // within 5%, below limit
		wantSteps int
	}{
		{"up then bisect", 3000, 1000, 20, 3000, 0},
		{"down then bisect", 300, 1000, 20, 300, 0},
		{"bounded steps", 1e6, 1000, 4, 8000, 4},
		{"never sustained", 0, 1000, 5, 0, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []float64
			res, err := search(SearchOptions{P99: 10 * time.Millisecond, Start: tt.start, Steps: tt.steps, Kind: "query"}, fakeRun(tt.limit, &calls))
			if err != nil {
				t.Fatal(err)
			}
			if len(calls) > tt.steps || len(res.Steps) != len(calls) {
				t.Errorf("%d runs, %d steps recorded; want at most %d", len(calls), len(res.Steps), tt.steps)
			}
			if tt.wantSteps > 0 && len(calls) != tt.wantSteps {
				t.Errorf("%d runs; want %d", len(calls), tt.wantSteps)
			}
			if res.Best > tt.limit || res.Best < tt.wantBest*0.95 {
				t.Errorf("Best = %v; want within 5%% under %v", res.Best, tt.wantBest)
			}
			for _, st := range res.Steps {
				if st.Pass != (st.Rate <= tt.limit) {
					t.Errorf("step at %v: pass %v", st.Rate, st.Pass)
				}
			}
		})
	}
}

func TestSearchFailsOnErrorsAndUnstarted(t *testing.T) {
	good := Summary{Count: 10, P99: time.Millisecond}
	tests := []struct {
		r    Result
		pass bool
	}{
		{Result{All: KindResult{Ops: 10, Latency: good}}, true},
		{Result{All: KindResult{Ops: 10, Errors: 1, Latency: good}}, false},
		{Result{Unstarted: 1, All: KindResult{Ops: 10, Latency: good}}, false},
		{Result{All: KindResult{Ops: 0}}, false},
		{Result{All: KindResult{Ops: 10, Latency: Summary{Count: 10, P99: time.Second}}}, false},
	}
	for i, tt := range tests {
		if pass, reason := sustained(&tt.r, "all", 10*time.Millisecond); pass != tt.pass || (!pass && reason == "") {
			t.Errorf("case %d: sustained = %v, %q; want %v", i, pass, reason, tt.pass)
		}
	}
	if _, err := search(SearchOptions{}, nil); err == nil {
		t.Error("search without a p99 target: no error")
	}
	if _, err := search(SearchOptions{P99: 1, Kind: "nope"}, nil); err == nil {
		t.Error("search of an unknown kind: no error")
	}
	boom := errors.New("boom")
	if _, err := search(SearchOptions{P99: 1}, func(float64) (*Result, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("search error = %v; want the run's", err)
	}

}
