package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/loadtest"
	"github.com/basketlab/abandoned/simulator"
)

func init() {
	register(&command{
		name:    "loadtest",
		summary: "load the engine or the HTTP API with simulated traffic and report latency",
		run:     runLoadtest,
	})
}

const loadtestUsage = `Usage: abandoned loadtest [flags]

Loads the engine in process (-target engine) or the HTTP API (-target http,
the default: a server the load tester starts on 127.0.0.1 over an engine of
its own, or the server at -url) with a mix of operations over a population
of simulated baskets: ingest of event batches (NDJSON over HTTP), page
queries after a random createdAfter, walks of a query's every page, and
polls of the abandonment feed. The two targets run the same harness, so
their difference is the cost of HTTP.

By default operations start on a schedule (-rate: the open model) and each
latency counts from the operation's intended start, so stalls are not
hidden; -closed runs -workers loops instead. Latency percentiles, max,
throughput and errors by kind go to stdout as text, JSON or an HTML page
with a plot. Every run lasts -duration and stops by itself; the first
Ctrl-C stops it early and still prints the report, a second one exits.
Progress shows on stderr when it is a terminal.

Rates (-rate): 1000 (per second), 500/100ms, ramp:100:5000:30s (linear,
then steady), sine:2000:1000:20s (mean, amplitude, period),
diurnal:2000:24s:retail (the hour-of-day shape of checkout traffic, a day
compressed into 24 s; or news).

Thresholds (-threshold, repeatable): [KIND:]METRIC OP VALUE, spaces
around the parts allowed ('p99 < 2ms'), KIND one of all, ingest, query,
walk, feed; METRIC one of p50, p90, p99, p99.9, p99.99, max, mean
(durations), throughput, events/s, error-rate (0-1 or a %), errors, late,
unstarted; OP <, <=, > or >=.

Errors (-max-error-rate, default 1%): operations that fail have measured
nothing, so a run in which more than this share of the measured operations
(after the warm-up) failed exits 3, saying first on stderr how many failed
and with which errors. The report shows the check among the thresholds as
error-rate<=MAX; a -threshold on error-rate adds to it, it does not replace
it. -max-error-rate 100% turns the check off.

-search P99 finds the highest constant rate at which the p99 of
-search-kind stays at most P99, with no error and nothing unstarted, in at
most -search-steps runs of -duration; -search-then F then runs at F times
that rate and reports it (thresholds apply to that run).

Load goes only to loopback addresses, unless -url names a server
explicitly. An external server must keep baskets forever (serve -ttl 0):
the simulated times are in the past.

Exit codes: 0 the run ended and met every threshold; 1 the run could not
be made; 2 bad flags; 3 a threshold failed, or more than -max-error-rate
of the operations failed; 4 interrupted (the report covers what ran); 5
search found no sustainable rate.

Examples:

  # 30 s at 2000 operations/s over HTTP, 1e6 baskets preloaded:
  abandoned loadtest -population 1000000 -duration 30s -rate 2000

  # The same against the engine in process, as JSON, failing over 1 ms:
  abandoned loadtest -target engine -format json -threshold 'query:p99<1ms'

  # Ingest throughput over HTTP, NDJSON batches of 1000, 2 loops:
  abandoned loadtest -mix ingest=1 -closed -workers 2 -duration 20s -ingest-events 2000000

  # The highest rate with p99 under 50 ms, then p99 at half of it:
  abandoned loadtest -search 50ms -search-then 0.5 -threshold 'p99<2ms' -format html > report.html

  # An external server, started with serve -ttl 0 (the token from
  # ABANDONED_API_TOKEN, as serve reads it):
  abandoned loadtest -url http://127.0.0.1:8080 -population 0

Flags:
`

// loadtestConfig is what the flags of loadtest say.
type loadtestConfig struct {
	target       string
	url          string
	host         string
	token        secretFlag
	duration     time.Duration
	warmup       time.Duration
	rate         string
	closed       bool
	workers      int
	mix          string
	population   int
	days         int
	seed         uint64
	batch        int
	ingestEvents int
	limit        int
	walkLimit    int
	walkSpan     time.Duration
	feedLimit    int
	timeout      time.Duration
	format       string
	thresholds   listFlag
	maxErrorRate string
	search       time.Duration
	searchKind   string
	searchStart  float64
	searchSteps  int
	searchThen   float64
	cpuProfile   string

	// Parsed from the above by check.
	pacer loadtest.Pacer
	mixV  loadtest.Mix
	ths   []loadtest.Threshold
	// maxErrors is the check of -max-error-rate; nil if it is off.
	maxErrors *loadtest.Threshold
}

