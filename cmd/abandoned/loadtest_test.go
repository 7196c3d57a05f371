package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
	"github.com/basketlab/abandoned/loadtest"
)

// quick are the flags of a short, small run.
var quick = []string{"-duration", "1s", "-warmup", "200ms", "-population", "2000", "-days", "2",
	"-ingest-events", "2000", "-batch", "100", "-rate", "200"}

func loadtestArgs(extra ...string) []string {
	return append(append([]string{"loadtest"}, quick...), extra...)
}

// noSignalReset keeps the tests' signal handling as it is.
func noSignalReset(t *testing.T) *int {
	t.Helper()
	calls := 0
	old := resetSignals
	resetSignals = func() { calls++ }
	t.Cleanup(func() { resetSignals = old })
	return &calls
}

func TestLoadtestFlags(t *testing.T) {
	noSignalReset(t)
	for _, args := range [][]string{
		{"-duration", "0"},
		{"-duration", "-1s"},
		{"-duration", "25h"},
		{"-duration", "10s", "-warmup", "10s"},
		{"-rate", "fast"},
		{"-rate", "sine:1:2:1s"},
		{"-mix", "search=1"},
		{"-threshold", "p99=2ms"},
		{"-format", "xml"},
		{"-target", "grpc"},
		{"-target", "engine", "-url", "http://127.0.0.1:1"},
		{"-search", "-1ms"},
		{"-search-then", "0.5"},
		{"-search", "2ms", "-search-then", "2"},
		{"-search", "2ms", "-closed"},
		{"-search", "2ms", "-search-kind", "nope"},
		{"-search", "2ms", "-search-steps", "0"},
		{"-workers", "-1"},
		{"-limit", "0"},
		{"-walk-limit", "1001"},
		{"-walk-span", "0"},
		{"-population", "-1"},
		{"-batch", "0"},
		{"-timeout", "0"},
		{"-max-error-rate", "x"},
		{"-max-error-rate", "2"},
		{"-max-error-rate", "101%"},
		{"-max-error-rate", "-1%"},
		{"-no-such-flag"},
		{"extra-argument"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), append([]string{"loadtest"}, args...), &stdout, &stderr)
			if !errors.Is(err, errUsage) {
				t.Errorf("loadtest %v = %v; want a usage error", args, err)
			}
			if stdout.Len() > 0 {
				t.Errorf("loadtest %v wrote %q on stdout", args, stdout.String())
			}
		})
	}
	var stderr bytes.Buffer
	if err := run(t.Context(), []string{"loadtest", "-h"}, &stderr, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("loadtest -h = %v; want flag.ErrHelp", err)
	}
	for _, want := range []string{"Examples:", "Exit codes:", "-threshold", "diurnal", "-max-error-rate", "100% turns the check off"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}

// report is the part of the JSON report the tests read.
type report struct {
	Population loadtest.Population
	Search     *struct {
		Best  float64
		Steps []struct {
			Rate   float64
			Pass   bool
			Reason string
		}
	}
	Result *struct {
		Target, Model string
		Interrupted   bool
		Kinds         []struct {
			Kind   string
			Ops    int64
			Errors int64
		}
		All struct {
			Ops, Errors int64
			LatencyMs   struct{ P50, P99, Max float64 }
		}
	}
	Thresholds []struct {
		Threshold string
		Pass      bool
	}
}

func runReport(t *testing.T, ctx context.Context, args ...string) (report, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(ctx, args, &stdout, &stderr)
	var rep report
	if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil {
		t.Fatalf("loadtest %v: stdout is not a JSON report (%v): %q; stderr %q", args, jerr, stdout.String(), stderr.String())
	}
	return rep, err
}

