package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
	"github.com/basketlab/abandoned/simulator"
)

func init() {
	register(&command{
		name:    "demo",
		summary: "simulate a week, show the abandoned API and a recovery link, then serve it",
		run:     runDemo,
	})
}

const demoUsage = `Usage: abandoned demo [flags]

Simulates a week of a news publisher's checkout traffic into an in-memory
engine, ending now, and prints the funnel, the first page of the abandoned
API exactly as a client receives it, and a recovery link, followed once as
a customer's click would. Then it serves the API on 127.0.0.1:8080 with live
simulated traffic until Ctrl-C, and prints the curl commands that page
through it (-no-serve exits after the report).

The API token is taken from $ABANDONED_API_TOKEN or -token; otherwise one is
generated and printed once.

Examples:

  go run ./cmd/abandoned demo
  abandoned demo -no-serve -days 2
  abandoned demo -addr 127.0.0.1:9090 -seed 7

Flags:
`

// demoConfig holds the flags of demo.
type demoConfig struct {
	days    int
	seed    uint64
	rate    float64
	addr    string
	noServe bool
	limit   int
	token   string
}

func parseDemo(args []string, stderr io.Writer) (*demoConfig, error) {
	c := &demoConfig{}
	fs := newFlagSet("demo", demoUsage, stderr)
	fs.IntVar(&c.days, "days", 7, "`N` days of traffic to simulate before serving")
	fs.Uint64Var(&c.seed, "seed", 1, "random `SEED`")
	fs.Float64Var(&c.rate, "rate", 0, "`N` baskets created in an average hour (default: the scenario's, 1000)")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "`HOST:PORT` to serve on")
	fs.BoolVar(&c.noServe, "no-serve", false, "exit after the report instead of serving")
	fs.IntVar(&c.limit, "limit", 3, "`N` items on the page shown")
	fs.StringVar(&c.token, "token", "", "API `TOKEN` to serve with (default $ABANDONED_API_TOKEN, or generated)")
	if err := parseFlags("demo", fs, args, 0); err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) error { return usagef("demo", format, a...) }
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case c.days < 1 || c.days > 13:
		return nil, bad("-days %d is not from 1 to 13 (baskets live 14 days)", c.days)
	case set["rate"] && !(c.rate > 0 && c.rate <= 1e6):
		return nil, bad("-rate %v is not above 0 and at most 1e6", c.rate)
	case c.limit < 1 || c.limit > basket.MaxLimit:
		return nil, bad("-limit %d is not from 1 to %d", c.limit, basket.MaxLimit)
	}
	if c.token == "" {
		c.token, _ = simLookupEnv("ABANDONED_API_TOKEN")
	}
	return c, nil
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseDemo(args, stderr)
	if err != nil {
		return err
	}
	tokenShown := c.token == ""
	if tokenShown {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("demo: generating a token: %w", err)
		}
		c.token = base64.RawURLEncoding.EncodeToString(b)
	}

	// A week that ends now, on the simulator's clock; the engine follows
	// the wall clock once the week is over and the API is served.
	sc := simulator.DefaultScenario()
	sc.Days = c.days
	if c.rate > 0 {
		sc.Rate = c.rate
	}
	sc.Start = time.Now().UTC().Truncate(time.Minute).Add(-time.Duration(c.days) * 24 * time.Hour)
	clock := simulator.NewClock(sc.Start)
	var live atomic.Bool
	eng, err := basket.New(&basket.Options{Alias: "demo", Now: func() time.Time {
		if live.Load() {
			return time.Now()
		}
		return clock.Now()
	}})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer eng.Close()

	fmt.Fprintf(stdout, "Simulating %d days of checkout traffic (seed %d) into an in-memory engine…\n\n", c.days, c.seed)
	sim, err := simulator.New(&simulator.Options{Scenario: &sc, Seed: c.seed, Clock: clock, Sink: simulator.EngineSink{Engine: eng}})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	rep, err := sim.Run(ctx)
	if err != nil && (rep == nil || !rep.Interrupted) {
		return fmt.Errorf("demo: %w", err)
	}
	st, err := eng.Stats(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	rep.AddEngine(st)
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	if rep.Interrupted {
		fmt.Fprintln(stderr, "demo: interrupted")
		return nil
	}

	srv, err := httpapi.New(eng, &httpapi.Options{APITokens: []string{c.token}})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	base := "http://" + c.addr
	page := "/api/checkout/abandoned?limit=" + strconv.Itoa(c.limit)
	fmt.Fprintf(stdout, "\nThe abandoned API, as a client receives it:\n\nGET %s\n", page)
	status, _, body, err := demoRequest(ctx, srv, c.token, page)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d %s\n%s\n", status, http.StatusText(status), bytes.TrimRight(body, "\n"))
	var p struct {
		Items []struct {
			ID           string `json:"id"`
			RecoveryLink string `json:"recoveryLink"`
		} `json:"items"`
		QueryMore *struct {
			From string `json:"from"`
		} `json:"queryMore"`
	}
	if status != http.StatusOK {
		return fmt.Errorf("demo: the abandoned API answered %d", status)
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return fmt.Errorf("demo: reading the page: %w", err)
	}
	if len(p.Items) > 0 && p.Items[0].RecoveryLink != "" {
		link := p.Items[0].RecoveryLink
		fmt.Fprintf(stdout, "\nA recovery link (the first basket's), for a reminder email:\n\n  %s%s\n\n", base, link)
		status, loc, _, err := demoRequest(ctx, srv, "", link)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Following it, as the customer's click would: %d %s, Location: %s\n", status, http.StatusText(status), loc)
	}
	if c.noServe {
		return nil
	}

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("demo: serving: %w (choose another -addr, or -no-serve)", err)
	}
	base = "http://" + ln.Addr().String()
	live.Store(true)
	fmt.Fprintf(stdout, "\nServing the API on %s with live simulated traffic; Ctrl-C stops.\n\n", base)
	if tokenShown {
		fmt.Fprintf(stdout, "  export TOKEN=%s\n", c.token)
	} else {
		fmt.Fprintln(stdout, "  export TOKEN=$ABANDONED_API_TOKEN")
	}
	fmt.Fprintf(stdout, "  curl -H \"Authorization: Bearer $TOKEN\" '%s%s'\n", base, page)
	fmt.Fprintf(stdout, "  # the next page: the same, with &queryMore=<the previous page's queryMore.from>\n")
	if p.QueryMore != nil {
		fmt.Fprintf(stdout, "  curl -H \"Authorization: Bearer $TOKEN\" '%s%s&queryMore=%s'\n", base, page, p.QueryMore.From)
	}
	fmt.Fprintf(stdout, "  curl -H \"Authorization: Bearer $TOKEN\" '%s/api/checkout/abandoned/feed?limit=10'\n", base)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	simDone := make(chan error, 1)
	go func() { simDone <- demoLive(ctx, eng, c.seed+1) }()
	err = srv.Serve(ctx, ln)
	cancel()
	if serr := <-simDone; serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintln(stdout, "\nStopped.")
	return nil
}