func (c *loadtestConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.target, "target", "http", "what to load: `http|engine`, the HTTP API or the engine in process")
	fs.StringVar(&c.url, "url", "", "base `URL` of a running server to load, or several, comma-separated (the nodes of a cluster: operations go to each in turn); default: start one on 127.0.0.1")
	fs.StringVar(&c.host, "host", "", hostHelp)
	fs.Var(&c.token, "token", "bearer `TOKEN` for -url (a static API token); default $ABANDONED_API_TOKEN")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long (`DURATION`) operations are started, warm-up included (each search step too)")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "first part (`DURATION`) of the duration not measured")
	fs.StringVar(&c.rate, "rate", "1000", "arrival `RATE` of the open model: a number per second, or a shape (see above)")
	fs.BoolVar(&c.closed, "closed", false, "closed model: -workers loops, no pacing")
	fs.IntVar(&c.workers, "workers", 0, "`N` operations in flight at most (open model, default 32), or loops (closed model, default 4)")
	fs.StringVar(&c.mix, "mix", loadtest.DefaultMix.String(), "weights of the operations, `KIND=WEIGHT,…`, of ingest, query, walk, feed")
	fs.IntVar(&c.population, "population", 100_000, "`N` baskets to preload (about), simulated over -days")
	fs.IntVar(&c.days, "days", 14, "`N` simulated days the population spans")
	fs.Uint64Var(&c.seed, "seed", 1, "`SEED` of the simulated traffic and of the operations")
	fs.IntVar(&c.batch, "batch", 1000, "`N` events per ingest operation")
	fs.IntVar(&c.ingestEvents, "ingest-events", 200_000, "`N` events generated before the run for ingest (then recycled under new basket ids)")
	fs.IntVar(&c.limit, "limit", 50, "page size of queries, `N`")
	fs.IntVar(&c.walkLimit, "walk-limit", 100, "page size of walks, `N`")
	fs.DurationVar(&c.walkSpan, "walk-span", time.Hour, "span of creation times a walk covers (`DURATION`); negative: the whole population")
	fs.IntVar(&c.feedLimit, "feed-limit", 100, "page size of feed polls, `N`")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "time limit of one operation (`DURATION`)")
	fs.StringVar(&c.format, "format", "text", "report `FORMAT`: text, json or html")
	fs.Var(&c.thresholds, "threshold", "`CONDITION` on the result that sets the exit code, e.g. 'query:p99<2ms' or 'p99 < 2ms' (repeatable)")
	fs.StringVar(&c.maxErrorRate, "max-error-rate", "1%", "most operations that may fail, as a `SHARE` (1%, 0.5%, 0.01) of those measured, else exit 3; 100% turns the check off")
	fs.DurationVar(&c.search, "search", 0, "search mode: find the highest rate whose p99 stays at most this `LATENCY`")
	fs.StringVar(&c.searchKind, "search-kind", "all", "operation `KIND` whose p99 the search checks: all, ingest, query, walk or feed")
	fs.Float64Var(&c.searchStart, "search-start", 1000, "first `RATE` the search tries, per second")
	fs.IntVar(&c.searchSteps, "search-steps", 8, "at most `N` runs of the search")
	fs.Float64Var(&c.searchThen, "search-then", 0, "after the search, run at this `FRACTION` of the rate found (e.g. 0.5) and report that run")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the runs (not the preload) to `FILE`")
}

// maxDuration bounds -duration: a run always stops by itself.
const maxDuration = 24 * time.Hour

