package loadtest

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/basketlab/abandoned/basket"
)

// Spread is several targets taken in turn, one operation each: the nodes of
// a cluster, any of which takes every operation. A cursor or a feed
// position from one node goes to the next, as a cluster promises it may.
type Spread struct {
	targets []Target
	next    atomic.Uint64
}

// NewSpread returns a target that spreads operations over targets, which
// must be at least one.
func NewSpread(targets ...Target) (*Spread, error) {
	if len(targets) == 0 {
		return nil, errors.New("loadtest: a spread of no targets")
	}
	return &Spread{targets: targets}, nil
}

func (s *Spread) pick() Target {
	return s.targets[(s.next.Add(1)-1)%uint64(len(s.targets))]
}

// Name implements Target: the first target's name.
func (s *Spread) Name() string { return s.targets[0].Name() }

// Ingest implements Target.
func (s *Spread) Ingest(ctx context.Context, b *Batch) error { return s.pick().Ingest(ctx, b) }

// Query implements Target.
func (s *Spread) Query(ctx context.Context, q basket.Query) (int, string, error) {
	return s.pick().Query(ctx, q)
}

// Feed implements Target.
func (s *Spread) Feed(ctx context.Context, after uint64, limit int) (int, uint64, error) {
	return s.pick().Feed(ctx, after, limit)
}
