package campaign

import (
	"errors"
	"fmt"
)

// Errors of configuration: New, Open and ParseConfig return these, wrapped
// with detail.
var (
	// ErrConfig means an option or a configuration file is invalid.
	ErrConfig = errors.New("campaign: invalid configuration")
	// ErrTemplate means a message template does not parse or does not
	// render.
	ErrTemplate = errors.New("campaign: message template")
)

// Errors of a run.
var (
	// ErrClosed means the runner was closed.
	ErrClosed = errors.New("campaign: runner closed")
	// ErrUnsupported means the source cannot answer a kind of question
	// (an HTTP source cannot look a basket up by id).
	ErrUnsupported = errors.New("campaign: not supported by this source")
	// ErrBadToken means an unsubscribe token is missing, tampered with,
	// foreign or expired.
	ErrBadToken = errors.New("campaign: invalid unsubscribe token")
)

// Errors of senders. A Sender's error wraps one of these to tell the
// runner what became of the message; an error wrapping none of them is
// taken as temporary (nothing delivered, try again later).
var (
	// ErrRejected means the message was refused for good (an SMTP 5xx
	// reply, a webhook's 4xx): sending it again would fail again.
	ErrRejected = errors.New("campaign: message rejected")
	// ErrBounced means the recipient's address was refused for good; the
	// runner adds it to the suppression list. It wraps ErrRejected.
	ErrBounced = fmt.Errorf("%w: recipient refused", ErrRejected)
	// ErrInDoubt means the message may or may not have been delivered
	// (the connection failed after the point of no return). The runner
	// asks the sender's Resolve: SendAgain sends the same message again
	// later; Unknown reports it and never sends it again.
	ErrInDoubt = errors.New("campaign: delivery in doubt")
)

// errCrash is what the test hook returns to simulate a crash.
var errCrash = errors.New("campaign: simulated crash")

// SendError is a sender's error with the stage at which it happened.
type SendError struct {
	Sender string // "smtp", "webhook", "outbox"
	Stage  string // e.g. "connect", "rcpt", "data"
	Err    error
}

func (e *SendError) Error() string {
	return fmt.Sprintf("campaign: %s sender: %s: %v", e.Sender, e.Stage, e.Err)
}

// Unwrap returns the cause.
func (e *SendError) Unwrap() error { return e.Err }
