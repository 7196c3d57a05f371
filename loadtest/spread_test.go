package loadtest

import (
	"context"
	"testing"

	"github.com/basketlab/abandoned/basket"
)

// countTarget counts the operations it gets.
type countTarget struct{ ingests, queries, feeds int }

func (*countTarget) Name() string                           { return "http" }
func (c *countTarget) Ingest(context.Context, *Batch) error { c.ingests++; return nil }
func (c *countTarget) Query(context.Context, basket.Query) (int, string, error) {
	c.queries++
	return 0, "", nil
}
func (c *countTarget) Feed(_ context.Context, after uint64, _ int) (int, uint64, error) {
	c.feeds++
	return 0, after, nil
}

func TestSpread(t *testing.T) {
	if _, err := NewSpread(); err == nil {
		t.Fatal("NewSpread() of nothing succeeded")
	}
	a, b := &countTarget{}, &countTarget{}
	s, err := NewSpread(a, b)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 5 {
		s.Ingest(ctx, &Batch{})
		s.Query(ctx, basket.Query{})
		s.Feed(ctx, 0, 10)
	}
	// 15 operations in turn: 8 and 7, every kind reaching both targets.
	for i, ct := range []*countTarget{a, b} {
		if n := ct.ingests + ct.queries + ct.feeds; n != 8-i || ct.ingests == 0 || ct.queries == 0 || ct.feeds == 0 {
			t.Errorf("target %d got %+v; want %d operations of every kind", i, *ct, 8-i)
		}
	}
}