// check validates the flags, naming the one at fault, and parses the
// rate, the mix and the thresholds.
func (c *loadtestConfig) check() error {
	var err error
	switch c.target {
	case "http":
	case "engine":
		if c.url != "" {
			return errors.New("-url: only with -target http")
		}
	default:
		return fmt.Errorf("-target %q: want http or engine", c.target)
	}
	if c.duration <= 0 || c.duration > maxDuration {
		return fmt.Errorf("-duration %v: want a positive duration of at most %v", c.duration, maxDuration)
	}
	if c.warmup < 0 || c.warmup >= c.duration {
		return fmt.Errorf("-warmup %v: want at least 0 and less than -duration", c.warmup)
	}
	if !c.closed || c.search > 0 {
		if c.pacer, err = loadtest.ParseRate(c.rate); err != nil {
			return fmt.Errorf("-rate: %w", err)
		}
	}
	if c.closed && c.search > 0 {
		return errors.New("-search: needs the open model, not -closed")
	}
	if c.workers < 0 || c.workers > 10_000 {
		return fmt.Errorf("-workers %d: want 0 (the default) to 10000", c.workers)
	}
	if c.mixV, err = loadtest.ParseMix(c.mix); err != nil {
		return fmt.Errorf("-mix: %w", err)
	}
	if c.population < 0 || c.population > 100_000_000 {
		return fmt.Errorf("-population %d: want 0 to 1e8", c.population)
	}
	if c.days <= 0 || c.days > 3650 {
		return fmt.Errorf("-days %d: want 1 to 3650", c.days)
	}
	if c.batch <= 0 || c.batch > 100_000 {
		return fmt.Errorf("-batch %d: want 1 to 100000", c.batch)
	}
	if c.ingestEvents <= 0 || c.ingestEvents > 100_000_000 {
		return fmt.Errorf("-ingest-events %d: want 1 to 1e8", c.ingestEvents)
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"-limit", c.limit}, {"-walk-limit", c.walkLimit}, {"-feed-limit", c.feedLimit}} {
		if p.v < 1 || p.v > basket.MaxLimit {
			return fmt.Errorf("%s %d: want 1 to %d", p.name, p.v, basket.MaxLimit)
		}
	}
	if c.walkSpan == 0 {
		return errors.New("-walk-span: must not be 0 (negative walks the whole population)")
	}
	if c.timeout <= 0 {
		return fmt.Errorf("-timeout %v: want a positive duration", c.timeout)
	}
	switch c.format {
	case "text", "json", "html":
	default:
		return fmt.Errorf("-format %q: want text, json or html", c.format)
	}
	for _, s := range c.thresholds {
		t, err := loadtest.ParseThreshold(s)
		if err != nil {
			return fmt.Errorf("-threshold: %w", err)
		}
		c.ths = append(c.ths, t)
	}
	maxErr, err := loadtest.ParseErrorRate(c.maxErrorRate)
	if err != nil {
		return fmt.Errorf("-max-error-rate %v", err)
	}
	if maxErr < 1 {
		c.maxErrors = &loadtest.Threshold{Kind: "all", Metric: "error-rate", Op: "<=", Value: maxErr}
	}
	if c.search < 0 {
		return errors.New("-search: must not be negative")
	}
	if c.search > 0 {
		if c.searchKind != "all" {
			if _, err := loadtest.ParseKind(c.searchKind); err != nil {
				return fmt.Errorf("-search-kind: %w", err)
			}
		}
		if !(c.searchStart > 0 && c.searchStart <= loadtest.MaxRate) {
			return fmt.Errorf("-search-start %g: want a positive rate", c.searchStart)
		}
		if c.searchSteps < 1 || c.searchSteps > 50 {
			return fmt.Errorf("-search-steps %d: want 1 to 50", c.searchSteps)
		}
	}
	if c.searchThen < 0 || c.searchThen > 1 || (c.searchThen > 0 && c.search == 0) {
		return fmt.Errorf("-search-then %g: want a fraction from 0 to 1, with -search", c.searchThen)
	}
	return nil
}

// loadtestExit is the end of a run with a specific exit code; its message
// has been printed.
type loadtestExit struct {
	code int
	msg  string
}

func (e *loadtestExit) Error() string { return e.msg }
func (e *loadtestExit) ExitCode() int { return e.code }

// resetSignals restores the default action of SIGINT and SIGTERM once a run
// was interrupted, so that a second Ctrl-C exits at once. Tests replace it.
var resetSignals = func() { signal.Reset(os.Interrupt, syscall.SIGTERM) }

func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("loadtest", loadtestUsage, stderr)
	var cfg loadtestConfig
	cfg.flags(fs)
	if err := parseFlags("loadtest", fs, args, 0); err != nil {
		return err
	}
	tokenFromEnv(fs)
	if err := applyEnv(fs); err != nil {
		return usagef("loadtest", "%v", err)
	}
	if err := cfg.check(); err != nil {
		return usagef("loadtest", "%v", err)
	}
	if cfg.url != "" && cfg.token.v == "" {
		return missingToken("loadtest", "-url")
	}
	stop := context.AfterFunc(ctx, resetSignals)
	defer stop()
	return loadtestRun(ctx, &cfg, stdout, stderr)
}

