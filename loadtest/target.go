package loadtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// Target is what a run loads: the engine in process or the HTTP API. Its
// methods are safe for concurrent use.
type Target interface {
	// Name says what the target is, for the report: "engine" or "http".
	Name() string
	// Ingest applies a batch of events.
	Ingest(ctx context.Context, b *Batch) error
	// Query returns one page of abandoned baskets: how many it holds and
	// the cursor that continues it, empty on the last page.
	Query(ctx context.Context, q basket.Query) (items int, cursor string, err error)
	// Feed returns one page of the abandonment feed after position after:
	// how many baskets it holds and the position to continue from.
	Feed(ctx context.Context, after uint64, limit int) (items int, next uint64, err error)
}

// EngineTarget is the engine in process: operations are function calls.
type EngineTarget struct {
	Engine *basket.Engine
}

// Name implements Target.
func (EngineTarget) Name() string { return "engine" }

// Ingest implements Target. The batch must hold its events (not NDJSON).
func (t EngineTarget) Ingest(ctx context.Context, b *Batch) error {
	if b.Events == nil && b.Len > 0 {
		return errors.New("loadtest: the engine target needs events, not NDJSON")
	}
	_, err := t.Engine.Apply(ctx, b.Events...)
	return err
}

// Query implements Target.
func (t EngineTarget) Query(ctx context.Context, q basket.Query) (int, string, error) {
	p, err := t.Engine.Abandoned(ctx, q)
	return len(p.Items), p.Cursor, err
}

// Feed implements Target.
func (t EngineTarget) Feed(ctx context.Context, after uint64, limit int) (int, uint64, error) {
	p, err := t.Engine.Feed(ctx, after, limit)
	return len(p.Items), p.Next, err
}

// StatusError is an HTTP answer other than 200.
type StatusError struct {
	Code int
}

// Error returns "HTTP <code>".
func (e *StatusError) Error() string { return "HTTP " + strconv.Itoa(e.Code) }

// ErrNotLoopback is the error of an HTTP target whose host is not a
// loopback address, unless HTTPOptions.AllowRemote says otherwise.
var ErrNotLoopback = errors.New("not a loopback address")

// HTTPOptions configure an HTTPTarget. A nil *HTTPOptions means the
// defaults.
type HTTPOptions struct {
	// Token is sent as "Authorization: Bearer <Token>". Default none.
	Token string
	// Conns is the most connections kept open to the server, all
	// keep-alive. Default 64.
	Conns int
	// AllowRemote allows a host that is not a loopback address. Default
	// false: only 127.0.0.0/8, ::1 and localhost.
	AllowRemote bool
	// Host, if set, is the Host header of every request: the environment
	// of a server that holds several, when the URL does not name it.
	Host string
}

// HTTPTarget is the HTTP API of a server, reached with one keep-alive
// client. Answers are read whole; pages are not decoded, only scanned for
// their count of baskets, cursor and feed position, so that the client
// costs little beside the server.
type HTTPTarget struct {
	base   string // without a trailing slash
	host   string // the Host header, if not the URL's
	bearer string
	client *http.Client
	bufs   sync.Pool // *bytes.Buffer
}

