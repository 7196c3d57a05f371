package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket/httpapi"
	"golang.org/x/term"
)

func init() {
	register(&command{
		name:    "ingest",
		summary: "load a file of events (JSON lines) into a server, in batches",
		run:     runIngest,
	})
}

const ingestUsage = `Usage: abandoned ingest -url URL [flags] FILE|-

Loads a file of events, one JSON object per line (what abandoned simulate
-out writes), into the server at -url: it posts them in the order of the
file to POST /api/baskets/events, -batch events at a time, and retries
server errors (5xx, 429) and failed connections with a bounded backoff (at
least the wait a server asks for in Retry-After). A file of any size loads
this way; "-" reads stdin. -url may name the nodes of a cluster,
comma-separated: a batch that fails on one goes to the next. A progress
bar shows on stderr when it is a terminal.

The server applies a batch whole or not at all. A batch it refuses (an
invalid event: 400; an illegal transition: 409) is reported with the line
of the event at fault, and ingest goes on with the next batches. A batch
over the server's -max-body or -max-batch (413) is split and sent again.
At the end ingest prints a summary: the events applied, the batches, and
the line of every rejected batch; it exits 1 if any batch was rejected.
Loading a file again is harmless (the server ignores events it has
applied): fix the lines named and load the whole file again.

Authenticate with -token (default $ABANDONED_API_TOKEN, the token of
abandoned serve), or with -client-id and -client-secret (the OAuth2
client-credentials grant).

Examples (a server running on 127.0.0.1:8080, ABANDONED_API_TOKEN
exported, as in abandoned serve -h):

  abandoned simulate -days 1 -start now -out events.jsonl
  abandoned ingest -url http://127.0.0.1:8080 events.jsonl

  abandoned simulate -days 1 -start now -seed 2 -out - | abandoned ingest -url http://127.0.0.1:8080 -batch 2000 -

Flags:
`

// ingestConfig is what the flags of ingest say.
type ingestConfig struct {
	url          string
	host         string
	token        secretFlag
	clientID     string
	clientSecret secretFlag
	batch        int
	retries      int
	timeout      time.Duration
	backoff      time.Duration // the first retry's wait at most; doubles up to maxBackoff
	maxBackoff   time.Duration
}

func (c *ingestConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "base `URL` of the server, or of a cluster's nodes, comma-separated")
	fs.StringVar(&c.host, "host", "", hostHelp)
	fs.Var(&c.token, "token", "bearer `TOKEN`: a static API token or an access token; default $ABANDONED_API_TOKEN")
	fs.StringVar(&c.clientID, "client-id", "", "OAuth2 client `ID`, with -client-secret, instead of -token")
	fs.Var(&c.clientSecret, "client-secret", "OAuth2 client `SECRET`")
	fs.IntVar(&c.batch, "batch", 10_000, "`N` events per request, 1 to 1000000")
	fs.IntVar(&c.retries, "retries", 5, "`N` retries of a failed request before giving up")
	fs.DurationVar(&c.timeout, "timeout", time.Minute, "time limit of one request (`DURATION`)")
	c.backoff, c.maxBackoff = 250*time.Millisecond, 10*time.Second
}

// stdin is what "-" reads; tests replace it.
var stdin io.Reader = os.Stdin

// ingestRejected ends a run in which the server rejected batches; the
// summary has said which.
type ingestRejected struct{ batches int }

func (e *ingestRejected) Error() string { return fmt.Sprintf("ingest: %d batches rejected", e.batches) }
func (e *ingestRejected) ExitCode() int { return 1 }

func runIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ingest", ingestUsage, stderr)
	var cfg ingestConfig
	cfg.flags(fs)
	if err := parseFlags("ingest", fs, args, 1); err != nil {
		return err
	}
	tokenGiven := false
	fs.Visit(func(f *flag.Flag) { tokenGiven = tokenGiven || f.Name == "token" })
	tokenFromEnv(fs)
	if err := applyEnv(fs); err != nil {
		return usagef("ingest", "%v", err)
	}
	if !tokenGiven && cfg.clientID != "" {
		cfg.token.v = "" // client credentials win over a token from the environment
	}
	switch {
	case fs.NArg() == 0:
		return usagef("ingest", "give the file of events to load, or - for stdin")
	case cfg.batch < 1 || cfg.batch > 1_000_000:
		return usagef("ingest", "-batch %d: want 1 to 1000000 events", cfg.batch)
	case cfg.retries < 0:
		return usagef("ingest", "-retries: must not be negative")
	case cfg.token.v != "" && cfg.clientID != "":
		return usagef("ingest", "give -token or -client-id, not both")
	case cfg.token.v == "" && cfg.clientID == "":
		return usagef("ingest", "give an API token (-token or %s), or -client-id and -client-secret", tokenEnv)
	case cfg.clientID != "" && cfg.clientSecret.v == "":
		return usagef("ingest", "-client-id needs -client-secret")
	}

	client, err := newAPIClient("ingest", serverConfig{
		url: cfg.url, host: cfg.host, token: cfg.token.v, clientID: cfg.clientID, clientSecret: cfg.clientSecret.v, scope: "ingest",
		retries: cfg.retries, timeout: cfg.timeout, backoff: cfg.backoff, maxBackoff: cfg.maxBackoff,
	})
	if err != nil {
		return err
	}

	name := fs.Arg(0)
	in := stdin
	var size int64
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		in = f
	} else {
		name = "stdin"
	}

	g := &ingester{
		client: client,
		batch:  cfg.batch,
		bar:    newIngestBar(stderr, size),
	}
	err = g.run(ctx, in)
	g.bar.done()
	g.summary(stdout, name, err)
	switch {
	case err != nil:
		return fmt.Errorf("ingest: %w", err)
	case len(g.rejected) > 0:
		return &ingestRejected{len(g.rejected)}
	}
	return nil
}

// ingester posts a file's events in batches.
type ingester struct {
	client *httpapi.Client
	batch  int
	bar    *ingestBar

	// The batch being filled: its events' text, one per line, the end of
	// each in buf, and the line of the file each came from.
	buf   []byte
	ends  []int
	lines []int
	bad   *rejection // a line of the batch that is no event

	read     int64 // bytes read
	applied  int64 // events the server applied
	batches  int   // requests applied
	rejected []rejection
	notSent  int // events of rejected batches
}

// rejection is a batch the server (or ingest) refused: the line of the
// event at fault, or of the batch's first event if none was named.
type rejection struct {
	line   int
	status int // 0: refused before sending
	msg    string
	events int
}

