package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/simulator"
)

func init() {
	register(&command{
		name:    "simulate",
		summary: "simulate checkout traffic on a virtual clock and print the funnel",
		run:     runSimulate,
	})
}

const simulateUsage = `Usage: abandoned simulate [flags]

Simulates the checkout traffic of a news publisher's subscriptions on a
virtual clock: baskets created by Subscribe clicks, SSO logins and typed
emails, orders, abandonments and customers coming back days later. The
same seed gives the same events, byte for byte. A week runs in seconds.

The events go to an in-memory engine (the default), to a file of JSON
lines (-out, the NDJSON body of POST /api/baskets/events), or to a server's
ingest endpoint (-target). The funnel report, as text, JSON or an HTML
page of charts (-format), goes to stdout, or to stderr when the events do.
A progress bar shows on stderr when it is a terminal. The first Ctrl-C
stops the run and still prints the report.

A server keeps a basket for its time to live (-ttl, 14 days) from its
creation by the server's clock: with -target the simulated run ends now
unless -start says otherwise, and a file of old events replays only into a
server started with -ttl 0. A server refuses events more than its
-max-future (5 minutes) ahead of its clock: -start now ends the whole run
now, -drain included, so that no event lies ahead.

Examples:

  # A week of the default scenario into memory, the funnel as text:
  abandoned simulate

  # A month, twice the traffic, the funnel as JSON:
  abandoned simulate -days 30 -rate 2000 -format json

  # The funnel, hours, channels and devices as charts, in one HTML file:
  abandoned simulate -days 3 -format html > funnel.html

  # Write the last two days' events, then load them into a running server
  # (the token from ABANDONED_API_TOKEN, as serve reads it):
  abandoned simulate -days 2 -seed 7 -start now -out events.jsonl
  abandoned ingest -url http://127.0.0.1:8080 events.jsonl

  # Feed a running server the last three days directly:
  abandoned simulate -days 3 -target http://127.0.0.1:8080

  # Start from the default scenario, edit it, run it:
  abandoned simulate -print-scenario > scenario.json
  abandoned simulate -scenario scenario.json -drain 720h

Flags:
`

// simConfig holds the flags of simulate.
type simConfig struct {
	days          int
	seed          uint64
	rate          float64
	scenario      string
	start         string
	out           string
	target        string
	host          string
	token         string
	batch         int
	format        string
	drain         time.Duration
	printScenario bool
}

// simLookupEnv reads the environment; tests replace it.
var simLookupEnv = os.LookupEnv

