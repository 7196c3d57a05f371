package simulator

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
)

func TestPaced(t *testing.T) {
	rec := &recorder{}
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	p := paced{sink: rec, now: func() time.Time { return now }}
	past := []basket.Event{{Type: basket.EventCreated, BasketID: "b-1", At: now.Add(-time.Minute)}}
	if err := p.Write(t.Context(), past); err != nil || len(rec.events) != 1 {
		t.Fatalf("Write(past) = %v with %d events passed; want it passed at once", err, len(rec.events))
	}
	// An event an hour ahead waits; cancelling stops the wait.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	future := []basket.Event{{Type: basket.EventCreated, BasketID: "b-2", At: now.Add(time.Hour)}}
	if err := p.Write(ctx, future); !errors.Is(err, context.DeadlineExceeded) || len(rec.events) != 1 {
		t.Fatalf("Write(future) = %v with %d events passed; want it to wait", err, len(rec.events))
	}
	// Soon enough: it waits, then passes the batch.
	p.now = func() time.Time { return time.Now() }
	soon := []basket.Event{{Type: basket.EventCreated, BasketID: "b-3", At: time.Now().Add(10 * time.Millisecond)}}
	if err := p.Write(t.Context(), soon); err != nil || len(rec.events) != 2 || time.Now().Before(soon[0].At) {
		t.Fatalf("Write(soon) = %v with %d events passed at %v; want it passed after %v", err, len(rec.events), time.Now(), soon[0].At)
	}
	if err := Paced(rec).Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
}
