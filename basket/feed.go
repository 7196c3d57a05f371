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
	var m materialiser
	p, err := e.feedPage(ctx, after, limit, func(r *record, nowSec int64) {
		if m.e == nil {
			m = materialiser{e: e, nowSec: nowSec}
		}
		items = append(items, m.basket(r))
	})
	p.Items = items
	return p, err
}

// FeedFunc reads the feed as Feed does but hands each basket to fn in
// order instead of collecting them; it returns the page without Items. b is
// reused and valid only during the call, and fn runs under the engine's read
// lock: it must not call the engine.
func (e *Engine) FeedFunc(ctx context.Context, after uint64, limit int, fn func(b *Basket)) (FeedPage, error) {
	var b Basket
	var m materialiser
	return e.feedPage(ctx, after, limit, func(r *record, nowSec int64) {
		if m.e == nil {
			m = materialiser{e: e, nowSec: nowSec, reuse: true}
		}
		b = m.basket(r)
		fn(&b)
	})
}

func (e *Engine) feedPage(ctx context.Context, after uint64, limit int, visit func(*record, int64)) (FeedPage, error) {
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
	now := e.readNow()
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return FeedPage{}, ErrClosed
	}
	p := FeedPage{Next: min(after, e.lastPos)}
	if after >= e.lastPos {
		return p, nil
	}
	n := 0
	e.feed.Ascend(fentry{pos: after + 1}, func(f fentry) bool {
		visit(f.rec, now/1000)
		p.Next = f.pos
		n++
		return n < limit
	})
	return p, nil
}
