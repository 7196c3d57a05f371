package basket

import "context"

// FeedPage is a page of the abandonment feed.
type FeedPage struct {
	// Items are baskets in the order they became abandoned, each with its
	// AbandonedAt and FeedPosition.
	Items []Basket
	// Next is the position to continue from: the last item's, or, on an
	// empty page, the position asked for (never beyond the newest).
	Next uint64
}

// Feed returns up to limit baskets that are abandoned now and became so
// after position after, in the order they became abandoned. A consumer that
// passes each page's Next to the following call sees every abandonment once,
// including baskets created long before they were abandoned. A basket that
// stops being abandoned leaves the feed; one abandoned again re-enters it
// with a new position. limit 0 means DefaultLimit.
func (e *Engine) Feed(ctx context.Context, after uint64, limit int) (FeedPage, error) {
	if err := ctx.Err(); err != nil {
		return FeedPage{}, err
	}
	limit, err := checkLimit(limit)
	if err != nil {
		return FeedPage{}, err
	}
	now := toMS(e.now())
	e.maintain(now)
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return FeedPage{}, ErrClosed
	}
	p := FeedPage{Next: min(after, e.lastPos)}
	if after >= e.lastPos {
		return p, nil
	}
	e.feed.Ascend(fentry{pos: after + 1}, func(f fentry) bool {
		p.Items = append(p.Items, e.materialise(f.rec, now/1000))
		p.Next = f.pos
		return len(p.Items) < limit
	})
	return p, nil
}
