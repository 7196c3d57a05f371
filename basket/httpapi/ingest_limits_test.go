package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// TestIngestMaxBatch: a batch of more than MaxBatch events, as NDJSON or
// as an array, is a 413 naming the limit and the flag that sets it, and
// nothing of it is applied; a batch of MaxBatch events is applied.
func TestIngestMaxBatch(t *testing.T) {
	h := start(t, func(_ *basket.Options, o *httpapi.Options) { o.MaxBatch = 3 })
	post := func(body string) *response {
		return h.do(http.MethodPost, "/api/baskets/events", testToken, "application/x-ndjson", strings.NewReader(body))
	}
	at := t0.Add(-time.Hour)
	var evs []string
	for i := range 4 {
		evs = append(evs, evCreated(fmt.Sprintf("m-%d", i), at, ""))
	}
	before := btest.Stats(t, h.eng)
	for name, body := range map[string]string{
		"ndjson":       strings.Join(evs, "\n"),
		"array":        "[" + strings.Join(evs, ",") + "]",
		"array, typed": "[" + strings.Join(evs, ", ") + `, {"type":"created","basketId":7}]`, // the slow decoder
	} {
		r := post(body)
		msg := r.message(t)
		if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "more than 3 events in one batch") || !strings.Contains(msg, "-max-batch") {
			t.Errorf("%s: 4 events = %d %s; want 413 naming the limit 3 and -max-batch", name, r.status, r.body)
		}
	}
	if after := btest.Stats(t, h.eng); after != before {
		t.Errorf("oversized batches changed the engine: %+v -> %+v", before, after)
	}
	if r := post(strings.Join(evs[:3], "\n")); r.status != http.StatusOK || string(r.body) != "{\"applied\":3}\n" {
		t.Errorf("3 events = %d %s; want them applied", r.status, r.body)
	}
	// An invalid event before the limit is named as such.
	if r := post(evs[0] + "\n{\"type\":\"created\",\n" + strings.Join(evs[1:], "\n")); r.status != http.StatusBadRequest || r.json(t)["index"] != 1.0 {
		t.Errorf("a bad event among too many = %d %s; want 400 at index 1", r.status, r.body)
	}
}

// TestIngestMaxBody: the 413 of a body over MaxBody names the flag that
// sets the limit.
func TestIngestMaxBody(t *testing.T) {
	h := start(t, func(_ *basket.Options, o *httpapi.Options) { o.MaxBody = 1024 })
	r := h.do(http.MethodPost, "/api/baskets/events", testToken, "application/json", strings.NewReader("["+strings.Repeat(" ", 2000)+"]"))
	if msg := r.message(t); r.status != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "larger than 1024 bytes") || !strings.Contains(msg, "-max-body") {
		t.Errorf("big body = %d %s; want 413 naming the limit and -max-body", r.status, r.body)
	}
}

// TestIngestFuture: an event whose at lies more than MaxFuture ahead of the
// server's clock is a 400 naming its index and the field; its batch is not
// applied. Negative MaxFuture accepts any time.
func TestIngestFuture(t *testing.T) {
	for _, tt := range []struct {
		name      string
		maxFuture time.Duration
		ahead     time.Duration
		ok        bool
	}{
		{"default, 4m ahead", 0, 4 * time.Minute, true},
		{"default, 6m ahead", 0, 6 * time.Minute, false},
		{"1h, 59m ahead", time.Hour, 59 * time.Minute, true},
		{"1h, 2h ahead", time.Hour, 2 * time.Hour, false},
		{"off, a year ahead", -1, 365 * 24 * time.Hour, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, func(_ *basket.Options, o *httpapi.Options) { o.MaxFuture = tt.maxFuture })
			before := btest.Stats(t, h.eng)
			body := evCreated("now", t0, "") + "\n" + evCreated("later", t0.Add(tt.ahead), "")
			r := h.do(http.MethodPost, "/api/baskets/events", testToken, "application/x-ndjson", strings.NewReader(body))
			if tt.ok {
				if r.status != http.StatusOK {
					t.Errorf("= %d %s; want 200", r.status, r.body)
				}
				return
			}
			v := r.json(t)
			if msg, _ := v["message"].(string); r.status != http.StatusBadRequest || v["index"] != 1.0 ||
				!strings.HasPrefix(msg, "invalid event: event 1: at: more than ") || !strings.Contains(msg, "-max-future") {
				t.Errorf("= %d %s; want 400 at index 1 naming at and -max-future", r.status, r.body)
			}
			if after := btest.Stats(t, h.eng); after != before {
				t.Errorf("the batch changed the engine: %+v -> %+v", before, after)
			}
		})
	}
}