// NewHTTPTarget returns a target that loads the server at base, such as
// http://127.0.0.1:8080.
func NewHTTPTarget(base string, opts *HTTPOptions) (*HTTPTarget, error) {
	var o HTTPOptions
	if opts != nil {
		o = *opts
	}
	if o.Conns <= 0 {
		o.Conns = 64
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("loadtest: URL %q: want http://host:port", truncate(base))
	}
	if !o.AllowRemote && !IsLoopback(u.Hostname()) {
		return nil, fmt.Errorf("loadtest: URL host %q: %w", truncate(u.Hostname()), ErrNotLoopback)
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        o.Conns,
		MaxIdleConnsPerHost: o.Conns,
		MaxConnsPerHost:     o.Conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	t := &HTTPTarget{
		base:   u.Scheme + "://" + u.Host + trimSlash(u.Path),
		host:   o.Host,
		client: &http.Client{Transport: tr},
	}
	if o.Token != "" {
		t.bearer = "Bearer " + o.Token
	}
	t.bufs.New = func() any { return new(bytes.Buffer) }
	return t, nil
}

func trimSlash(p string) string {
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

// IsLoopback reports whether host is "localhost" or a loopback IP address.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Name implements Target.
func (*HTTPTarget) Name() string { return "http" }

// Close closes the client's idle connections.
func (t *HTTPTarget) Close() error {
	t.client.CloseIdleConnections()
	return nil
}

// do sends a request and reads the answer into a pooled buffer, which the
// caller returns with putBuf.
func (t *HTTPTarget) do(ctx context.Context, method, u string, body []byte) (*bytes.Buffer, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if t.host != "" {
		req.Host = t.host
	}
	if t.bearer != "" {
		req.Header.Set("Authorization", t.bearer)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	buf := t.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = &StatusError{Code: resp.StatusCode}
	}
	if err != nil {
		t.bufs.Put(buf)
		return nil, err
	}
	return buf, nil
}

// Ingest implements Target: POST /api/baskets/events with the batch as
// NDJSON. The batch must hold its NDJSON (WorkloadOptions.NDJSON).
func (t *HTTPTarget) Ingest(ctx context.Context, b *Batch) error {
	if b.NDJSON == nil && b.Len > 0 {
		return errors.New("loadtest: the HTTP target needs NDJSON batches")
	}
	buf, err := t.do(ctx, http.MethodPost, t.base+"/api/baskets/events", b.NDJSON)
	if err != nil {
		return err
	}
	t.bufs.Put(buf)
	return nil
}

// Query implements Target: GET /api/checkout/abandoned.
func (t *HTTPTarget) Query(ctx context.Context, q basket.Query) (int, string, error) {
	u := make([]byte, 0, 256)
	u = append(u, t.base...)
	u = append(u, "/api/checkout/abandoned?limit="...)
	u = strconv.AppendInt(u, int64(q.Limit), 10)
	if q.Cursor != "" {
		u = append(u, "&queryMore="...)
		u = append(u, url.QueryEscape(q.Cursor)...)
	} else {
		if !q.CreatedAfter.IsZero() {
			u = append(u, "&createdAfter="...)
			u = q.CreatedAfter.UTC().AppendFormat(u, "2006-01-02T15:04:05.000Z")
		}
		if !q.CreatedBefore.IsZero() {
			u = append(u, "&createdBefore="...)
			u = q.CreatedBefore.UTC().AppendFormat(u, "2006-01-02T15:04:05.000Z")
		}
	}
	buf, err := t.do(ctx, http.MethodGet, string(u), nil)
	if err != nil {
		return 0, "", err
	}
	defer t.bufs.Put(buf)
	n, cursor := scanPage(buf.Bytes())
	return n, cursor, nil
}

// Feed implements Target: GET /api/checkout/abandoned/feed.
func (t *HTTPTarget) Feed(ctx context.Context, after uint64, limit int) (int, uint64, error) {
	u := make([]byte, 0, 128)
	u = append(u, t.base...)
	u = append(u, "/api/checkout/abandoned/feed?limit="...)
	u = strconv.AppendInt(u, int64(limit), 10)
	u = append(u, "&after="...)
	u = strconv.AppendUint(u, after, 10)
	buf, err := t.do(ctx, http.MethodGet, string(u), nil)
	if err != nil {
		return 0, 0, err
	}
	defer t.bufs.Put(buf)
	n, next, ok := scanFeed(buf.Bytes())
	if !ok {
		return n, after, errors.New("loadtest: feed answer without next")
	}
	return n, next, nil
}

var (
	// itemKey ends the key of every listed basket's recoveryLink; it
	// starts with a byte rarer than a quote, which keeps the count fast.
	itemKey   = []byte(`yLink":`)
	cursorKey = []byte(`"queryMore":{"from":"`)
	nextKey   = []byte(`"next":"`)
)

// tailIndex returns the last index of key in b, looking first in b's last
// kilobyte, where the answers put their cursor and position.
func tailIndex(b, key []byte) int {
	const tail = 1024
	if len(b) > tail {
		if i := bytes.LastIndex(b[len(b)-tail:], key); i >= 0 {
			return len(b) - tail + i
		}
	}
	return bytes.LastIndex(b, key)
}

// scanPage returns the number of baskets of a page (each listed basket
// carries a recoveryLink; keys of customer data are escaped strings and
// cannot match) and its cursor.
func scanPage(b []byte) (int, string) {
	n := bytes.Count(b, itemKey)
	i := tailIndex(b, cursorKey)
	if i < 0 {
		return n, ""
	}
	rest := b[i+len(cursorKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return n, ""
	}
	return n, string(rest[:j])
}

// scanFeed returns the number of baskets of a feed page and its next
// position.
func scanFeed(b []byte) (int, uint64, bool) {
	n := bytes.Count(b, itemKey)
	i := tailIndex(b, nextKey)
	if i < 0 {
		return n, 0, false
	}
	rest := b[i+len(nextKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return n, 0, false
	}
	next, err := strconv.ParseUint(string(rest[:j]), 10, 64)
	return n, next, err == nil
}

// Server is an HTTP API server the load tester starts itself, over an
// engine of its own, on a loopback port.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:<port>.
	URL string
	// Token is the static API token the server accepts; never print it.
	Token string
	// Engine is the engine the server serves.
	Engine *basket.Engine

	cancel    context.CancelFunc
	done      chan error
	closeOnce sync.Once
	err       error
}

// StartServer starts the HTTP API on 127.0.0.1 on a free port, over a new
// in-memory engine that keeps baskets forever, with a random static token.
// Close stops it and closes the engine.
func StartServer(ctx context.Context) (*Server, error) {
	tok := make([]byte, 24)
	if _, err := rand.Read(tok); err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(tok)
	eng, err := basket.New(&basket.Options{TTL: basket.NoExpiry})
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	srv, err := httpapi.New(eng, &httpapi.Options{APITokens: []string{token}, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		eng.Close()
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		eng.Close()
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{
		URL:    "http://" + ln.Addr().String(),
		Token:  token,
		Engine: eng,
		cancel: cancel,
		done:   make(chan error, 1),
	}
	go func() { s.done <- srv.Serve(sctx, ln) }()
	return s, nil
}

// Close stops the server, waits for it, and closes its engine. It is
// idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		err := <-s.done
		if errors.Is(err, http.ErrServerClosed) || errors.Is(err, context.Canceled) {
			err = nil
		}
		s.err = errors.Join(err, s.Engine.Close())
	})
	return s.err
}
