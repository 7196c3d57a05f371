package basket_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// changes reads the whole journal after a sequence, as "type:ids".
func changes(t *testing.T, eng *basket.Engine, after uint64) ([]string, uint64) {
	t.Helper()
	var out []string
	for {
		p, err := eng.Changes(context.Background(), after, 3)
		if err != nil {
			t.Fatalf("Changes(%d): %v", after, err)
		}
		for _, ch := range p.Items {
			if after != 0 && ch.Seq != after+1 {
				t.Fatalf("change %d follows %d", ch.Seq, after)
			}
			after = ch.Seq
			s := fmt.Sprintf("%s:%v", ch.Type, ch.BasketIDs)
			if ch.Type == basket.ChangeAbandoned && ch.FeedPosition == 0 {
				t.Fatalf("%s without its position", s)
			}
			out = append(out, s)
		}
		if len(p.Items) == 0 {
			return out, after
		}
		if p.Next != after {
			t.Fatalf("Next %d; the page ends at %d", p.Next, after)
		}
	}
}

func recoverToken(t *testing.T, eng *basket.Engine, id string) string {
	t.Helper()
	return linkToken(t, eng, id)
}

// TestChanges: abandonments, recoveries, completions of abandoned baskets
// and erasures are journaled in the order they were applied, with
// consecutive sequences; a completion of a basket never abandoned and a
// refused batch are not; a waiting reader is woken; changes older than the
// retention are dropped, and a reader behind them is told.
func TestChanges(t *testing.T) {
	ctx := context.Background()
	clock := btest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now, AbandonAfter: time.Minute, ChangeRetention: 24 * time.Hour})
	start, err := eng.LastChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wait := eng.ChangesWait()
	mustApply(t, eng,
		basket.Event{Type: basket.EventCreated, BasketID: "a", At: clock.Now()},
		basket.Event{Type: basket.EventEmailCaptured, BasketID: "a", At: clock.Now(), Email: "ann@example.com"},
		basket.Event{Type: basket.EventCreated, BasketID: "b", At: clock.Now()},
		basket.Event{Type: basket.EventEmailCaptured, BasketID: "b", At: clock.Now(), Email: "bob@example.com"},
		basket.Event{Type: basket.EventCreated, BasketID: "c", At: clock.Now()},
		basket.Event{Type: basket.EventEmailCaptured, BasketID: "c", At: clock.Now(), Email: "cy@example.com"})
	select {
	case <-wait:
		t.Fatal("woken before any change")
	default:
	}
	mustApply(t, eng, basket.Event{Type: basket.EventCompleted, BasketID: "c", At: clock.Now()}) // never abandoned
	clock.Add(2 * time.Minute)
	if _, err := eng.Stats(ctx); err != nil { // a read makes the time-based changes due
		t.Fatal(err)
	}
	select {
	case <-wait:
	default:
		t.Fatal("not woken by the abandonments")
	}
	if _, err := eng.Recover(ctx, "a", recoverToken(t, eng, "a")); err != nil {
		t.Fatal(err)
	}
	mustApply(t, eng, basket.Event{Type: basket.EventCompleted, BasketID: "a", At: clock.Now()})
	if _, err := eng.Apply(ctx, basket.Event{Type: basket.EventErased, Email: "bob@example.com", At: clock.Now()},
		basket.Event{Type: basket.EventCompleted, BasketID: "nobody", At: clock.Now()}); err == nil {
		t.Fatal("a refused batch applied")
	}
	mustApply(t, eng, basket.Event{Type: basket.EventErased, Email: "bob@example.com", At: clock.Now()})
	got, last := changes(t, eng, start)
	want := []string{"basket.abandoned:[a]", "basket.abandoned:[b]", "basket.recovered:[a]", "basket.completed:[a]", "basket.erased:[b]"}
	if !slices.Equal(got, want) {
		t.Fatalf("journal %v; want %v", got, want)
	}
	if l, _ := eng.LastChange(ctx); l != last {
		t.Fatalf("LastChange %d; the journal ends at %d", l, last)
	}
	p, err := eng.Changes(ctx, start, 10)
	if err != nil || p.Items[0].Basket.ID != "a" || !p.Items[0].Basket.Completed || p.Items[4].Basket != nil {
		t.Fatalf("the changes' baskets should be as they are now: %+v, %v", p.Items, err)
	}

	// A day later, a change drops the older ones.
	clock.Add(25 * time.Hour)
	mustApply(t, eng,
		basket.Event{Type: basket.EventCreated, BasketID: "d", At: clock.Now()},
		basket.Event{Type: basket.EventEmailCaptured, BasketID: "d", At: clock.Now(), Email: "dee@example.com"})
	clock.Add(2 * time.Minute)
	if _, err := eng.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = eng.Changes(ctx, start, 10)
	var gone *basket.ChangesGoneError
	if !errors.Is(err, basket.ErrChangesGone) || !errors.As(err, &gone) || gone.Oldest != last {
		t.Fatalf("a reader behind the retention: %v; want ErrChangesGone up to %d", err, last)
	}
	if got, _ := changes(t, eng, gone.Oldest); !slices.Equal(got, []string{"basket.abandoned:[d]"}) {
		t.Fatalf("after the dropped changes: %v", got)
	}
	if got, _ := changes(t, eng, 0); !slices.Equal(got, []string{"basket.abandoned:[d]"}) {
		t.Fatalf("from the oldest kept: %v", got)
	}
	off := btest.MustNewEngine(t, nil)
	if _, err := off.Changes(ctx, 0, 10); !errors.Is(err, basket.ErrNoJournal) {
		t.Fatalf("an engine without a journal: %v; want ErrNoJournal", err)
	}
}

