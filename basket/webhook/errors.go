package webhook

import (
	"errors"
	"fmt"
)

// Errors of configuration. An *EndpointError unwraps to ErrInvalidEndpoint.
var (
	// ErrInvalidEndpoint means an endpoint's URL, secrets or event types
	// are not acceptable. Nothing was started.
	ErrInvalidEndpoint = errors.New("invalid webhook endpoint")
)

// Errors of delivery.
var (
	// ErrPrivateAddress means a target's address is on a loopback,
	// private, link-local, multicast or otherwise internal network, and
	// Options.AllowPrivate is false. It is decided where the connection is
	// made, on the address actually dialled, so that no name can resolve
	// its way inside.
	ErrPrivateAddress = errors.New("address on a loopback, private or internal network refused")

	// ErrUnknownEndpoint means no configured endpoint has the URL or id.
	ErrUnknownEndpoint = errors.New("no such webhook endpoint")

	// ErrClosed is returned by a Deliverer's methods after Close.
	ErrClosed = errors.New("webhook deliverer closed")
)

// Errors of Verify, for receivers. None of them says which secret was
// tried.
var (
	// ErrSignatureMalformed means the Abandoned-Signature header is not
	// t=<unix seconds>,v1=<hex>[,v1=<hex>…].
	ErrSignatureMalformed = errors.New("malformed Abandoned-Signature header")

	// ErrSignatureMismatch means no v1 of the header is the body's
	// signature with the secret: the body was changed, or signed with
	// another secret.
	ErrSignatureMismatch = errors.New("no signature of the Abandoned-Signature header matches")

	// ErrSignatureExpired means the header's t lies further from now than
	// the tolerance: a request replayed later, or a clock far off.
	ErrSignatureExpired = errors.New("the Abandoned-Signature timestamp is outside the tolerance")
)

// EndpointError reports an endpoint that cannot be configured. URL is
// shown without its user information or query, which may hold a secret.
// It unwraps to ErrInvalidEndpoint, and to ErrPrivateAddress for a literal
// address that is refused.
type EndpointError struct {
	URL    string // redacted
	Field  string // "url", "secrets" or "events"
	Reason string
	Err    error // ErrInvalidEndpoint or ErrPrivateAddress
}

func (e *EndpointError) Error() string {
	if e.URL == "" {
		return fmt.Sprintf("webhook endpoint: %s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("webhook endpoint %s: %s: %s", e.URL, e.Field, e.Reason)
}

// Unwrap returns the sentinels the error is.
func (e *EndpointError) Unwrap() []error {
	if e.Err == nil || e.Err == ErrInvalidEndpoint {
		return []error{ErrInvalidEndpoint}
	}
	return []error{ErrInvalidEndpoint, e.Err}
}
