package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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
environment variable ABANDONED_<NAME>, e.g. ABANDONED_CLIENT_SECRET.

Examples:

  ABANDONED_TOKEN=s3cr3t-token abandoned query -url http://localhost:8080 > baskets.jsonl

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

// queryClient pages through a server.
type queryClient struct {
	cfg    *queryConfig
	base   *url.URL
	http   *http.Client
	bearer string
	oauth  bool // bearer came from the client-credentials grant
}

// httpError is an answer the client does not retry, or the last of those it
// did.
type httpError struct {
	status  int
	message string
}

func (e *httpError) Error() string {
	if e.message == "" {
		return fmt.Sprintf("server answered %d %s", e.status, http.StatusText(e.status))
	}
	return fmt.Sprintf("server answered %d: %s", e.status, e.message)
}

// query writes every basket the configured query matches to w as JSON
// lines.
func query(ctx context.Context, cfg *queryConfig, w io.Writer) error {
	base, err := url.Parse(strings.TrimRight(cfg.url, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return usagef("query", "-url: want an http(s) URL such as http://127.0.0.1:8080")
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
	c := &queryClient{cfg: cfg, base: base, http: &http.Client{Timeout: cfg.timeout}, bearer: cfg.token.v}
	if cfg.clientID != "" {
		c.oauth = true
		if err := c.fetchToken(ctx); err != nil {
			return err
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

// get fetches a page, retrying what may succeed on another try.
func (c *queryClient) get(ctx context.Context, path string, params url.Values) ([]byte, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = params.Encode()
	renewed := false
	return c.retry(ctx, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+c.bearer)
		req.Header.Set("Accept", "application/json")
		return req, nil
	}, func(status int) bool {
		// An expired access token: renew it once and try again.
		if status == http.StatusUnauthorized && c.oauth && !renewed {
			renewed = true
			return c.fetchToken(ctx) == nil
		}
		return false
	})
}

// fetchToken obtains an access token with the client-credentials grant.
func (c *queryClient) fetchToken(ctx context.Context) error {
	form := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {c.cfg.clientID}, "client_secret": {c.cfg.clientSecret.v},
	}.Encode()
	u := *c.base
	u.Path += "/oauth2/token"
	body, err := c.retry(ctx, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req, nil
	}, nil)
	if err != nil {
		return fmt.Errorf("query: obtaining an access token: %w", err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
		return errors.New("query: obtaining an access token: the answer holds no access_token")
	}
	c.bearer = tok.AccessToken
	return nil
}

// retry sends the request newReq makes until it succeeds (200), fails in a
// way another try will not mend, or cfg.retries retries are spent. Server
// errors (5xx), 429 and transport errors are retried with exponential
// backoff and jitter (Retry-After, if longer, wins); again, if not nil, may
// ask for an immediate retry of another status.
func (c *queryClient) retry(ctx context.Context, newReq func() (*http.Request, error), again func(status int) bool) ([]byte, error) {
	var last error
	for attempt := 0; ; attempt++ {
		req, err := newReq()
		if err != nil {
			return nil, err
		}
		var wait time.Duration
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			last = fmt.Errorf("request failed: %w", err)
		} else {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
			resp.Body.Close()
			switch {
			case rerr != nil:
				last = fmt.Errorf("reading the answer: %w", rerr)
			case resp.StatusCode == http.StatusOK:
				return body, nil
			case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
				last = &httpError{status: resp.StatusCode, message: messageOf(body)}
				if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
					wait = min(time.Duration(s)*time.Second, time.Minute)
				}
			case again != nil && again(resp.StatusCode):
				continue
			default:
				return nil, &httpError{status: resp.StatusCode, message: messageOf(body)}
			}
		}
		if attempt >= c.cfg.retries {
			return nil, fmt.Errorf("giving up after %d tries: %w", attempt+1, last)
		}
		d := c.cfg.backoff << attempt
		if d > c.cfg.maxBackoff || d <= 0 {
			d = c.cfg.maxBackoff
		}
		d = d/2 + rand.N(d/2+1) // jitter: from half to all of it
		t := time.NewTimer(max(d, wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// messageOf returns the "message" of an error answer, if it has one.
func messageOf(body []byte) string {
	var v struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &v) == nil {
		return v.Message
	}
	return ""
}
