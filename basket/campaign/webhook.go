package campaign

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync/atomic"
	"time"
)

// Webhook is a Sender that POSTs each message as JSON (the Message's
// fields) to an email service, with the idempotency key in the
// Idempotency-Key header: a service that honours it drops a repeat, so a
// message that may have been delivered (its answer lost, a crash) is simply
// sent again, the same. 2xx and 409 (a repeat of a key) mean delivered;
// other 4xx are final; 5xx, 429 and transport errors are retried with
// exponential backoff and jitter. The point of no return is the first
// request: once one has been written, a failure is in doubt (ErrInDoubt),
// which Resolve settles as SendAgain.
type Webhook struct {
	URL     string
	Token   string       // sent as "Authorization: Bearer <Token>" if set
	Client  *http.Client // default: a 30 s timeout
	Retries int          // retries after the first attempt; default 3; negative: none
	Backoff time.Duration
	// Backoff is the first retry's wait, doubled each time up to 30 s;
	// default 500 ms.
}

// Send posts m.
func (w *Webhook) Send(ctx context.Context, m *Message, commit func() error) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	retries := w.Retries
	switch {
	case retries == 0:
		retries = 3
	case retries < 0:
		retries = 0
	}
	backoff := w.Backoff
	if backoff <= 0 {
		backoff = 500 * time.Millisecond
	}
	if err := commit(); err != nil {
		return err
	}
	// maybe: a request was written whose answer did not say it was not
	// taken; the service may have delivered the message.
	var last error
	maybe := false
	fail := func(err error) error {
		if maybe {
			return &SendError{"webhook", "post", fmt.Errorf("%w: %v", ErrInDoubt, err)}
		}
		return err
	}
	for attempt := 0; ; attempt++ {
		var wrote atomic.Bool
		trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				wrote.Store(true)
			}
		}}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, w.URL, bytes.NewReader(body))
		if err != nil {
			return &SendError{"webhook", "request", fmt.Errorf("%w: %v", ErrRejected, err)}
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", m.Key)
		if w.Token != "" {
			req.Header.Set("Authorization", "Bearer "+w.Token)
		}
		var wait time.Duration
		resp, err := client.Do(req)
		if err != nil {
			maybe = maybe || wrote.Load()
			if ctx.Err() != nil {
				return fail(ctx.Err())
			}
			last = &SendError{"webhook", "post", fmt.Errorf("request failed")}
		} else {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) //nolint:errcheck // only to reuse the connection
			resp.Body.Close()
			switch s := resp.StatusCode; {
			case s >= 200 && s < 300, s == http.StatusConflict:
				return nil
			case s >= 500 || s == http.StatusTooManyRequests || s == http.StatusRequestTimeout:
				// A 5xx may come after the service took the message.
				maybe = maybe || s >= 500
				last = &SendError{"webhook", "post", fmt.Errorf("service answered %d", s)}
				if sec, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && sec > 0 {
					wait = min(time.Duration(sec)*time.Second, time.Minute)
				}
			default:
				return &SendError{"webhook", "post", fmt.Errorf("%w: service answered %d", ErrRejected, s)}
			}
		}
		if attempt >= retries {
			return fail(last)
		}
		d := min(backoff<<attempt, 30*time.Second)
		d = d/2 + rand.N(d/2+1)
		t := time.NewTimer(max(d, wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return fail(ctx.Err())
		case <-t.C:
		}
	}
}

// Resolve says SendAgain: the service drops a repeat of the key.
func (w *Webhook) Resolve(context.Context, *Message, bool) (Resolution, error) { return SendAgain, nil }