// loadtestRun sets up the target, preloads, runs (or searches), and
// writes the report.
func loadtestRun(ctx context.Context, cfg *loadtestConfig, stdout, stderr io.Writer) error {
	tty := false
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty = true
	}
	say := func(format string, args ...any) {
		if tty {
			fmt.Fprintf(stderr, format, args...)
		}
	}
	machine := machineDescription()

	say("generating %d events for ingest…\n", cfg.ingestEvents)
	w, err := loadtest.NewWorkload(ctx, &loadtest.WorkloadOptions{
		Seed: cfg.seed, Population: cfg.population, Days: cfg.days, IngestEvents: cfg.ingestEvents,
		BatchSize: cfg.batch, Limit: cfg.limit, WalkLimit: cfg.walkLimit, WalkSpan: cfg.walkSpan,
		FeedLimit: cfg.feedLimit, NDJSON: cfg.target == "http",
	})
	if err != nil {
		return err
	}

	var target loadtest.Target
	var eng *basket.Engine // in process, when there is one
	var sink simulator.Sink
	switch {
	case cfg.target == "engine":
		eng, err = basket.New(&basket.Options{TTL: basket.NoExpiry})
		if err != nil {
			return err
		}
		defer eng.Close()
		target = loadtest.EngineTarget{Engine: eng}
	case cfg.url == "":
		srv, err := loadtest.StartServer(ctx)
		if err != nil {
			return err
		}
		defer srv.Close()
		eng = srv.Engine
		ht, err := loadtest.NewHTTPTarget(srv.URL, &loadtest.HTTPOptions{Token: srv.Token, Conns: max(cfg.workers, 64)})
		if err != nil {
			return err
		}
		defer ht.Close()
		target = ht
	default:
		urls := strings.Split(cfg.url, ",")
		var targets []loadtest.Target
		for _, u := range urls {
			ht, err := loadtest.NewHTTPTarget(strings.TrimSpace(u), &loadtest.HTTPOptions{Token: cfg.token.v, Conns: max(cfg.workers, 64), AllowRemote: true, Host: cfg.host})
			if err != nil {
				return err
			}
			defer ht.Close()
			targets = append(targets, ht)
		}
		if target, err = loadtest.NewSpread(targets...); err != nil {
			return err
		}
		if len(targets) == 1 {
			target = targets[0]
		}
		if cfg.population > 0 {
			hs, err := simulator.NewHTTPSink(strings.TrimSpace(urls[0]), &simulator.HTTPOptions{Token: cfg.token.v, Host: cfg.host})
			if err != nil {
				return fmt.Errorf("loadtest: %w", err)
			}
			sink = hs
		}
	}
	if eng != nil {
		sink = simulator.EngineSink{Engine: eng}
	}
	var pop loadtest.Population
	if cfg.population > 0 {
		say("preloading about %d baskets…\n", cfg.population)
		rep, err := w.Preload(ctx, sink)
		if err != nil {
			return err
		}
		pop.Baskets, pop.Events = rep.Funnel.Created, rep.Events
		if eng != nil {
			runtime.GC() // the preload's garbage is not the run's
		}
	}
	if eng != nil {
		st, err := eng.Stats(ctx)
		if err != nil {
			return err
		}
		pop.Abandoned = st.Abandoned
	}

	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return fmt.Errorf("loadtest: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("loadtest: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	opts := loadtest.Options{
		Duration: cfg.duration, Warmup: cfg.warmup, Pacer: cfg.pacer, Workers: cfg.workers,
		Mix: cfg.mixV, Timeout: cfg.timeout, Seed: cfg.seed,
	}
	if cfg.closed {
		opts.Pacer = nil
	}
	if tty {
		opts.Progress = func(p loadtest.Progress) {
			fmt.Fprintf(stderr, "\r%5.0fs / %v  %d started  %d done  %d errors ", p.Elapsed.Seconds(), p.Duration, p.Started, p.Done, p.Errors)
		}
	}
	rep := &loadtest.Report{Population: pop, Machine: machine}
	if cfg.search > 0 {
		sr, err := loadtest.Search(ctx, target, w, loadtest.SearchOptions{
			Run: opts, P99: cfg.search, Kind: cfg.searchKind, Start: cfg.searchStart, Steps: cfg.searchSteps,
		})
		say("\n")
		if err != nil {
			return err
		}
		rep.Search = sr
		for _, st := range sr.Steps {
			if st.Pass && st.Rate == sr.Best {
				rep.Result = st.Result
			}
		}
		if cfg.searchThen > 0 && sr.Best > 0 && !sr.Interrupted {
			opts.Pacer = loadtest.Constant{PerSecond: sr.Best * cfg.searchThen}
			if rep.Result, err = loadtest.Run(ctx, target, w, opts); err != nil {
				return err
			}
			say("\n")
		}
	} else {
		res, err := loadtest.Run(ctx, target, w, opts)
		say("\n")
		if err != nil {
			return err
		}
		rep.Result = res
	}
	pass, errorsPass := true, true
	if rep.Result != nil {
		rep.Thresholds, pass = loadtest.CheckAll(rep.Result, cfg.ths)
		if cfg.maxErrors != nil {
			o := cfg.maxErrors.Check(rep.Result)
			rep.Thresholds = append(rep.Thresholds, o)
			errorsPass = o.Pass
		}
	}
	switch cfg.format {
	case "json":
		err = rep.WriteJSON(stdout)
	case "html":
		err = rep.WriteHTML(stdout)
	default:
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return fmt.Errorf("loadtest: writing the report: %w", err)
	}
	interrupted := ctx.Err() != nil || (rep.Search != nil && rep.Search.Interrupted) ||
		(rep.Result != nil && rep.Result.Interrupted)
	switch {
	case interrupted:
		fmt.Fprintln(stderr, "abandoned loadtest: interrupted; the report covers the part that ran")
		return &loadtestExit{loadtest.ExitInterrupted, "interrupted"}
	case rep.Search != nil && rep.Search.Best == 0:
		fmt.Fprintln(stderr, "abandoned loadtest: no rate tried met the search's target")
		return &loadtestExit{loadtest.ExitNoRate, "no sustainable rate"}
	case !pass || !errorsPass:
		if !errorsPass {
			fmt.Fprintf(stderr, "abandoned loadtest: %s\n", tooManyErrors(rep.Result, cfg.maxErrorRate))
			if hint := errorHint(cfg, rep.Result); hint != "" {
				fmt.Fprintf(stderr, "abandoned loadtest: %s\n", hint)
			}
		}
		var failed []string
		for _, o := range rep.Thresholds[:len(cfg.ths)] {
			if !o.Pass {
				failed = append(failed, o.String())
			}
		}
		if len(failed) > 0 {
			fmt.Fprintf(stderr, "abandoned loadtest: threshold failed: %s\n", strings.Join(failed, "; "))
		}
		return &loadtestExit{loadtest.ExitThreshold, "threshold failed"}
	}
	return nil
}

