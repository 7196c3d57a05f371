package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Defaults of ClientOptions.
const (
	DefaultClientRetries    = 3
	DefaultClientMinBackoff = 250 * time.Millisecond
	DefaultClientMaxBackoff = 10 * time.Second
	DefaultClientTimeout    = 30 * time.Second
)

// MaxRetryAfter is the longest Retry-After a Client waits for: a server
// that asks for a longer wait ends the retries at once, with its answer.
const MaxRetryAfter = time.Minute

// maxAnswer bounds the body of a successful answer read; maxErrorAnswer
// that of an error answer.
const (
	maxAnswer      = 64 << 20
	maxErrorAnswer = 64 << 10
)

// The paths of the endpoints a Client calls.
const (
	pathAbandoned   = "/api/checkout/abandoned"
	pathFeed        = "/api/checkout/abandoned/feed"
	pathCustomer    = "/api/checkout/customer"
	pathSuppression = "/api/checkout/suppression"
	pathEvents      = "/api/baskets/events"
	pathToken       = "/oauth2/token"
	pathHealth      = "/healthz"
)

// ClientOptions configure a Client. A nil *ClientOptions means the
// defaults, which send no credentials: give Token, or ClientID and
// ClientSecret.
type ClientOptions struct {
	// Token is a static bearer token: an API token of the server (which
	// holds every scope) or an access token. Default none.
	Token string

	// ClientID and ClientSecret, if set, obtain access tokens with the
	// OAuth2 client-credentials grant from the server's POST /oauth2/token
	// (through golang.org/x/oauth2/clientcredentials), instead of Token.
	// A token is reused until it expires, and obtained again once if the
	// server refuses it (a restarted server may have new keys). Default
	// none.
	ClientID, ClientSecret string

	// Scopes are the scopes asked of the token endpoint ("checkout",
	// "ingest"). Default none: every scope the client is allowed.
	Scopes []string

	// IngestPath is the path of the ingest endpoint under each base URL.
	// Default "/api/baskets/events"; a proxy may put it elsewhere.
	IngestPath string

	// HTTPClient sends the requests. Default: a client with a
	// DefaultClientTimeout (30 s) limit per request.
	HTTPClient *http.Client

	// Retries is how many times a request that is safe to repeat is tried
	// again after a failed exchange, a 5xx or a 429; with several base URLs,
	// at least once on each other one. Other answers are never retried.
	// Default DefaultClientRetries (3); negative: none beyond the other
	// URLs.
	Retries int

	// MinBackoff and MaxBackoff bound the wait before a retry: it is drawn
	// at random from zero to MinBackoff doubled at each retry, at most
	// MaxBackoff ("full jitter"), or the server's Retry-After if that is
	// longer. A retry on a URL this request has not tried yet goes at once.
	// Defaults DefaultClientMinBackoff (250 ms) and DefaultClientMaxBackoff
	// (10 s).
	MinBackoff, MaxBackoff time.Duration

	// OnRetry, if set, is called before each retry with the number of the
	// try that failed (from 1), why, and the wait before the next. Default
	// nil.
	OnRetry func(try int, err error, wait time.Duration)

	// Sleep waits d, or until ctx is done and then returns its error.
	// Default: a timer. Tests replace it so that no test waits.
	Sleep func(ctx context.Context, d time.Duration) error

	// Now is the clock that reads a Retry-After given as a date. Default
	// time.Now.
	Now func() time.Time

	// Host, if set, is the Host header of every request (the token
	// endpoint's too): the environment of a server that holds several,
	// reached by an address that does not name it (127.0.0.1, a load
	// balancer). Default: the base URL's host.
	Host string
}

// Client calls the HTTP API of a server, or of the nodes of a cluster: it
// retries what another try may mend, authenticates, and decodes answers
// into the basket package's types and errors into *APIError. It is safe
// for concurrent use.
//
// With several base URLs, requests go to one node until an exchange with
// it fails (no answer, a 5xx, a 429); the request then goes to the next
// node, where this and later requests stay.
type Client struct {
	nodes  []string // base URLs, without a trailing slash
	node   atomic.Uint32
	http   *http.Client
	opts   ClientOptions
	ingest string // the ingest endpoint's path
	bearer string // "Bearer " + Token, or ""

	// secrets are what an error message must never show.
	secrets []string

	// tokenLock guards token: a send holds it while a token is obtained,
	// so that concurrent requests wait for one exchange. It is a channel so
	// that the wait gives up with its context.
	tokenLock chan struct{}
	token     *oauth2.Token
}

