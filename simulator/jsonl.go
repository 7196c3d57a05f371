package simulator

import (
	"bufio"
	"context"
	"encoding/json"
	"io"

	"github.com/basketlab/abandoned/basket"
)

// JSONLSink writes events as JSON lines, the NDJSON body of the ingest
// endpoint (POST /api/baskets/events): each line is the encoding/json form
// of a basket.Event, times in UTC with millisecond precision. A file of
// them replays into a server with
//
//	curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/x-ndjson' \
//	     --data-binary @events.jsonl http://127.0.0.1:8080/api/baskets/events
//
// (a server keeps baskets for -ttl, 14 days by default, from their creation
// by its own clock: replay old files into one started with -ttl 0).
type JSONLSink struct {
	w   *bufio.Writer
	enc *json.Encoder
	n   int64
}

// NewJSONLSink returns a sink that writes to w, buffered; Flush flushes the
// buffer (it does not close or sync w).
func NewJSONLSink(w io.Writer) *JSONLSink {
	bw := bufio.NewWriterSize(w, 64<<10)
	return &JSONLSink{w: bw, enc: json.NewEncoder(bw)}
}

// Write encodes each event as one line.
func (s *JSONLSink) Write(ctx context.Context, events []basket.Event) error {
	for i := range events {
		if err := s.enc.Encode(&events[i]); err != nil {
			return err
		}
	}
	s.n += int64(len(events))
	return nil
}

// Flush writes the buffered lines to the underlying writer.
func (s *JSONLSink) Flush(ctx context.Context) error { return s.w.Flush() }

// Events returns the number of events written.
func (s *JSONLSink) Events() int64 { return s.n }