// TestLoadtestTargets runs the command briefly against the engine in
// process and a server it starts itself.
func TestLoadtestTargets(t *testing.T) {
	noSignalReset(t)
	for _, target := range []string{"engine", "http"} {
		t.Run(target, func(t *testing.T) {
			rep, err := runReport(t, t.Context(), loadtestArgs("-target", target, "-format", "json", "-threshold", "errors<1",
				"-mix", "ingest=1,query=4,walk=1,feed=2")...)
			if err != nil {
				t.Fatalf("loadtest: %v", err)
			}
			r := rep.Result
			if r == nil || r.Target != target || r.Model != "open" || r.Interrupted || r.All.Ops == 0 || r.All.Errors != 0 {
				t.Fatalf("result %+v; want a clean open-model run against %s", r, target)
			}
			if len(r.Kinds) != 4 {
				t.Errorf("kinds %+v; want four", r.Kinds)
			}
			if l := r.All.LatencyMs; !(0 < l.P50 && l.P50 <= l.P99 && l.P99 <= l.Max) {
				t.Errorf("latency %+v; want 0 < p50 <= p99 <= max", l)
			}
			if rep.Population.Baskets < 1000 || rep.Population.Abandoned == 0 {
				t.Errorf("population %+v; want about 2000 baskets", rep.Population)
			}
			if len(rep.Thresholds) != 2 || !rep.Thresholds[0].Pass || !rep.Thresholds[1].Pass {
				t.Errorf("thresholds %+v; want errors<1 and the default error-rate<=0.01 passed", rep.Thresholds)
			}
		})
	}
}

// exitCode is the exit code of the process whose command returned err.
func exitCode(err error) int {
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	if err != nil {
		return loadtest.ExitError
	}
	return loadtest.ExitOK
}

func TestLoadtestExitCodes(t *testing.T) {
	resets := noSignalReset(t)
	tests := []struct {
		name    string
		args    []string
		timeout time.Duration
		want    int
	}{
		// The run starts at most 200 operations (quick's rate for 1 s): a
		// run-wide threshold above that holds however loaded the machine
		// (under -race in CI a few were left unstarted, failing unstarted<1).
		{"threshold met", []string{"-threshold", "p99<1h", "-threshold", "unstarted<1000"}, 0, loadtest.ExitOK},
		{"threshold failed", []string{"-threshold", "p99<1ns"}, 0, loadtest.ExitThreshold},
		{"threshold on a kind that did not run", []string{"-mix", "query=1", "-threshold", "walk:p99<1h"}, 0, loadtest.ExitThreshold},
		{"no rate sustained", []string{"-search", "1ns", "-search-steps", "1", "-duration", "300ms", "-warmup", "0s"}, 0, loadtest.ExitNoRate},
		{"interrupted", []string{"-duration", "1h", "-population", "300"}, 3 * time.Second, loadtest.ExitInterrupted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			args := loadtestArgs(append([]string{"-target", "engine", "-format", "json"}, tt.args...)...)
			_, err := runReport(t, ctx, args...)
			if got := exitCode(err); got != tt.want {
				t.Errorf("loadtest %v: exit code %d (%v); want %d", tt.args, got, err, tt.want)
			}
		})
	}
	if *resets != 1 {
		t.Errorf("signals reset %d times; want once, for the interrupted run", *resets)
	}
}

func TestLoadtestSearch(t *testing.T) {
	noSignalReset(t)
	rep, err := runReport(t, t.Context(), loadtestArgs("-target", "engine", "-format", "json", "-duration", "400ms",
		"-warmup", "100ms", "-search", "1h", "-search-start", "50", "-search-steps", "2", "-search-then", "0.5")...)
	if err != nil {
		t.Fatal(err)
	}
	// Whether this machine sustains a rate is not the test's business (it
	// may be loaded): the search must be consistent with its own steps.
	if rep.Search == nil || len(rep.Search.Steps) != 2 || rep.Search.Steps[0].Rate != 50 {
		t.Fatalf("search %+v; want two steps starting at 50/s", rep.Search)
	}
	first, second := rep.Search.Steps[0], rep.Search.Steps[1]
	want := 0.0
	switch {
	case first.Pass && second.Rate != 100, !first.Pass && second.Rate != 25:
		t.Fatalf("search steps %+v; want 100/s after a pass at 50/s, 25/s after a failure", rep.Search.Steps)
	case second.Pass:
		want = second.Rate
	case first.Pass:
		want = first.Rate
	}
	if rep.Search.Best != want {
		t.Fatalf("search best %v after steps %+v; want %v", rep.Search.Best, rep.Search.Steps, want)
	}
	for _, st := range rep.Search.Steps {
		if !st.Pass && st.Reason == "" {
			t.Errorf("failed step %+v gives no reason", st)
		}
	}
	if want > 0 && (rep.Result == nil || rep.Result.All.Ops == 0) {
		t.Errorf("result %+v; want the run at half of %v/s", rep.Result, want)
	}
}

