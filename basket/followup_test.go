package basket_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// TestFollowUp: a basket marked followed up shows the mark and its note,
// the latest replacing the earlier; a bad note or an unknown basket is
// refused and changes nothing; the mark survives restarts from the log and
// from a snapshot, and goes with the basket when it is erased.
func TestFollowUp(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := btest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	eng := openDurable(t, dir, clock, nil)
	mustApply(t, eng,
		basket.Event{Type: basket.EventCreated, BasketID: "a", At: clock.Now()},
		basket.Event{Type: basket.EventEmailCaptured, BasketID: "a", At: clock.Now(), Email: "ann@example.com"},
		basket.Event{Type: basket.EventCreated, BasketID: "b", At: clock.Now()})
	mark := func(id string) (time.Time, string) {
		t.Helper()
		b, err := eng.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return b.FollowedUp()
	}
	if at, _ := mark("a"); !at.IsZero() {
		t.Fatal("marked before any follow-up")
	}
	if err := eng.FollowUp(ctx, "a", "called, no answer"); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Hour)
	if err := eng.FollowUp(ctx, "a", "called back: <b>wants</b> the yearly plan\nsend a code"); err != nil {
		t.Fatal(err)
	}
	want := "called back: <b>wants</b> the yearly plan\nsend a code"
	if at, note := mark("a"); !at.Equal(clock.Now()) || note != want {
		t.Fatalf("mark %v %q; want %v %q", at, note, clock.Now(), want)
	}
	for _, bad := range []string{strings.Repeat("x", basket.MaxFollowUpNote+1), "a\x00b", "\xff"} {
		if err := eng.FollowUp(ctx, "b", bad); !errors.Is(err, basket.ErrInvalidEvent) {
			t.Fatalf("note %q: %v; want ErrInvalidEvent", bad, err)
		}
	}
	if err := eng.FollowUp(ctx, "nobody", "x"); !errors.Is(err, basket.ErrUnknownBasket) {
		t.Fatalf("an unknown basket: %v; want ErrUnknownBasket", err)
	}
	if at, _ := mark("b"); !at.IsZero() {
		t.Fatal("a refused follow-up marked b")
	}
	reopen := func() {
		t.Helper()
		if err := eng.Close(); err != nil {
			t.Fatal(err)
		}
		eng = openDurable(t, dir, clock, nil)
	}
	reopen()
	if _, note := mark("a"); note != want {
		t.Fatalf("after a restart from the log: %q", note)
	}
	if err := eng.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	reopen()
	if at, note := mark("a"); note != want || !at.Equal(clock.Now()) {
		t.Fatalf("after a restart from a snapshot: %v %q", at, note)
	}
	mustApply(t, eng, basket.Event{Type: basket.EventErased, Email: "ann@example.com", At: clock.Now()})
	if err := eng.Check(); err != nil {
		t.Fatal(err)
	}
	if err := eng.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	reopen()
	if err := eng.Check(); err != nil {
		t.Fatal(err)
	}
	eng.Close()
}
