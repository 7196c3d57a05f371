package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// ErrBadAnswer means a server's successful answer is not what the
// endpoint answers: not JSON, or without a field it always has.
var ErrBadAnswer = errors.New("unexpected answer")

// APIError is an answer of the server that is not a success. Its message
// is the server's, cleaned: at most 200 characters, no control characters,
// nothing that looks like an email, none of the client's secrets.
//
// It unwraps to the basket package's sentinel for what the server said,
// where there is one:
//
//	400 of ingest                    basket.ErrInvalidEvent
//	400 naming queryMore             basket.ErrInvalidCursor (basket.ErrCursorMismatch if filters differ)
//	400 of the query or the feed     basket.ErrInvalidQuery
//	404                              basket.ErrNotFound
//	409                              basket.ErrUnknownBasket, ErrCompleted or ErrExpired as the message says, else basket.ErrConflict
//	503 catching up                  basket.ErrCatchingUp
//	503 storage failed               basket.ErrStorage
//	503 shutting down                basket.ErrClosed
//	503 disagreeing with the log     basket.ErrDiverged
type APIError struct {
	Status  int    // the HTTP status
	Message string // the server's message, cleaned; "" if it gave none
	Index   int    // the event at fault in an ingested batch; -1 if none
	Path    string // the endpoint's path, never its query

	// RetryAfter is the wait the server asked for (Retry-After); 0 if
	// none.
	RetryAfter time.Duration

	err error // the sentinel, or nil
}

// Error returns "server answered <status>: <message>".
func (e *APIError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("server answered %d: %s", e.Status, e.Message)
}

// Unwrap returns the basket package's sentinel for the answer, or nil.
func (e *APIError) Unwrap() error { return e.err }

// answerError reads an error answer, {"message":"…","index":i}.
func (c *Client) answerError(path string, status int, h http.Header, body []byte) *APIError {
	e := &APIError{Status: status, Index: -1, Path: path}
	var v struct {
		Message string `json:"message"`
		Index   *int   `json:"index"`
	}
	if json.Unmarshal(body, &v) == nil {
		e.Message = c.cleanMessage(v.Message)
		if v.Index != nil && *v.Index >= 0 {
			e.Index = *v.Index
		}
	}
	if status == http.StatusTooManyRequests || status >= 500 {
		e.RetryAfter = parseRetryAfter(h.Get("Retry-After"), c.opts.Now())
	}
	e.err = sentinel(path == c.ingest, status, e.Message, e.Index)
	return e
}

// sentinel maps an error answer to the basket package's sentinel, from
// what the server's handlers answer for each (server.go, ingest.go).
func sentinel(ingest bool, status int, msg string, index int) error {
	switch status {
	case http.StatusBadRequest:
		switch {
		case ingest || index >= 0:
			return basket.ErrInvalidEvent
		case strings.Contains(msg, "differs from the query that queryMore continues"):
			return basket.ErrCursorMismatch
		case strings.HasPrefix(msg, "queryMore:"):
			return basket.ErrInvalidCursor
		case strings.HasPrefix(msg, "email:"):
			return nil // a lookup's address, not a query
		}
		return basket.ErrInvalidQuery
	case http.StatusNotFound:
		return basket.ErrNotFound
	case http.StatusConflict:
		for _, s := range []error{basket.ErrUnknownBasket, basket.ErrCompleted, basket.ErrExpired, basket.ErrConflict} {
			if strings.HasSuffix(msg, s.Error()) {
				return s
			}
		}
		return basket.ErrConflict
	case http.StatusServiceUnavailable:
		switch {
		case strings.HasPrefix(msg, "catching up"):
			return basket.ErrCatchingUp
		case strings.HasPrefix(msg, "storage failed"):
			return basket.ErrStorage
		case strings.HasPrefix(msg, "shutting down"):
			return basket.ErrClosed
		case strings.Contains(msg, "disagrees with the cluster's log"):
			return basket.ErrDiverged
		}
	}
	return nil
}