// TestChangesDurable: the journal is the same after a restart from the log,
// from a snapshot, and from a snapshot and the log after it.
func TestChangesDurable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := btest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	open := func() *basket.Engine {
		t.Helper()
		eng, err := basket.Open(dir, &basket.Options{Now: clock.Now, ChangeRetention: time.Hour, SnapshotEvery: -1})
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}
	eng := open()
	for i := range 6 {
		id := fmt.Sprint("b-", i)
		mustApply(t, eng,
			basket.Event{Type: basket.EventCreated, BasketID: id, At: clock.Now()},
			basket.Event{Type: basket.EventEmailCaptured, BasketID: id, At: clock.Now(), Email: id + "@example.com"})
		if i == 3 {
			if err := eng.Snapshot(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if i%2 == 1 {
			mustApply(t, eng, basket.Event{Type: basket.EventCompleted, BasketID: id, At: clock.Now()})
		}
	}
	want, last := changes(t, eng, 0)
	if len(want) != 9 {
		t.Fatalf("journal %v; want 6 abandonments and 3 completions", want)
	}
	for round := range 2 {
		if err := eng.Close(); err != nil {
			t.Fatal(err)
		}
		eng = open()
		got, l := changes(t, eng, 0)
		if !slices.Equal(got, want) || l != last {
			t.Fatalf("round %d: after a restart the journal is %v to %d; want %v to %d", round, got, l, want, last)
		}
		if err := eng.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mustApply(t, eng, basket.Event{Type: basket.EventErased, Email: "b-0@example.com", At: clock.Now()})
	if got, _ := changes(t, eng, last); !slices.Equal(got, []string{"basket.erased:[b-0]"}) {
		t.Fatalf("after the restarts, the next change: %v", got)
	}
	eng.Close()
}

// TestChangesRecoveredAtOnce: with AbandonAfter 0, a recovery is journaled
// as a recovery, though the basket it touches is abandoned again at once.
func TestChangesRecoveredAtOnce(t *testing.T) {
	ctx := context.Background()
	clock := btest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now, ChangeRetention: time.Hour})
	start, err := eng.LastChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, eng,
		basket.Event{Type: basket.EventCreated, BasketID: "a", At: clock.Now()},
		basket.Event{Type: basket.EventEmailCaptured, BasketID: "a", At: clock.Now(), Email: "ann@example.com"})
	clock.Add(time.Minute)
	if _, err := eng.Recover(ctx, "a", recoverToken(t, eng, "a")); err != nil {
		t.Fatal(err)
	}
	if got, _ := changes(t, eng, start); !slices.Equal(got, []string{"basket.abandoned:[a]", "basket.recovered:[a]"}) {
		t.Fatalf("journal %v; want the abandonment, then the recovery", got)
	}
}