// NewClient returns a client of the server at urls: a base URL such as
// http://127.0.0.1:8080 (a path in it prefixes every endpoint's), or the
// base URLs of several nodes, comma-separated.
func NewClient(urls string, opts *ClientOptions) (*Client, error) {
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	c := &Client{opts: o, tokenLock: make(chan struct{}, 1)}
	parts := strings.Split(urls, ",")
	for i, s := range parts {
		base, err := url.Parse(strings.TrimRight(strings.TrimSpace(s), "/"))
		what := "URL"
		if len(parts) > 1 {
			what = fmt.Sprintf("URL %d of %d", i+1, len(parts))
		}
		switch {
		case err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "":
			return nil, fmt.Errorf("httpapi: client %s: want an http(s) URL such as http://127.0.0.1:8080, or several comma-separated", what)
		case base.User != nil:
			return nil, fmt.Errorf("httpapi: client %s: holds credentials: give them as a token or client credentials, not in the URL", what)
		case base.RawQuery != "" || base.Fragment != "":
			return nil, fmt.Errorf("httpapi: client %s: want a base URL without a query or a fragment", what)
		}
		c.nodes = append(c.nodes, base.String())
	}
	if len(c.nodes) > 64 {
		return nil, fmt.Errorf("httpapi: client: %d URLs; at most 64", len(c.nodes))
	}
	for _, f := range []struct{ name, v string }{{"Token", o.Token}, {"ClientID", o.ClientID}, {"ClientSecret", o.ClientSecret}} {
		if strings.ContainsFunc(f.v, unicode.IsControl) {
			return nil, fmt.Errorf("httpapi: client %s holds a control character", f.name)
		}
	}
	switch {
	case o.Token != "" && o.ClientID != "":
		return nil, errors.New("httpapi: client: give Token or ClientID, not both")
	case (o.ClientID == "") != (o.ClientSecret == ""):
		return nil, errors.New("httpapi: client: ClientID and ClientSecret go together")
	}
	if o.Token != "" {
		c.bearer = "Bearer " + o.Token
		c.secrets = append(c.secrets, o.Token)
	}
	if o.ClientSecret != "" {
		c.secrets = append(c.secrets, o.ClientSecret)
	}
	if o.Retries == 0 {
		o.Retries = DefaultClientRetries
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultClientMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = max(DefaultClientMaxBackoff, o.MinBackoff)
	}
	if o.MinBackoff < 0 || o.MaxBackoff < o.MinBackoff {
		return nil, fmt.Errorf("httpapi: client backoff from %v to %v is not a range", o.MinBackoff, o.MaxBackoff)
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c.ingest = pathEvents
	if o.IngestPath != "" {
		if !strings.HasPrefix(o.IngestPath, "/") || strings.ContainsAny(o.IngestPath, "?#") {
			return nil, errors.New("httpapi: client IngestPath: want a path starting with / without a query")
		}
		c.ingest = o.IngestPath
	}
	c.http = o.HTTPClient
	if c.http == nil {
		c.http = &http.Client{Timeout: DefaultClientTimeout}
	}
	if o.Host != "" {
		if _, ok := NormalizeHost(o.Host); !ok {
			return nil, fmt.Errorf("httpapi: client Host %q: not a host name", o.Host)
		}
		hc := *c.http
		hc.Transport = hostTransport{host: o.Host, rt: hc.Transport}
		c.http = &hc
	}
	c.opts = o
	return c, nil
}

// hostTransport sends every request with its Host header.
type hostTransport struct {
	host string
	rt   http.RoundTripper // nil: http.DefaultTransport
}

func (t hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Host = t.host
	rt := t.rt
	if rt == nil {
		rt = http.DefaultTransport
	}
	return rt.RoundTrip(r)
}

// URLs returns the base URLs, in their order.
func (c *Client) URLs() []string { return append([]string(nil), c.nodes...) }

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// request is one call of the API.
type request struct {
	method, path string
	query        string // encoded, without '?'
	body         []byte
	contentType  string
	// once: tried on one node, never again (a probe reports what it sees).
	once bool
}

// send makes the request, retrying as ClientOptions say, and returns the
// body of a 2xx answer.
func (c *Client) send(ctx context.Context, r *request) ([]byte, error) {
	n := len(c.nodes)
	tries := 1
	if !r.once {
		tries += max(c.opts.Retries, n-1, 0)
	}
	var tried uint64 // nodes this request tried, a bit each
	renewed := false // the access token was obtained again after a 401
	backoffs := 0    // waits so far
	for try := 1; ; try++ {
		node := int(c.node.Load()) % n
		tried |= 1 << node
		body, auth, err := c.try(ctx, node, r)
		if err == nil {
			return body, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ae *APIError
		isAPI := errors.As(err, &ae)
		if isAPI && ae.Status == http.StatusUnauthorized && c.opts.ClientID != "" && !renewed && ae.Path != pathToken {
			// The access token may have expired early, or the server
			// restarted with other keys: obtain another, once.
			renewed = true
			c.dropToken(auth)
			try--
			continue
		}
		if !retryable(err) || try >= tries {
			if try > 1 && retryable(err) {
				return nil, fmt.Errorf("giving up after %d tries: %w", try, err)
			}
			return nil, err
		}
		// The node failed: the next one, for this request and later ones.
		next := (node + 1) % n
		if n > 1 {
			c.node.CompareAndSwap(uint32(node), uint32(next))
			next = int(c.node.Load()) % n
		}
		var wait time.Duration
		if tried&(1<<next) == 0 {
			wait = 0 // another node may answer at once
		} else {
			d := c.opts.MinBackoff << min(backoffs, 30)
			if d <= 0 || d > c.opts.MaxBackoff {
				d = c.opts.MaxBackoff
			}
			wait = rand.N(d + 1)
			backoffs++
			if isAPI && ae.RetryAfter > 0 {
				if ae.RetryAfter > MaxRetryAfter {
					return nil, fmt.Errorf("the server asks to retry in %v, longer than a client waits: %w", ae.RetryAfter, err)
				}
				wait = max(wait, ae.RetryAfter)
			}
		}
		if dl, ok := ctx.Deadline(); ok && wait > 0 && dl.Sub(c.opts.Now()) < wait {
			return nil, fmt.Errorf("giving up after %d tries, the next not before the deadline: %w", try, err)
		}
		if c.opts.OnRetry != nil {
			c.opts.OnRetry(try, err, wait)
		}
		if err := c.opts.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// retryable reports whether another try may mend err: a failed exchange,
// a 5xx or a 429.
func retryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Status == http.StatusTooManyRequests
	}
	var te *TransportError
	return errors.As(err, &te)
}

// try makes one exchange with a node. It returns the Authorization
// header it sent.
func (c *Client) try(ctx context.Context, node int, r *request) (body []byte, auth string, err error) {
	base := c.nodes[node]
	if auth, err = c.authorization(ctx, base); err != nil {
		return nil, "", err
	}
	body, err = c.exchange(ctx, base, auth, r)
	return body, auth, err
}

// exchange sends the request to base with the Authorization header auth.
func (c *Client) exchange(ctx context.Context, base, auth string, r *request) ([]byte, error) {
	u := base + r.path
	if r.query != "" {
		u += "?" + r.query
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %s %s: %w", r.method, r.path, err)
	}
	req.Header.Set("Accept", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transport(r.method, r.path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
		if err != nil {
			return nil, c.transport(r.method, r.path, err)
		}
		if len(data) > maxAnswer {
			return nil, fmt.Errorf("%w: %s %s: the answer is larger than %d bytes", ErrBadAnswer, r.method, r.path, maxAnswer)
		}
		return data, nil
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorAnswer))
	return nil, c.answerError(r.path, resp.StatusCode, resp.Header, data)
}

// TransportError is an exchange that brought no whole answer: the
// connection failed or broke, or the request timed out. It never shows the
// URL, whose query may hold an email.
type TransportError struct {
	Method, Path string // the request's method and path, never its query
	Err          error  // what went wrong, cleaned of the client's secrets
}

// Error returns "<method> <path>: no answer: <Err>".
func (e *TransportError) Error() string {
	return e.Method + " " + e.Path + ": no answer: " + e.Err.Error()
}

// Unwrap returns Err.
func (e *TransportError) Unwrap() error { return e.Err }

func (c *Client) transport(method, path string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &TransportError{Method: method, Path: path, Err: cleanError{err, c.cleanMessage(err.Error())}}
}

// cleanError is an error whose text was cleaned of secrets; it unwraps to
// the original.
type cleanError struct {
	err error
	msg string
}

func (e cleanError) Error() string { return e.msg }
func (e cleanError) Unwrap() error { return e.err }

// authorization returns the Authorization header for a request to base.
func (c *Client) authorization(ctx context.Context, base string) (string, error) {
	if c.opts.ClientID == "" {
		return c.bearer, nil
	}
	select {
	case c.tokenLock <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-c.tokenLock }()
	if c.token.Valid() {
		return "Bearer " + c.token.AccessToken, nil
	}
	cfg := clientcredentials.Config{
		ClientID:     c.opts.ClientID,
		ClientSecret: c.opts.ClientSecret,
		TokenURL:     base + pathToken,
		Scopes:       c.opts.Scopes,
		// The server takes both; one style, so that a wrong secret is
		// one failure, not two.
		AuthStyle: oauth2.AuthStyleInHeader,
	}
	tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, c.http))
	if err != nil {
		return "", c.tokenError(err)
	}
	if !strings.EqualFold(tok.Type(), "bearer") {
		return "", fmt.Errorf("obtaining an access token: %w: token_type %q, not Bearer", ErrBadAnswer, truncate(tok.Type()))
	}
	c.token = tok
	return "Bearer " + tok.AccessToken, nil
}

