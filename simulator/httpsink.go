package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// IngestPath is the path of the ingest endpoint.
const IngestPath = "/api/baskets/events"

// HTTPOptions configure an HTTPSink. A nil *HTTPOptions means the defaults.
type HTTPOptions struct {
	// Token is sent as "Authorization: Bearer <Token>". Default none.
	Token string
	// BatchSize is the most events per POST. Default 1000.
	BatchSize int
	// MaxAttempts bounds the tries of one POST, the first included; with
	// several URLs, each is tried at least once. Default 5.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait between tries: drawn at
	// random up to MinBackoff doubled at each try, at most MaxBackoff, or
	// the server's Retry-After if longer. Defaults 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// Client sends the requests. Default: a client with a 30 s timeout.
	Client *http.Client
	// Host, if set, is the Host header of every request: the environment
	// of a server that holds several, when the target URL does not name
	// it.
	Host string
}

// HTTPSink posts events to the ingest endpoint as NDJSON, in batches,
// through an httpapi.Client. A batch that fails with a network error, 429
// or a 5xx is retried with backoff (a re-sent batch is harmless: the
// engine ignores events it has applied); any other answer is an
// *IngestError. Events reach the server in order, one request at a time.
type HTTPSink struct {
	url    string
	api    *httpapi.Client
	opts   HTTPOptions
	buf    bytes.Buffer
	n      int // events in buf
	posts  int64
	tries  int64
	events int64
}

// IngestError is an answer of the ingest endpoint that retrying will not
// change, or the last answer after every try failed. It unwraps to the
// client's error (an *httpapi.APIError for an answer).
type IngestError struct {
	Status  int    // the HTTP status, 0 for a network error
	Message string // the server's message, if any
	Index   int    // the offending event's index in the batch; -1 if none
	Offset  int64  // the batch's first event, counted from the start of the run

	err error
}

// Error describes the answer: the status, the server's message and the
// offending event, if the server named one.
func (e *IngestError) Error() string {
	var b strings.Builder
	if e.Status == 0 {
		b.WriteString("ingest: no answer")
	} else {
		fmt.Fprintf(&b, "ingest: HTTP %d", e.Status)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Index >= 0 {
		fmt.Fprintf(&b, " (event %d of the batch, %d of the run)", e.Index, e.Offset+int64(e.Index))
	}
	return b.String()
}

// Unwrap returns the client's error.
func (e *IngestError) Unwrap() error { return e.err }

// NewHTTPSink returns a sink that posts to target: a server's base URL
// (http://127.0.0.1:8080), to which IngestPath is added, or the full URL of
// an ingest endpoint; or several of either, comma-separated, the nodes of
// a cluster (a batch that fails on one goes to the next).
func NewHTTPSink(target string, opts *HTTPOptions) (*HTTPSink, error) {
	var bases []string
	path, first := "", ""
	for i, t := range strings.Split(target, ",") {
		t = strings.TrimSpace(t)
		u, err := url.Parse(t)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("ingest target %q is not an http(s) URL", truncate(t))
		}
		if u.User != nil {
			return nil, errors.New("ingest target: put credentials in the token, not the URL")
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = IngestPath
		}
		if i > 0 && u.Path != path {
			return nil, errors.New("ingest target: the URLs name different paths")
		}
		path = u.Path
		if first == "" {
			first = u.String()
		}
		u.Path, u.RawPath = "", ""
		bases = append(bases, u.String())
	}
	var o HTTPOptions
	if opts != nil {
		o = *opts
	}
	if o.BatchSize == 0 {
		o.BatchSize = 1000
	}
	if o.BatchSize < 1 || o.BatchSize > 1e6 {
		return nil, fmt.Errorf("ingest batch size %d is not from 1 to 1000000", o.BatchSize)
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 5
	}
	if o.MaxAttempts < 1 || o.MaxAttempts > 100 {
		return nil, fmt.Errorf("ingest attempts %d is not from 1 to 100", o.MaxAttempts)
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.MinBackoff < 0 || o.MaxBackoff < o.MinBackoff {
		return nil, fmt.Errorf("ingest backoff from %v to %v is not a range", o.MinBackoff, o.MaxBackoff)
	}
	if strings.ContainsAny(o.Token, "\r\n") {
		return nil, errors.New("ingest token contains a line break")
	}
	s := &HTTPSink{url: first, opts: o}
	retries := o.MaxAttempts - 1
	if retries == 0 {
		retries = -1 // none
	}
	api, err := httpapi.NewClient(strings.Join(bases, ","), &httpapi.ClientOptions{
		Token: o.Token, IngestPath: path, HTTPClient: o.Client, Host: o.Host,
		Retries: retries, MinBackoff: o.MinBackoff, MaxBackoff: o.MaxBackoff,
		OnRetry: func(int, error, time.Duration) { s.tries++ },
	})
	if err != nil {
		return nil, fmt.Errorf("ingest target: %w", err)
	}
	s.api = api
	return s, nil
}

// URL returns the endpoint the sink posts to (the first, with several).
func (s *HTTPSink) URL() string { return s.url }

// Stats returns the requests that succeeded, the tries made and the events
// the server accepted.
func (s *HTTPSink) Stats() (posts, tries, events int64) { return s.posts, s.tries, s.events }

// Write encodes the events and posts every full batch.
func (s *HTTPSink) Write(ctx context.Context, events []basket.Event) error {
	enc := json.NewEncoder(&s.buf)
	for i := range events {
		if err := enc.Encode(&events[i]); err != nil {
			return err
		}
		s.n++
		if s.n >= s.opts.BatchSize {
			if err := s.post(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// Flush posts what is buffered.
func (s *HTTPSink) Flush(ctx context.Context) error {
	if s.n == 0 {
		return nil
	}
	return s.post(ctx)
}

// post sends the buffered batch; the client retries what may succeed
// later.
func (s *HTTPSink) post(ctx context.Context) error {
	before := s.tries
	s.tries++
	res, err := s.api.Ingest(ctx, s.buf.Bytes())
	tries := s.tries - before
	if err == nil && res.Applied != s.n {
		err = &IngestError{Status: http.StatusOK, Message: fmt.Sprintf("the server applied %d of %d events", res.Applied, s.n), Index: -1}
	}
	if err == nil {
		s.posts++
		s.events += int64(s.n)
		s.buf.Reset()
		s.n = 0
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	ie, ok := err.(*IngestError)
	if !ok {
		ie = ingestError(err)
	}
	ie.Offset = s.events
	if tries > 1 {
		return fmt.Errorf("after %d tries: %w", tries, ie)
	}
	return ie
}

// ingestError describes an error of the client as an *IngestError.
func ingestError(err error) *IngestError {
	ie := &IngestError{Index: -1, err: err}
	var ae *httpapi.APIError
	var te *httpapi.TransportError
	switch {
	case errors.As(err, &ae):
		ie.Status, ie.Message, ie.Index = ae.Status, ae.Message, ae.Index
		if ie.Message == "" {
			ie.Message = http.StatusText(ae.Status)
		}
	case errors.Is(err, httpapi.ErrBadAnswer):
		ie.Status, ie.Message = http.StatusOK, err.Error()
	case errors.As(err, &te):
		ie.Message = te.Err.Error()
	default:
		ie.Message = err.Error()
	}
	return ie
}
