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
	var items []Basket
	m := materialiser{e: e}
	p, err := e.feedPage(ctx, after, limit, &m, func(recs []*record) {
		if len(recs) == 0 {
			return
		}
		items = make([]Basket, len(recs))
		for i, r := range recs {
			m.fill(&items[i], r)
		}
	})
	p.Items = items
	return p, err
}

// FeedFunc reads the feed as Feed does but hands each basket to fn in
// order instead of collecting them; it returns the page without Items. b is
// reused and valid only during the call. fn runs after the engine's read
// lock is released, so that a slow consumer holds up no writer: the page
// is the feed as it was when the read walked it, and a write that returns
// while fn runs (an erasure too) is not in it.
func (e *Engine) FeedFunc(ctx context.Context, after uint64, limit int, fn func(b *Basket)) (FeedPage, error) {
	var b Basket
	m := materialiser{e: e, reuse: true}
	return e.feedPage(ctx, after, limit, &m, func(recs []*record) {
		for _, r := range recs {
			m.fill(&b, r)
			fn(&b)
		}
	})
}

// feedPage collects a page of the feed under the read lock, with m holding
// what the views need, and hands its records to visit after releasing it.
func (e *Engine) feedPage(ctx context.Context, after uint64, limit int, m *materialiser, visit func([]*record)) (FeedPage, error) {
	if err := ctx.Err(); err != nil {
		return FeedPage{}, err
	}
	limit, err := checkLimit(limit)
	if err != nil {
		return FeedPage{}, err
	}
	if err := e.beforeRead(ctx); err != nil {
		return FeedPage{}, err
	}
	m.nowSec = e.readNow() / 1000
	p, recs, err := e.collectFeed(after, limit, m)
	if err != nil || len(recs) == 0 {
		return p, err
	}
	m.grow(recs)
	visit(recs)
	return p, nil
}

// collectFeed finds a feed page's records under the read lock, and has m
// hold what their views need.
func (e *Engine) collectFeed(after uint64, limit int, m *materialiser) (FeedPage, []*record, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return FeedPage{}, nil, ErrClosed
	}
	p := FeedPage{Next: min(after, e.lastPos)}
	if after >= e.lastPos {
		return p, nil, nil
	}
	recs := make([]*record, 0, min(limit, 128))
	e.feed.Ascend(fentry{pos: after + 1}, func(f fentry) bool {
		recs = append(recs, e.recs.slots.get(f.h))
		p.Next = f.pos
		return len(recs) < limit
	})
	m.hold(recs)
	return p, recs, nil
}