// tooManyErrors says how many of r's operations failed, against the most
// allowed (-max-error-rate as given), and with which errors, the most
// frequent first: "40 of 40 operations failed (100.0%, above
// -max-error-rate 1%): HTTP 401 ×40".
func tooManyErrors(r *loadtest.Result, maxRate string) string {
	kinds := slices.Collect(maps.Keys(r.Errors))
	slices.SortFunc(kinds, func(a, b string) int {
		return cmp.Or(cmp.Compare(r.Errors[b], r.Errors[a]), cmp.Compare(a, b))
	})
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, r.Errors[k]))
	}
	return fmt.Sprintf("%d of %d operations failed (%s, above -max-error-rate %s): %s",
		r.All.Errors, r.All.Ops, percent(float64(r.All.Errors)/float64(r.All.Ops)), maxRate, strings.Join(parts, ", "))
}

// percent writes a share as a percentage with one decimal, or two
// significant figures under 0.1%: 100.0%, 2.5%, 0.012%.
func percent(v float64) string {
	p := v * 100
	if p > 0 && p < 0.1 {
		return strconv.FormatFloat(p, 'g', 2, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 1, 64) + "%"
}

// errorHint guesses the cause of the failures the user can fix against an
// external server, or returns "".
func errorHint(cfg *loadtestConfig, r *loadtest.Result) string {
	if cfg.url == "" {
		return ""
	}
	switch {
	case r.Errors["HTTP 401"] > 0:
		return "the server refused the token (-token or " + tokenEnv + ")"
	case r.Errors["HTTP 409"] > 0:
		return "ingests conflicted: the server must keep baskets forever (serve -ttl 0), for the simulated times are in the past"
	}
	return ""
}

// machineDescription says where the run is made, the load average
// included: the machine may be shared.
func machineDescription() string {
	s := fmt.Sprintf("%s/%s, %d CPUs, GOMAXPROCS %d, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			s += ", load average " + strings.Join(f[:3], " ") + " at start"
		}
	}
	return s
}