// TestLoadtestExternalURL loads a server started apart, preloading it over
// HTTP, and writes the HTML report.
func TestLoadtestExternalURL(t *testing.T) {
	noSignalReset(t)
	eng, err := basket.New(&basket.Options{TTL: basket.NoExpiry})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	const token = "6c6f61647465737420746f6b656e3031"
	srv, err := httpapi.New(eng, &httpapi.Options{APITokens: []string{token}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		<-done
	}()
	var stdout, stderr bytes.Buffer
	err = run(t.Context(), loadtestArgs("-url", "http://"+ln.Addr().String(), "-token", token, "-format", "html"), &stdout, &stderr)
	if err != nil {
		t.Fatalf("loadtest -url: %v; stderr %q", err, stderr.String())
	}
	if s := stdout.String(); !strings.Contains(s, "<svg") || !strings.Contains(s, "target http") {
		t.Errorf("HTML report lacks the plot or the header: %q", s)
	}
	if strings.Contains(stdout.String()+stderr.String(), token) {
		t.Error("the token was printed")
	}
	if st := mustStats(t, eng); st.Abandoned == 0 {
		t.Errorf("server stats %+v after a preload over HTTP; want abandoned baskets", st)
	}
	if err := eng.Check(); err != nil {
		t.Error(err)
	}
}

func TestLoadtestMaxErrorRateFlag(t *testing.T) {
	noSignalReset(t)
	withEnv(t, map[string]string{})
	for _, tt := range []struct {
		args []string
		want float64 // -1: the check is off
	}{
		{nil, 0.01},
		{[]string{"-max-error-rate", "1%"}, 0.01},
		{[]string{"-max-error-rate", "0.5%"}, 0.005},
		{[]string{"-max-error-rate", "0.01"}, 0.01},
		{[]string{"-max-error-rate", "0"}, 0},
		{[]string{"-max-error-rate", "100%"}, -1},
		{[]string{"-max-error-rate", "1"}, -1},
	} {
		var cfg loadtestConfig
		fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
		cfg.flags(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		if err := cfg.check(); err != nil {
			t.Errorf("%v: %v", tt.args, err)
			continue
		}
		got := -1.0
		if cfg.maxErrors != nil {
			got = cfg.maxErrors.Value
			if s := cfg.maxErrors.String(); !strings.HasPrefix(s, "error-rate<=") {
				t.Errorf("%v: the check is %s; want error-rate<=…", tt.args, s)
			}
		}
		if got != tt.want {
			t.Errorf("%v: maximum error rate %v; want %v", tt.args, got, tt.want)
		}
	}
	for _, v := range []string{"", "x", "2", "101%", "-1%", "NaN", "1%%", "%"} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), []string{"loadtest", "-max-error-rate", v}, &stdout, &stderr)
		if !errors.Is(err, errUsage) || !strings.HasPrefix(stderr.String(), "abandoned loadtest: -max-error-rate ") {
			t.Errorf("-max-error-rate %q = %v, stderr %q; want a usage error naming the flag", v, err, stderr.String())
		}
	}
}

