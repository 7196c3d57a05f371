package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
	"unsafe"

	"github.com/basketlab/abandoned/basket"
)

// wireEvent is an event as it arrives. It is basket.Event but for the time,
// whose parse errors it reports as its own so that the answer names the
// field without repeating the value.
type wireEvent struct {
	Type            basket.EventType        `json:"type"`
	BasketID        string                  `json:"basketId"`
	At              wireTime                `json:"at"`
	Entry           string                  `json:"entry"`
	OrderItems      []basket.OrderItem      `json:"orderItems"`
	Tracking        map[string]string       `json:"tracking"`
	CustomFields    map[string]any          `json:"customFields"`
	Identity        *basket.Identity        `json:"identity"`
	CustomerDetails *basket.CustomerDetails `json:"customerDetails"`
	Email           string                  `json:"email"`
}

// wireTime is an RFC 3339 time.
type wireTime struct{ time.Time }

// errBadTime is the error of a malformed "at".
var errBadTime = errors.New("not an RFC 3339 date-time")

func (t *wireTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return errBadTime
	}
	v, err := time.Parse(time.RFC3339Nano, string(b[1:len(b)-1]))
	if err != nil {
		return errBadTime
	}
	t.Time = v
	return nil
}

func (w *wireEvent) event() basket.Event {
	return basket.Event{
		Type: w.Type, BasketID: w.BasketID, At: w.At.Time, Entry: w.Entry,
		OrderItems: w.OrderItems, Tracking: w.Tracking, CustomFields: w.CustomFields,
		Identity: w.Identity, CustomerDetails: w.CustomerDetails, Email: w.Email,
	}
}

// decodeError is a batch that does not decode: the event at index, and what
// is wrong with it. It never quotes the input.
type decodeError struct {
	index  int
	reason string
	// tooMany: the batch holds more events than allowed; index is the
	// first event over the limit.
	tooMany bool
}

func (e *decodeError) Error() string { return "event " + strconv.Itoa(e.index) + ": " + e.reason }

// MaxBatch is the default of Options.MaxBatch: the most events one ingest
// request may carry.
const MaxBatch = 100_000

// DefaultMaxFuture is the default of Options.MaxFuture: how far ahead of
// the server's clock an event may lie.
const DefaultMaxFuture = 5 * time.Minute

// tooManyEvents is the error of a batch of more than max events.
func tooManyEvents(max int) *decodeError {
	return &decodeError{index: max, reason: fmt.Sprintf("more than %d events in one batch", max), tooMany: true}
}

// decodeEvents decodes a batch: a JSON array of events, or NDJSON (one
// event per line; blank lines are skipped), told apart by the first byte
// that is not white space. Unknown fields are ignored. Errors are
// *decodeError. Each event goes through the fast decoder (decode.go) and,
// where that declines, through encoding/json; the result is what
// encoding/json alone gives (decodeEventsStd).
func decodeEvents(body []byte) ([]basket.Event, error) {
	return decodeEventsMax(body, MaxBatch)
}

// decodeEventsMax is decodeEvents for batches of at most max events; a
// longer one is a *decodeError whose tooMany is set.
func decodeEventsMax(body []byte, max int) ([]basket.Event, error) {
	trimmed := trimLeftJSONSpace(body)
	if len(trimmed) == 0 {
		return nil, &decodeError{index: 0, reason: "empty body: send a JSON array or NDJSON of events"}
	}
	switch trimmed[0] {
	case '{':
		return decodeNDJSON(trimmed, max)
	case '[':
		if events, ok := decodeArray(trimmed, max); ok {
			return events, nil
		}
		return decodeEventsStd(trimmed, max)
	}
	return nil, &decodeError{index: 0, reason: "want a JSON array or NDJSON of event objects"}
}

func trimLeftJSONSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	return b
}

func trimRightJSONSpace(b []byte) []byte {
	for n := len(b); n > 0 && (b[n-1] == ' ' || b[n-1] == '\t' || b[n-1] == '\r' || b[n-1] == '\n'); n-- {
		b = b[:n-1]
	}
	return b
}

// decodeEvent decodes one event's text. The event's strings share one copy
// of the text, never the request's buffer.
func decodeEvent(text []byte, index int, ev *basket.Event) error {
	if fastEvent(string(text), ev) {
		return nil
	}
	*ev = basket.Event{}
	var w wireEvent
	if err := json.Unmarshal(text, &w); err != nil {
		return &decodeError{index: index, reason: describeJSONError(err)}
	}
	*ev = w.event()
	return nil
}

// decodeArray decodes a JSON array of events. It reports false, leaving
// the answer to decodeEventsStd, if the array is malformed or too long, or
// an element does not decode.
func decodeArray(body []byte, max int) ([]basket.Event, bool) {
	// A view of the body for finding the elements; no string of it is kept.
	p := fastScanner{s: unsafe.String(unsafe.SliceData(body), len(body))}
	p.i = 1 // after '['
	var events []basket.Event
	for n := 0; ; n++ {
		if p.next(']') {
			break
		}
		if n > 0 && !p.next(',') {
			return nil, false
		}
		p.ws()
		start := p.i
		if n >= max || !p.skip(0) {
			return nil, false
		}
		events = append(events, basket.Event{})
		if decodeEvent(body[start:p.i], n, &events[n]) != nil {
			return nil, false
		}
	}
	p.ws()
	if p.i != len(p.s) {
		return nil, false
	}
	return events, true
}