func parseSimulate(args []string, stderr io.Writer) (*simConfig, *flag.FlagSet, error) {
	c := &simConfig{}
	fs := newFlagSet("simulate", simulateUsage, stderr)
	fs.IntVar(&c.days, "days", 0, "length of the simulated period, `N` days (default: the scenario's, 7)")
	fs.Uint64Var(&c.seed, "seed", 1, "random `SEED`; the same seed gives the same events")
	fs.Float64Var(&c.rate, "rate", 0, "`N` baskets created in an average hour (default: the scenario's, 1000)")
	fs.StringVar(&c.scenario, "scenario", "", "scenario `FILE` (JSON over the defaults; see -print-scenario)")
	fs.StringVar(&c.start, "start", "", "start of the period, a `TIME`: RFC 3339, a date, or \"now\" to end the run now, the period and\n-drain: no event lies ahead of the clock (default: the scenario's, 2025-01-06; \"now\" with -target)")
	fs.StringVar(&c.out, "out", "", "write the events as JSON lines to `FILE`, or to stdout with -")
	fs.StringVar(&c.target, "target", "", "post the events to the ingest endpoint of the server at `URL`, or of a cluster's nodes, comma-separated")
	fs.StringVar(&c.host, "host", "", hostHelp)
	fs.StringVar(&c.token, "token", "", "bearer `TOKEN` for -target; default $ABANDONED_API_TOKEN")
	fs.IntVar(&c.batch, "batch", 1000, "`N` events per request to -target")
	fs.StringVar(&c.format, "format", "text", "report `FORMAT`: text, json or html (a page of charts)")
	fs.DurationVar(&c.drain, "drain", 0, "after the period, let journeys in flight play on this long, a `DURATION` (returns, up to 720h)")
	fs.BoolVar(&c.printScenario, "print-scenario", false, "print the scenario as JSON, with the flags applied, and exit")
	if err := parseFlags("simulate", fs, args, 0); err != nil {
		return nil, fs, err
	}
	bad := func(format string, a ...any) error { return usagef("simulate", format, a...) }
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["days"] && (c.days < 1 || c.days > 3660):
		return nil, fs, bad("-days %d is not from 1 to 3660", c.days)
	case set["rate"] && !(c.rate > 0 && c.rate <= 1e8):
		return nil, fs, bad("-rate %v is not above 0 and at most 1e8", c.rate)
	case c.format != "text" && c.format != "json" && c.format != "html":
		return nil, fs, bad("-format %q is not text, json or html", c.format)
	case c.batch < 1 || c.batch > 100000:
		return nil, fs, bad("-batch %d is not from 1 to 100000", c.batch)
	case c.drain < 0 || c.drain > 3660*24*time.Hour:
		return nil, fs, bad("-drain %v is not from 0 to 87840h", c.drain)
	case c.token != "" && c.target == "":
		return nil, fs, bad("-token is for -target")
	}
	if c.target != "" {
		tokenFromEnv(fs)
		if c.token == "" {
			return nil, fs, missingToken("simulate", "-target")
		}
	}
	if c.start == "" && c.target != "" {
		c.start = "now"
	}
	return c, fs, nil
}

// simParseStart reads -start: "now" (the period ends now), an RFC 3339
// time, or a date (midnight UTC).
func simParseStart(s string, days int, now time.Time) (time.Time, error) {
	switch {
	case s == "now":
		return now.UTC().Truncate(time.Millisecond).Add(-time.Duration(days) * 24 * time.Hour), nil
	case len(s) == len(time.DateOnly):
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			return t, nil
		}
	default:
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("-start %q is not \"now\", an RFC 3339 time (2025-01-06T00:00:00Z) or a date (2025-01-06)", simTruncate(s))
}