func TestLoadtestTooManyErrors(t *testing.T) {
	r := &loadtest.Result{All: loadtest.KindResult{Ops: 10000, Errors: 7},
		Errors: map[string]int64{"timeout": 1, "HTTP 503": 3, "HTTP 500": 3}}
	want := "7 of 10000 operations failed (0.07%, above -max-error-rate 0): HTTP 500 ×3, HTTP 503 ×3, timeout ×1"
	if got := tooManyErrors(r, "0"); got != want {
		t.Errorf("tooManyErrors = %q; want %q", got, want)
	}
	for v, want := range map[float64]string{1: "100.0%", 0.025: "2.5%", 0.001: "0.1%", 0.00012: "0.012%", 0: "0.0%"} {
		if got := percent(v); got != want {
			t.Errorf("percent(%v) = %q; want %q", v, got, want)
		}
	}
}

// tooManyErrorsLine is the first line on stderr of a run whose operations
// all failed with HTTP code.
func tooManyErrorsLine(code int) *regexp.Regexp {
	return regexp.MustCompile(fmt.Sprintf(`^abandoned loadtest: (\d+) of (\d+) operations failed \(100\.0%%, above -max-error-rate 1%%\): HTTP %d ×(\d+)\n`, code))
}

// TestLoadtestMaxErrorRate runs the command against servers that fail
// every operation, and one that fails none: the first runs exit 3 (unless
// -max-error-rate 100% turns the check off), the last 0.
func TestLoadtestMaxErrorRate(t *testing.T) {
	noSignalReset(t)
	withEnv(t, map[string]string{}) // no ABANDONED_API_TOKEN
	const token = "6c6f61647465737420746f6b656e3031"
	keeps := startServe(t, "-api-token", token, "-ttl", "0")
	// The simulated times are long past: with a TTL of an hour every
	// basket an ingest creates has expired, and the server answers 409.
	expires := startServe(t, "-api-token", token, "-ttl", "1h")
	args := func(url string, extra ...string) []string {
		return append([]string{"loadtest", "-url", url, "-format", "json", "-duration", "1s", "-warmup", "0s",
			"-population", "0", "-rate", "20", "-ingest-events", "2000", "-batch", "100"}, extra...)
	}
	tests := []struct {
		name  string
		args  []string
		want  int
		line  *regexp.Regexp // first line on stderr; nil: stderr empty
		check bool           // error-rate<=0.01 is in the report
	}{
		{"expired ingests", args(expires.url, "-token", token, "-mix", "ingest=1"), loadtest.ExitThreshold, tooManyErrorsLine(409), true},
		{"check off", args(expires.url, "-token", token, "-mix", "ingest=1", "-max-error-rate", "100%"), loadtest.ExitOK, nil, false},
		{"healthy", args(keeps.url, "-token", token), loadtest.ExitOK, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), tt.args, &stdout, &stderr)
			if got := exitCode(err); got != tt.want {
				t.Fatalf("exit code %d (%v); want %d; stderr %q", got, err, tt.want, stderr.String())
			}
			var rep report
			if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || rep.Result == nil {
				t.Fatalf("stdout is not a JSON report (%v): %q", err, stdout.String())
			}
			all := rep.Result.All
			if tt.line == nil {
				if stderr.Len() > 0 {
					t.Errorf("stderr %q; want nothing", stderr.String())
				}
			} else if m := tt.line.FindStringSubmatch(stderr.String()); m == nil {
				t.Errorf("stderr %q; want a first line matching %s", stderr.String(), tt.line)
			} else if want := strconv.FormatInt(all.Ops, 10); m[1] != want || m[2] != want || m[3] != want {
				t.Errorf("stderr %q; want %s of %s operations failed, all with the same error", stderr.String(), want, want)
			}
			if all.Ops == 0 || (tt.want == loadtest.ExitOK && tt.check && all.Errors != 0) {
				t.Errorf("result %+v", all)
			}
			switch th := rep.Thresholds; {
			case !tt.check && len(th) != 0:
				t.Errorf("thresholds %+v; want none", th)
			case tt.check && (len(th) != 1 || th[0].Threshold != "error-rate<=0.01" || th[0].Pass != (tt.want == loadtest.ExitOK)):
				t.Errorf("thresholds %+v; want error-rate<=0.01, passed only if the run exits 0", th)
			}
		})
	}
}