// demoLive plays the default scenario from now on, in real time, into eng
// until ctx is done.
func demoLive(ctx context.Context, eng *basket.Engine, seed uint64) error {
	sc := simulator.DefaultScenario()
	sc.Start = time.Now().UTC()
	sc.Days = 3650
	sim, err := simulator.New(&simulator.Options{
		Scenario: &sc, Seed: seed, Sink: simulator.Paced(simulator.EngineSink{Engine: eng}),
		BatchSize: 100, MaxBatchSpan: time.Second,
	})
	if err != nil {
		return err
	}
	if _, err := sim.Run(ctx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("live traffic: %w", err)
	}
	return nil
}

// demoRequest sends a GET through the API's handler, in process, and
// returns the answer.
func demoRequest(ctx context.Context, h http.Handler, token, target string) (status int, location string, body []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, "", nil, fmt.Errorf("demo: %w", err)
	}
	req.RemoteAddr = "127.0.0.1:1"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rw := &demoResponse{header: http.Header{}}
	h.ServeHTTP(rw, req)
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	return rw.status, rw.header.Get("Location"), rw.body.Bytes(), nil
}

// demoResponse records an answer of a handler.
type demoResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *demoResponse) Header() http.Header { return r.header }

func (r *demoResponse) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *demoResponse) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}
