package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
)

func init() {
	register(&command{
		name:    "query",
		summary: "page through a server's abandoned baskets and write them as JSON lines",
		run:     runQuery,
	})
}

const queryUsage = `Usage: abandoned query [flags]

Pages through GET /api/checkout/abandoned of a server, following queryMore
to the end, and writes each basket as one JSON line on stdout. It retries
server errors (5xx, 429) and failed connections with a bounded backoff (at
least the wait a server asks for in Retry-After), and never writes a page
twice: a page is written whole, once it has arrived whole. -url may name
the nodes of a cluster, comma-separated: a request that fails on one goes
to the next. When the query takes more than one page, a progress line
shows on stderr if it is a terminal.

Authenticate with -token (a static API token or an access token), or with
-client-id and -client-secret (the OAuth2 client-credentials grant; the
token is renewed when it expires). Every flag can also be given as an
environment variable ABANDONED_<NAME>, e.g. ABANDONED_CLIENT_SECRET; the
token is ABANDONED_API_TOKEN, the variable serve reads.

Examples:

  # The token from ABANDONED_API_TOKEN, as serve reads it:
  abandoned query -url http://127.0.0.1:8080 > baskets.jsonl

  abandoned query -url https://abandoned.internal -client-id esp \
    -created-after 2024-03-01 -tag web -limit 500 | jq -r .customerDetails.email

Flags:
`

// queryConfig is what the flags of query say.
type queryConfig struct {
	url           string
	host          string
	token         secretFlag
	clientID      string
	clientSecret  secretFlag
	createdAfter  string
	createdBefore string
	email         string
	tag           string
	limit         int
	retries       int
	timeout       time.Duration
	backoff       time.Duration // the first retry's wait at most; doubles up to maxBackoff
	maxBackoff    time.Duration
	progress      *progress // nil: none
}

func (c *queryConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "base `URL` of the server, or of a cluster's nodes, comma-separated")
	fs.StringVar(&c.host, "host", "", hostHelp)
	fs.Var(&c.token, "token", "bearer `TOKEN`: a static API token or an access token; default $ABANDONED_API_TOKEN")
	fs.StringVar(&c.clientID, "client-id", "", "OAuth2 client `ID`, with -client-secret, instead of -token")
	fs.Var(&c.clientSecret, "client-secret", "OAuth2 client `SECRET`")
	fs.StringVar(&c.createdAfter, "created-after", "", "only baskets created after this ISO-8601 `TIME` (exclusive)")
	fs.StringVar(&c.createdBefore, "created-before", "", "only baskets created before this ISO-8601 `TIME` (exclusive)")
	fs.StringVar(&c.email, "email", "", "only the baskets of the customer at this `EMAIL` address")
	fs.StringVar(&c.tag, "tag", "", "only baskets of this sales channel, `TAG` (tracking.tag)")
	fs.IntVar(&c.limit, "limit", 100, "`N` baskets per page, 1 to 1000")
	fs.IntVar(&c.retries, "retries", 5, "`N` retries of a failed request before giving up")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "time limit of one request (`DURATION`)")
	c.backoff, c.maxBackoff = 250*time.Millisecond, 10*time.Second
}

func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("query", queryUsage, stderr)
	var cfg queryConfig
	cfg.flags(fs)
	if err := parseFlags("query", fs, args, 0); err != nil {
		return err
	}
	tokenGiven := false
	fs.Visit(func(f *flag.Flag) { tokenGiven = tokenGiven || f.Name == "token" })
	tokenFromEnv(fs)
	if err := applyEnv(fs); err != nil {
		return usagef("query", "%v", err)
	}
	if !tokenGiven && cfg.clientID != "" {
		cfg.token.v = "" // client credentials win over a token from the environment
	}
	cfg.progress = newProgress(stderr)
	return query(ctx, &cfg, stdout)
}

// query writes every basket the configured query matches to w as JSON
// lines, in the server's own JSON.
func query(ctx context.Context, cfg *queryConfig, w io.Writer) error {
	switch {
	case cfg.limit < 1 || cfg.limit > 1000:
		return usagef("query", "-limit: must be from 1 to 1000")
	case cfg.retries < 0:
		return usagef("query", "-retries: must not be negative")
	case cfg.token.v != "" && cfg.clientID != "":
		return usagef("query", "give -token or -client-id, not both")
	case cfg.token.v == "" && cfg.clientID == "":
		return usagef("query", "give an API token (-token or %s), or -client-id and -client-secret", tokenEnv)
	case cfg.clientID != "" && cfg.clientSecret.v == "":
		return usagef("query", "-client-id needs -client-secret")
	}
	q := basket.Query{Limit: cfg.limit, Email: cfg.email, Tag: cfg.tag}
	for _, f := range []struct {
		flag, v string
		dst     *time.Time
	}{{"-created-after", cfg.createdAfter, &q.CreatedAfter}, {"-created-before", cfg.createdBefore, &q.CreatedBefore}} {
		if f.v == "" {
			continue
		}
		t, err := httpapi.ParseTime(f.v)
		if err != nil {
			return usagef("query", "%s: %v", f.flag, err)
		}
		*f.dst = t
	}
	if q.Email != "" {
		if err := basket.ValidateEmail(q.Email); err != nil {
			return usagef("query", "-email: %v", err)
		}
	}
	c, err := newAPIClient("query", serverConfig{
		url: cfg.url, host: cfg.host, token: cfg.token.v, clientID: cfg.clientID, clientSecret: cfg.clientSecret.v, scope: "checkout",
		retries: cfg.retries, timeout: cfg.timeout, backoff: cfg.backoff, maxBackoff: cfg.maxBackoff,
	})
	if err != nil {
		return err
	}
	bar := cfg.progress
	if bar == nil {
		bar = &progress{}
	}
	defer bar.done()
	// On a terminal, the first page also says how many baskets there are,
	// for the progress line.
	q.Count = bar.on
	var buf []byte
	written, pages, total := 0, 0, -1
	for {
		p, err := c.Abandoned(ctx, q)
		if err != nil {
			return fmt.Errorf("query: %w", err)
		}
		buf = buf[:0]
		for i := range p.Items {
			buf = append(httpapi.AppendBasket(buf, &p.Items[i]), '\n')
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("query: writing: %w", err)
		}
		written += len(p.Items)
		if pages++; pages == 1 {
			total = p.Total
		}
		if pages > 1 {
			bar.draw(func() string { return queryBarLine(written, total, pages, 30) })
		}
		if p.Cursor == "" {
			return nil
		}
		// The cursor carries the filters; only the page size travels with it.
		q = basket.Query{Limit: cfg.limit, Cursor: p.Cursor}
	}
}

// queryBarLine renders the progress of a query: a bar of width cells if
// the total is known, and the counts.
func queryBarLine(written, total, pages, width int) string {
	bar := ""
	if total > 0 {
		bar = barCells(float64(written)/float64(total), width)
		return fmt.Sprintf("%s%d of %d baskets  %d pages ", bar, written, total, pages)
	}
	return fmt.Sprintf("%d baskets  %d pages ", written, pages)
}
