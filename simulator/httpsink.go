package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// IngestPath is the path of the ingest endpoint .
const IngestPath = "/api/baskets/events"

// HTTPOptions configure an HTTPSink. A nil *HTTPOptions means the defaults.
type HTTPOptions struct {
	// Token is sent as "Authorization: Bearer <Token>". Default none.
	Token string
	// BatchSize is the most events per POST. Default 1000.
	BatchSize int
	// MaxAttempts bounds the tries of one POST, the first included.
	// Default 5.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait between tries: it doubles
	// from MinBackoff, with jitter, up to MaxBackoff; a Retry-After header
	// is honoured up to MaxBackoff. Defaults 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// Client sends the requests. Default: a client with a 30 s timeout.
	Client *http.Client
}

// HTTPSink posts events to the ingest endpoint as NDJSON, in batches. A
// batch that fails with a network error, 408, 429 or a 5xx is retried with
// backoff (a re-sent batch is harmless: the engine ignores events it has
// applied); any other answer is an *IngestError. Events reach the server in
// order, one request at a time.
type HTTPSink struct {
	url    string
	opts   HTTPOptions
	buf    bytes.Buffer
	n      int // events in buf
	posts  int64
	tries  int64
	events int64
}

// IngestError is an answer of the ingest endpoint that retrying will not
// change, or the last answer after every try failed.
type IngestError struct {
	Status  int    // the HTTP status, 0 for a network error
	Message string // the server's message, if any
	Index   int    // the offending event's index in the batch; -1 if none
	Offset  int64  // the batch's first event, counted from the start of the run
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

// NewHTTPSink returns a sink that posts to target: a server's base URL
// (http://127.0.0.1:8080), to which IngestPath is added, or the full URL of
// an ingest endpoint.
func NewHTTPSink(target string, opts *HTTPOptions) (*HTTPSink, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("ingest target %q is not an http(s) URL", truncate(target))
	}
	if u.User != nil {
		return nil, errors.New("ingest target: put credentials in the token, not the URL")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = IngestPath
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
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	return &HTTPSink{url: u.String(), opts: o}, nil
}

// URL returns the endpoint the sink posts to.
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

// post sends the buffered batch, retrying what may succeed later.
func (s *HTTPSink) post(ctx context.Context) error {
	body := s.buf.Bytes()
	var last *IngestError
	for attempt := 1; ; attempt++ {
		s.tries++
		retryAfter, err := s.try(ctx, body)
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
		var ie *IngestError
		if !errors.As(err, &ie) {
			return err
		}
		ie.Offset = s.events
		last = ie
		if !retryable(ie.Status) || attempt >= s.opts.MaxAttempts {
			if attempt > 1 {
				return fmt.Errorf("after %d tries: %w", attempt, last)
			}
			return last
		}
		wait := s.backoff(attempt, retryAfter)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func retryable(status int) bool {
	return status == 0 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// backoff returns the wait before try attempt+1: exponential with full
// jitter in its upper half, or the server's Retry-After, within bounds.
func (s *HTTPSink) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(max(retryAfter, s.opts.MinBackoff), s.opts.MaxBackoff)
	}
	d := s.opts.MinBackoff << min(attempt-1, 30)
	if d <= 0 || d > s.opts.MaxBackoff {
		d = s.opts.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// try makes one request. It returns an *IngestError for an answer other
// than 200 and for a failed exchange, with the Retry-After asked for.
func (s *HTTPSink) try(ctx context.Context, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Accept", "application/json")
	if s.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.opts.Token)
	}
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, &IngestError{Message: networkProblem(err), Index: -1}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil && resp.StatusCode == http.StatusOK {
		return 0, &IngestError{Status: resp.StatusCode, Message: "reading the answer failed", Index: -1}
	}
	if resp.StatusCode == http.StatusOK {
		var ok struct {
			Applied *int `json:"applied"`
		}
		if json.Unmarshal(data, &ok) != nil || ok.Applied == nil {
			return 0, &IngestError{Status: resp.StatusCode, Message: `the answer is not {"applied":N}`, Index: -1}
		}
		if *ok.Applied != s.n {
			return 0, &IngestError{Status: resp.StatusCode, Message: fmt.Sprintf("the server applied %d of %d events", *ok.Applied, s.n), Index: -1}
		}
		return 0, nil
	}
	ie := parseIngestError(resp.StatusCode, data)
	return parseRetryAfter(resp.Header.Get("Retry-After")), ie
}

// parseIngestError reads an error answer, {"message":"…","index":i},
// keeping only a short, printable message.
func parseIngestError(status int, body []byte) *IngestError {
	ie := &IngestError{Status: status, Index: -1}
	var e struct {
		Message string `json:"message"`
		Index   *int   `json:"index"`
	}
	if json.Unmarshal(body, &e) == nil {
		ie.Message = printable(e.Message)
		if e.Index != nil && *e.Index >= 0 {
			ie.Index = *e.Index
		}
	}
	if ie.Message == "" {
		ie.Message = http.StatusText(status)
	}
	return ie
}

// printable shortens s to 200 characters and drops control characters.
func printable(s string) string {
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

// parseRetryAfter reads a Retry-After header given in seconds.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 || n > 3600 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// networkProblem describes a failed exchange without the URL (which the
// caller knows) or anything else from the request.
func networkProblem(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return printable(err.Error())
}