// dropToken forgets the access token that made the Authorization header
// auth, so that the next request obtains another; a token obtained since
// stays.
func (c *Client) dropToken(auth string) {
	c.tokenLock <- struct{}{}
	if c.token != nil && "Bearer "+c.token.AccessToken == auth {
		c.token = nil
	}
	<-c.tokenLock
}

// tokenError describes a failed token request: an *APIError for an answer.
func (c *Client) tokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		ae := c.answerError(pathToken, re.Response.StatusCode, re.Response.Header, re.Body)
		if ae.Message == "" && re.ErrorCode != "" {
			ae.Message = c.cleanMessage(re.ErrorCode)
		}
		return fmt.Errorf("obtaining an access token: %w", ae)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("obtaining an access token: %w", c.transport(http.MethodPost, pathToken, err))
	}
	return fmt.Errorf("obtaining an access token: %w", cleanError{err, c.cleanMessage(err.Error())})
}

// parseRetryAfter reads a Retry-After header: seconds, or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, 1<<20)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// cleanMessage makes text from outside fit for an error message: at most
// 200 characters, control characters as spaces, and nothing that looks like
// an email, nor any secret of the client.
func (c *Client) cleanMessage(s string) string {
	for _, sec := range c.secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return printableMessage(redactEmails(s))
}

// redactEmails replaces every word holding an '@' between other
// characters, as an email does, with "[email]".
func redactEmails(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	var b strings.Builder
	word := func(w string) {
		if strings.Contains(strings.Trim(w, "@."), "@") {
			b.WriteString("[email]")
		} else {
			b.WriteString(w)
		}
	}
	start := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(wordBreaks, r) {
			word(s[start:i])
			b.WriteString(s[i : i+size])
			start = i + size
		}
		i += size
	}
	word(s[start:])
	return b.String()
}

// wordBreaks end a word for redactEmails, beside spaces and control
// characters.
const wordBreaks = "\"'<>()[]{},;:`"

// printableMessage shortens s to 200 characters, makes control characters
// spaces and trims it.
func printableMessage(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == 200 {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffd {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

// truncate shortens a value of outside origin for an error message.
func truncate(s string) string {
	if len(s) > 40 {
		return printableMessage(s[:40]) + "…"
	}
	return printableMessage(s)
}
