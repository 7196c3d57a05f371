package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"
)

// SampleOptions configure SendSample. A nil *SampleOptions means the
// defaults.
type SampleOptions struct {
	// AllowPrivate lets the endpoint be on a loopback or private network.
	AllowPrivate bool
	// Timeout is how long the endpoint has to answer. Default
	// DefaultTimeout.
	Timeout time.Duration
	// Now is the clock of the signature. Default time.Now.
	Now func() time.Time
	// Resolver looks the endpoint's host up. Default net.DefaultResolver.
	Resolver Resolver
}

// SampleResult is what an endpoint answered to a sample event.
type SampleResult struct {
	EventID string
	Body    []byte // the event sent
	Status  int    // the answer's HTTP status
	Latency time.Duration
	Answer  []byte // the answer's body, its first 64 KiB
}

// SendSample POSTs one signed basket.abandoned event of a made-up basket
// (basket-sample-…, ann@example.com) to ep, as the Deliverer would, once:
// for checking that a receiver verifies and accepts the events. Its event
// id is random (evt_sample_…). The error is about the request (refused,
// no answer in time); a non-2xx answer is a result, not an error.
func SendSample(ctx context.Context, ep Endpoint, opts *SampleOptions) (*SampleResult, error) {
	var o SampleOptions
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Resolver == nil {
		o.Resolver = defaultResolver
	}
	if _, err := ep.check(o.AllowPrivate); err != nil {
		return nil, err
	}
	g := &guard{allowPrivate: o.AllowPrivate, resolver: o.Resolver, timeout: o.Timeout}
	tr := &http.Transport{DialContext: g.DialContext, TLSHandshakeTimeout: o.Timeout, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var rnd [8]byte
	rand.Read(rnd[:])
	id := "evt_sample_" + hex.EncodeToString(rnd[:])
	now := o.Now()
	body := appendBody(nil, id, sampleChange(now))
	var answer bytes.Buffer
	res := sendOnce(ctx, c, ep.URL, ep.Secrets, id, body, now, o.Timeout, &answer)
	if res.err != nil {
		return nil, &sendError{msg: "webhook: " + Redact(ep.URL) + ": " + res.reason(o.Timeout), err: res.cause()}
	}
	return &SampleResult{EventID: id, Body: body, Status: res.status, Latency: res.latency, Answer: answer.Bytes()}, nil
}

// sendError is a request that got no answer; it unwraps to the cause
// (ErrPrivateAddress for a refused target, context.DeadlineExceeded for
// none in time).
type sendError struct {
	msg string
	err error
}

func (e *sendError) Error() string { return e.msg }
func (e *sendError) Unwrap() error { return e.err }
