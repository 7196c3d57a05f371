package basket

import (
	"errors"
	"fmt"
)

// Errors of applying events. A *TransitionError or *EventError unwraps to one
// of these.
var (
	// ErrInvalidEvent means an event is malformed: a field is missing or has
	// a bad value. Nothing of its batch was applied.
	ErrInvalidEvent = errors.New("invalid event")

	// ErrUnknownBasket means an event names a basket that was never created
	// or was erased.
	ErrUnknownBasket = errors.New("unknown basket")

	// ErrConflict means a second created event for a basket differs from the
	// first.
	ErrConflict = errors.New("basket already created with different content")

	// ErrCompleted means an event arrived for a basket whose order was
	// already completed.
	ErrCompleted = errors.New("basket already completed")

	// ErrExpired means an event arrived for a basket past its time to live.
	ErrExpired = errors.New("basket expired")
)

// Errors of queries and cursors. A *QueryError unwraps to one of these.
var (
	// ErrInvalidQuery means a query parameter is out of range or malformed.
	ErrInvalidQuery = errors.New("invalid query")

	// ErrInvalidCursor means a cursor is malformed, truncated, tampered with,
	// or was issued by another environment.
	ErrInvalidCursor = errors.New("invalid cursor")

	// ErrCursorMismatch means filters given beside a cursor differ from the
	// query the cursor continues.
	ErrCursorMismatch = errors.New("filters do not match the cursor's query")
)

// Errors of recovery tokens. Callers that face the public must not tell them
// apart beyond the status the product contract gives each.
var (
	// ErrTokenMissing means no recovery token was presented.
	ErrTokenMissing = errors.New("recovery token missing")

	// ErrTokenInvalid means a recovery token is malformed, tampered with,
	// signed by an unknown key, issued for another basket or purpose, or
	// revoked.
	ErrTokenInvalid = errors.New("recovery token invalid")

	// ErrTokenExpired means a recovery token is authentic but past its expiry.
	ErrTokenExpired = errors.New("recovery token expired")
)

// Errors of reads and of the engine as a whole.
var (
	// ErrNotFound means no basket has the id: it was never created, or it
	// was purged or erased. It is never returned for a closed engine.
	ErrNotFound = errors.New("basket not found")

	// ErrStorage means a durable engine's log could not take a write: a
	// write or fsync failed. After a failed fsync the engine refuses every
	// write (what is on disk is no longer known) and serves only what is
	// durable, until it is opened again.
	ErrStorage = errors.New("storage failed")

	// ErrClosed is returned by every method of an Engine after Close, so
	// that a closed engine is never taken for an empty one.
	ErrClosed = errors.New("engine closed")
)

// EventError reports a malformed event. It unwraps to ErrInvalidEvent.
type EventError struct {
	Index  int    // the event's position in its batch
	Field  string // the offending field, as named on the wire
	Reason string // what is wrong with it
}

func (e *EventError) Error() string {
	return fmt.Sprintf("event %d: %s: %s", e.Index, e.Field, e.Reason)
}

// Unwrap returns ErrInvalidEvent.
func (e *EventError) Unwrap() error { return ErrInvalidEvent }

// TransitionError reports an event that the basket's state does not allow.
// It unwraps to ErrUnknownBasket, ErrConflict, ErrCompleted or ErrExpired.
type TransitionError struct {
	Index    int       // the event's position in its batch
	BasketID string    // the basket the event names
	State    State     // the basket's state before the event (0 if unknown)
	Event    EventType // the event's type
	Err      error     // the sentinel
}

func (e *TransitionError) Error() string {
	if e.State == 0 {
		return fmt.Sprintf("event %d: %s on basket %q: %v", e.Index, e.Event, e.BasketID, e.Err)
	}
	return fmt.Sprintf("event %d: %s on %s basket %q: %v", e.Index, e.Event, e.State, e.BasketID, e.Err)
}

// Unwrap returns the sentinel.
func (e *TransitionError) Unwrap() error { return e.Err }

// QueryError reports a bad query parameter or cursor. It unwraps to
// ErrInvalidQuery, ErrInvalidCursor or ErrCursorMismatch.
type QueryError struct {
	Param  string // the parameter, as named in the HTTP API
	Reason string
	Err    error
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("%s: %s", e.Param, e.Reason)
}

// Unwrap returns the sentinel.
func (e *QueryError) Unwrap() error { return e.Err }
