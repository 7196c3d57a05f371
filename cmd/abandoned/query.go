package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
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
server errors (5xx, 429) and failed connections with a bounded backoff, and
never writes a page twice: a page is written whole, once it has arrived
whole.

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
	backoff       time.Duration // the first retry's wait; doubles up to maxBackoff
	maxBackoff    time.Duration
}

func (c *queryConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "base `URL` of the server")
	fs.Var(&c.token, "token", "bearer `token`: a static API token or an access token; default $ABANDONED_API_TOKEN")
	fs.StringVar(&c.clientID, "client-id", "", "OAuth2 client `id`, with -client-secret, instead of -token")
	fs.Var(&c.clientSecret, "client-secret", "OAuth2 client `secret`")
	fs.StringVar(&c.createdAfter, "created-after", "", "only baskets created after this ISO-8601 `time` (exclusive)")
	fs.StringVar(&c.createdBefore, "created-before", "", "only baskets created before this ISO-8601 `time` (exclusive)")
	fs.StringVar(&c.email, "email", "", "only this customer's baskets")
	fs.StringVar(&c.tag, "tag", "", "only baskets of this sales channel (tracking.tag)")
	fs.IntVar(&c.limit, "limit", 100, "baskets per page, 1 to 1000")
	fs.IntVar(&c.retries, "retries", 5, "retries of a failed request before giving up")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "time limit of one request")
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
	return query(ctx, &cfg, stdout)
}

// query writes every basket the configured query matches to w as JSON
// lines.
func query(ctx context.Context, cfg *queryConfig, w io.Writer) error {
	base, err := parseBaseURL("query", cfg.url)
	if err != nil {
		return err
	}
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
	c := &apiClient{
		base: base, http: &http.Client{Timeout: cfg.timeout}, bearer: cfg.token.v,
		clientID: cfg.clientID, clientSecret: cfg.clientSecret.v,
		retries: cfg.retries, backoff: cfg.backoff, maxBackoff: cfg.maxBackoff,
	}
	if cfg.clientID != "" {
		if err := c.fetchToken(ctx); err != nil {
			return fmt.Errorf("query: %w", err)
		}
	}
	params := url.Values{}
	params.Set("limit", strconv.Itoa(cfg.limit))
	for k, v := range map[string]string{
		"createdAfter": cfg.createdAfter, "createdBefore": cfg.createdBefore, "email": cfg.email, "tag": cfg.tag,
	} {
		if v != "" {
			params.Set(k, v)
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	for {
		body, err := c.get(ctx, "/api/checkout/abandoned", params)
		if err != nil {
			return fmt.Errorf("query: %w", err)
		}
		var page struct {
			Items     []json.RawMessage `json:"items"`
			QueryMore *struct {
				From string `json:"from"`
			} `json:"queryMore"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("query: the server's answer is not a page: %v", err)
		}
		var line bytes.Buffer
		for _, it := range page.Items {
			line.Reset()
			if err := json.Compact(&line, it); err != nil {
				return fmt.Errorf("query: the server's answer holds bad JSON: %v", err)
			}
			line.WriteByte('\n')
			if _, err := bw.Write(line.Bytes()); err != nil {
				return fmt.Errorf("query: writing: %w", err)
			}
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("query: writing: %w", err)
		}
		if page.QueryMore == nil || page.QueryMore.From == "" {
			return nil
		}
		// The cursor carries the filters; only the page size travels with it.
		params = url.Values{"limit": {strconv.Itoa(cfg.limit)}, "queryMore": {page.QueryMore.From}}
	}
}