func simTruncate(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// simScenario builds the scenario: the defaults, the file, then the flags.
func simScenario(c *simConfig, now time.Time) (simulator.Scenario, error) {
	sc := simulator.DefaultScenario()
	if c.scenario != "" {
		data, err := os.ReadFile(c.scenario)
		if err != nil {
			return sc, fmt.Errorf("simulate: reading the scenario: %w", err)
		}
		if sc, err = simulator.ParseScenario(data); err != nil {
			return sc, fmt.Errorf("simulate: %s: %w", c.scenario, err)
		}
	}
	if c.days != 0 {
		sc.Days = c.days
	}
	if c.rate != 0 {
		sc.Rate = c.rate
	}
	if c.start != "" {
		t, err := simParseStart(c.start, sc.Days, now)
		if err != nil {
			return sc, usagef("simulate", "%v", err)
		}
		if c.start == "now" {
			// The drain ends now too: a server refuses events dated
			// ahead of its clock (its -max-future).
			t = t.Add(-c.drain)
		}
		sc.Start = t
	}
	if err := sc.Validate(); err != nil {
		return sc, fmt.Errorf("simulate: %w", err)
	}
	return sc, nil
}

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, _, err := parseSimulate(args, stderr)
	if err != nil {
		return err
	}
	sc, err := simScenario(c, time.Now())
	if err != nil {
		return err
	}
	if c.printScenario {
		data, err := json.MarshalIndent(sc, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", data)
		return err
	}

	// The sinks.
	reportTo := stdout
	var sinks []simulator.Sink
	var closers []func() error
	defer func() {
		for _, f := range closers {
			f()
		}
	}()
	clock := simulator.NewClock(sc.Start)
	var eng *basket.Engine
	if c.out != "" {
		w := stdout
		if c.out == "-" {
			reportTo = stderr
		} else {
			f, err := os.Create(c.out)
			if err != nil {
				return fmt.Errorf("simulate: %w", err)
			}
			closers = append(closers, f.Close)
			w = f
		}
		sinks = append(sinks, simulator.NewJSONLSink(w))
	}
	var hs *simulator.HTTPSink
	if c.target != "" {
		hs, err = simulator.NewHTTPSink(c.target, &simulator.HTTPOptions{Token: c.token, BatchSize: c.batch, Host: c.host})
		if err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		sinks = append(sinks, hs)
	}
	if len(sinks) == 0 {
		eng, err = basket.New(&basket.Options{Now: clock.Now})
		if err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		closers = append(closers, eng.Close)
		sinks = append(sinks, simulator.EngineSink{Engine: eng})
	}
	sink := sinks[0]
	if len(sinks) > 1 {
		sink = simulator.Tee(sinks...)
	}

	bar := simProgressBar(stderr)
	sim, err := simulator.New(&simulator.Options{
		Scenario: &sc, Seed: c.seed, Sink: sink, Clock: clock, Drain: c.drain, Progress: bar.update,
	})
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	rep, err := sim.Run(ctx)
	bar.done()
	if err != nil && (rep == nil || !rep.Interrupted) {
		return fmt.Errorf("simulate: %w", err)
	}
	if eng != nil {
		st, err := eng.Stats(context.WithoutCancel(ctx))
		if err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		rep.AddEngine(st)
	}
	for _, f := range closers {
		if cerr := f(); cerr != nil && c.out != "" && c.out != "-" {
			return fmt.Errorf("simulate: closing %s: %w", c.out, cerr)
		}
	}
	closers = nil
	if err := simWriteReport(reportTo, rep, c.format); err != nil {
		return err
	}
	if hs != nil {
		posts, tries, events := hs.Stats()
		fmt.Fprintf(stderr, "simulate: %d events accepted by %s in %d requests (%d tries)\n", events, hs.URL(), posts, tries)
	}
	if rep.Interrupted {
		fmt.Fprintf(stderr, "simulate: interrupted at %s (virtual time); the report covers the run so far\n", rep.End.Format(time.RFC3339))
	}
	return nil
}

func simWriteReport(w io.Writer, rep *simulator.Report, format string) error {
	if format == "json" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	}
	if format == "html" {
		return rep.WriteHTML(w)
	}
	return rep.WriteText(w)
}

// simBar draws a progress bar on a terminal. Its methods do nothing when
// the output is not one.
type simBar struct {
	mu    sync.Mutex // guards the fields below
	w     io.Writer
	on    bool
	last  time.Time
	drawn bool
}

func simProgressBar(stderr io.Writer) *simBar {
	b := &simBar{w: stderr}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b.on = true
	}
	return b
}

func (b *simBar) update(p simulator.Progress) {
	if !b.on {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if now := time.Now(); now.Sub(b.last) >= 100*time.Millisecond {
		b.last = now
		b.drawn = true
		fmt.Fprint(b.w, "\r"+simBarLine(p, 30))
	}
}

// simBarLine renders progress as a bar of width cells and counts.
func simBarLine(p simulator.Progress, width int) string {
	total := p.End.Sub(p.Start)
	frac := 1.0
	if total > 0 {
		frac = min(1, max(0, float64(p.Now.Sub(p.Start))/float64(total)))
	}
	full := int(frac * float64(width))
	day := int(p.Now.Sub(p.Start)/(24*time.Hour)) + 1
	days := int(total / (24 * time.Hour))
	return fmt.Sprintf("[%s%s] %3.0f%%  day %d of %d  %d baskets  %d events ",
		strings.Repeat("█", full), strings.Repeat("░", width-full), 100*frac, min(day, max(days, 1)), days, p.Baskets, p.Events)
}

func (b *simBar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.on && b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
	}
}