// run reads in to its end and sends every batch. It stops at the first
// error that is not a rejected batch.
func (g *ingester) run(ctx context.Context, in io.Reader) error {
	r := bufio.NewReaderSize(in, 1<<20)
	for line := 1; ; line++ {
		text, err := r.ReadBytes('\n')
		g.read += int64(len(text))
		if len(text) > 0 {
			g.add(text, line)
			if len(g.ends) >= g.batch {
				if err := g.flush(ctx); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			return g.flush(ctx)
		}
		if err != nil {
			return fmt.Errorf("reading: %w", err)
		}
	}
}

// add puts a line of the file in the batch; a blank one is skipped, as
// the server does.
func (g *ingester) add(text []byte, line int) {
	t := bytes.Trim(text, " \t\r\n")
	if len(t) == 0 {
		return
	}
	if t[0] != '{' && g.bad == nil {
		g.bad = &rejection{line: line, msg: "not an event: want one JSON object per line"}
	}
	g.buf = append(append(g.buf, t...), '\n')
	g.ends = append(g.ends, len(g.buf))
	g.lines = append(g.lines, line)
}

// flush sends the batch, if it holds any event, and empties it.
func (g *ingester) flush(ctx context.Context) error {
	defer func() {
		g.buf, g.ends, g.lines, g.bad = g.buf[:0], g.ends[:0], g.lines[:0], nil
	}()
	if len(g.ends) == 0 {
		return nil
	}
	if g.bad != nil {
		g.reject(*g.bad, len(g.ends))
		return nil
	}
	return g.send(ctx, 0, len(g.ends))
}

// send posts the events i to j of the batch; a 413 splits them in two.
func (g *ingester) send(ctx context.Context, i, j int) error {
	start := 0
	if i > 0 {
		start = g.ends[i-1]
	}
	res, err := g.client.Ingest(ctx, g.buf[start:g.ends[j-1]])
	if err == nil {
		g.applied += int64(res.Applied)
		g.batches++
		g.bar.update(g)
		return nil
	}
	var ae *httpapi.APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Status {
	case http.StatusRequestEntityTooLarge:
		if j-i > 1 {
			h := i + (j-i)/2
			if err := g.send(ctx, i, h); err != nil {
				return err
			}
			return g.send(ctx, h, j)
		}
		g.reject(rejection{line: g.lines[i], status: ae.Status, msg: ae.Message}, 1)
		return nil
	case http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity:
		line := g.lines[i]
		if ae.Index >= 0 && i+ae.Index < j {
			line = g.lines[i+ae.Index]
		}
		g.reject(rejection{line: line, status: ae.Status, msg: ae.Message}, j-i)
		return nil
	}
	return err
}

func (g *ingester) reject(r rejection, events int) {
	r.events = events
	g.rejected = append(g.rejected, r)
	g.notSent += events
	g.bar.update(g)
}

// summary writes what was loaded and what was rejected, and why.
func (g *ingester) summary(w io.Writer, name string, err error) {
	status := "ingest"
	if err != nil {
		status = "ingest: stopped by an error;"
	}
	fmt.Fprintf(w, "%s %d events applied in %d batches from %s\n", status, g.applied, g.batches, name)
	if len(g.rejected) == 0 {
		return
	}
	fmt.Fprintf(w, "ingest: %d batches rejected, their %d events not applied:\n", len(g.rejected), g.notSent)
	for _, r := range g.rejected {
		code := "not sent"
		if r.status != 0 {
			code = fmt.Sprint(r.status)
		}
		fmt.Fprintf(w, "  line %d: %s: %s\n", r.line, code, r.msg)
	}
}

// progress draws a line of progress on stderr when it is a terminal, at
// most ten times a second; on anything else it does nothing. ingest and
// query draw theirs with it.
type progress struct {
	w     io.Writer
	on    bool
	last  time.Time
	drawn bool
}

func newProgress(stderr io.Writer) *progress {
	p := &progress{w: stderr}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.on = true
	}
	return p
}

// draw shows the line that line renders, unless one was drawn less than
// 100 ms ago.
func (p *progress) draw(line func() string) {
	if !p.on {
		return
	}
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		p.drawn = true
		fmt.Fprint(p.w, "\r"+line())
	}
}

// done clears the line, if one was drawn.
func (p *progress) done() {
	if p.on && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// barCells renders frac (0 to 1) as a bar of width cells and its
// percentage.
func barCells(frac float64, width int) string {
	frac = max(0, min(1, frac))
	full := int(frac * float64(width))
	return fmt.Sprintf("[%s%s] %3.0f%%  ", strings.Repeat("█", full), strings.Repeat("░", width-full), 100*frac)
}

// ingestBar draws the progress of an ingest.
type ingestBar struct {
	*progress
	size int64 // of the file, 0 if unknown
}

func newIngestBar(stderr io.Writer, size int64) *ingestBar {
	return &ingestBar{progress: newProgress(stderr), size: size}
}

func (b *ingestBar) update(g *ingester) {
	b.draw(func() string { return ingestBarLine(g.read, b.size, g.applied, g.batches, len(g.rejected), 30) })
}

// ingestBarLine renders progress: a bar of width cells if the size is
// known, and the counts.
func ingestBarLine(read, size, applied int64, batches, rejected, width int) string {
	bar := ""
	if size > 0 {
		bar = barCells(float64(read)/float64(size), width)
	}
	return fmt.Sprintf("%s%d events applied  %d batches  %d rejected ", bar, applied, batches, rejected)
}