// decodeNDJSON decodes one event per line.
func decodeNDJSON(body []byte, max int) ([]basket.Event, error) {
	events := make([]basket.Event, 0, min(bytes.Count(body, []byte{'\n'})+1, max+1))
	for len(body) > 0 {
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		line = trimRightJSONSpace(trimLeftJSONSpace(line))
		if len(line) == 0 {
			continue
		}
		i := len(events)
		if i >= max {
			return nil, tooManyEvents(max)
		}
		if line[0] != '{' {
			return nil, &decodeError{index: i, reason: "want an event object on each line"}
		}
		events = append(events, basket.Event{})
		if err := decodeEvent(line, i, &events[i]); err != nil {
			return nil, err
		}
	}
	return events, nil
}

// decodeEventsStd decodes a JSON array of events with encoding/json alone.
func decodeEventsStd(body []byte, max int) ([]basket.Event, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // the opening '['
		return nil, &decodeError{index: 0, reason: "malformed JSON"}
	}
	var events []basket.Event
	for i := 0; dec.More(); i++ {
		if i >= max {
			return nil, tooManyEvents(max)
		}
		var w wireEvent
		if err := dec.Decode(&w); err != nil {
			return nil, &decodeError{index: i, reason: describeJSONError(err)}
		}
		events = append(events, w.event())
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, &decodeError{index: len(events), reason: "malformed JSON: unterminated array"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &decodeError{index: len(events), reason: "unexpected data after the array"}
	}
	return events, nil
}

// describeJSONError says what is wrong with an event's JSON without
// quoting it.
func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.Is(err, errBadTime):
		return "at: " + errBadTime.Error()
	case errors.As(err, &te):
		if te.Field == "" {
			return "want an event object, got a JSON " + te.Value
		}
		return te.Field + ": wrong type: a JSON " + te.Value + " where " + jsonKind(te.Type.Kind().String()) + " is expected"
	case errors.As(err, &se):
		return "malformed JSON"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "malformed JSON: unexpected end"
	}
	return "malformed JSON"
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	case "bool":
		return "a boolean"
	}
	return "a " + k
}

// The limits of a batch, with their defaults.
func (s *Server) maxBatch() int {
	if s.opts.MaxBatch <= 0 {
		return MaxBatch
	}
	return s.opts.MaxBatch
}

func (s *Server) maxFuture() time.Duration {
	if s.opts.MaxFuture == 0 {
		return DefaultMaxFuture
	}
	return s.opts.MaxFuture
}

func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// bodyTooLarge answers 413 for a body over MaxBody, naming the limit and
// the flag of abandoned serve that sets it.
func (s *Server) bodyTooLarge(w http.ResponseWriter) {
	s.metrics.batches.WithLabelValues("too_large").Inc()
	s.writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf(
		"body larger than %d bytes, the limit of the server's -max-body: send smaller batches (abandoned ingest splits a file into batches)", s.opts.MaxBody))
}

func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > s.opts.MaxBody {
		s.bodyTooLarge(w)
		return
	}
	bp := getBuf()
	defer putBuf(bp)
	body, err := readBody(http.MaxBytesReader(w, r.Body, s.opts.MaxBody), (*bp)[:0], r.ContentLength)
	*bp = body
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.bodyTooLarge(w)
			return
		}
		s.writeError(w, http.StatusBadRequest, "reading the body failed")
		return
	}
	events, err := decodeEventsMax(body, s.maxBatch())
	if err != nil {
		var de *decodeError
		errors.As(err, &de)
		if de.tooMany {
			s.metrics.batches.WithLabelValues("too_large").Inc()
			s.writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf(
				"more than %d events in one batch, the limit of the server's -max-batch: send smaller batches (abandoned ingest splits a file into batches)", de.index))
			return
		}
		s.metrics.batches.WithLabelValues("invalid").Inc()
		s.writeErrorIndex(w, http.StatusBadRequest, "invalid event: "+de.Error(), de.index)
		return
	}
	if limit := s.maxFuture(); limit >= 0 {
		latest := s.now().Add(limit)
		for i := range events {
			if events[i].At.After(latest) {
				s.metrics.batches.WithLabelValues("invalid").Inc()
				s.writeErrorIndex(w, http.StatusBadRequest, fmt.Sprintf(
					"invalid event: event %d: at: more than %v ahead of the server's clock (the server's -max-future)", i, limit), i)
				return
			}
		}
	}
	res, err := s.eng.Apply(r.Context(), events...)
	var ee *basket.EventError
	var te *basket.TransitionError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		s.metrics.batches.WithLabelValues("invalid").Inc()
		s.writeErrorIndex(w, http.StatusBadRequest,
			fmt.Sprintf("invalid event: event %d: %s: %s", ee.Index, ee.Field, ee.Reason), ee.Index)
		return
	case errors.As(err, &te):
		s.metrics.batches.WithLabelValues("conflict").Inc()
		s.writeErrorIndex(w, http.StatusConflict, "conflict: "+te.Error(), te.Index)
		return
	default:
		s.metrics.batches.WithLabelValues("error").Inc()
		s.engineError(w, r, err)
		return
	}
	s.metrics.batches.WithLabelValues("applied").Inc()
	s.metrics.events.Add(float64(res.Applied))
	out := strconv.AppendInt(append((*bp)[:0], `{"applied":`...), int64(res.Applied), 10)
	out = append(out, "}\n"...)
	*bp = out
	writeJSON(w, http.StatusOK, out)
}

// readBody reads r into buf, growing it as needed.
func readBody(r io.Reader, buf []byte, size int64) ([]byte, error) {
	if size > 0 && int64(cap(buf)) < size+1 {
		buf = make([]byte, 0, size+1)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
