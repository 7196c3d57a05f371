package basket

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"
)

// Page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Query selects abandoned baskets. Results are ordered by (created, id).
type Query struct {
	// CreatedAfter, if not zero, keeps baskets created strictly after it.
	CreatedAfter time.Time
	// CreatedBefore, if not zero, keeps baskets created strictly before it.
	CreatedBefore time.Time
	// Email, if not empty, keeps one customer's baskets (compared
	// normalised).
	Email string
	// Tag, if not empty, keeps baskets whose tracking.tag is Tag.
	Tag string
	// Limit is the page size: 1 to MaxLimit; 0 means DefaultLimit.
	Limit int
	// Cursor continues the query of a previous page (Page.Cursor). Filters
	// given beside it must equal the cursor's, or be left empty.
	Cursor string
	// Count asks for Page.Total.
	Count bool
}

// Page is a page of abandoned baskets.
type Page struct {
	Items []Basket
	// Cursor continues the query; empty on the last page.
	Cursor string
	// Alias is the engine's environment alias.
	Alias string
	// Total is the number of baskets the whole query matches, if Query.Count
	// asked for it; -1 otherwise.
	Total int
}

// spec is a resolved query.
type spec struct {
	after, before int64 // unix ms, exclusive; noBound if none
	email         string
	tag           string
	last          ckey // continue after this key, if hasLast
	hasLast       bool
}

func floorMS(t time.Time) int64 { return t.UnixMilli() }

func ceilMS(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

func (e *Engine) resolve(q *Query) (spec, error) {
	s := spec{after: noBound, before: noBound, email: NormalizeEmail(q.Email), tag: q.Tag}
	if !q.CreatedAfter.IsZero() {
		s.after = floorMS(q.CreatedAfter)
	}
	if !q.CreatedBefore.IsZero() {
		s.before = ceilMS(q.CreatedBefore)
	}
	if q.Cursor == "" {
		return s, nil
	}
	var rec cursorRecord
	k, err := e.keys.decodeCursor(&rec, q.Cursor, e.alias)
	if err != nil {
		return s, err
	}
	email := ""
	if rec.Email != nil {
		var ok bool
		if email, ok = k.openEmail(rec.Email); !ok {
			return s, &QueryError{Param: "queryMore", Reason: "malformed", Err: ErrInvalidCursor}
		}
	}
	mismatch := func(param string) error {
		return &QueryError{Param: param, Reason: "differs from the query that queryMore continues", Err: ErrCursorMismatch}
	}
	switch {
	case !q.CreatedAfter.IsZero() && s.after != rec.After:
		return s, mismatch("createdAfter")
	case !q.CreatedBefore.IsZero() && s.before != rec.Before:
		return s, mismatch("createdBefore")
	case q.Email != "" && s.email != email:
		return s, mismatch("email")
	case q.Tag != "" && q.Tag != rec.Tag:
		return s, mismatch("tag")
	}
	s.after, s.before, s.email, s.tag = rec.After, rec.Before, email, rec.Tag
	s.last, s.hasLast = ckey{rec.LastCreated, rec.LastID}, true
	return s, nil
}

func checkLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultLimit, nil
	case limit < 1 || limit > MaxLimit:
		return 0, &QueryError{Param: "limit", Reason: "must be from 1 to 1000", Err: ErrInvalidQuery}
	}
	return limit, nil
}

// Abandoned returns a page of the baskets abandoned now that match q, in
// (created, id) order. Continuing with Page.Cursor returns no basket twice
// and, despite concurrent changes, every basket abandoned for the whole walk.
// Each page costs O(log n + limit) at any depth. Errors are *QueryError.
func (e *Engine) Abandoned(ctx context.Context, q Query) (Page, error) {
	var buf [pageRecords]*record
	m := materialiser{e: e}
	recs, p, err := e.query(ctx, &q, &m, buf[:0])
	if err != nil {
		return Page{}, err
	}
	p.Items = make([]Basket, len(recs))
	for i, r := range recs {
		m.fill(&p.Items[i], r)
	}
	return p, nil
}

// AbandonedFunc runs q as Abandoned does but, instead of collecting the
// page, hands each basket to fn in order; it returns the page without
// Items. b is reused from call to call and valid only during the call. fn
// runs after the engine's read lock is released, so that a slow consumer
// holds up no writer: the page is the engine's state when the read walked
// the index, and a write that returns while fn runs (an erasure too) is
// not in it. It is for callers that encode a page as they go, without
// allocating one.
func (e *Engine) AbandonedFunc(ctx context.Context, q Query, fn func(b *Basket)) (Page, error) {
	var buf [pageRecords]*record
	m := materialiser{e: e, reuse: true}
	recs, p, err := e.query(ctx, &q, &m, buf[:0])
	if err != nil {
		return Page{}, err
	}
	var b Basket
	for _, r := range recs {
		m.fill(&b, r)
		fn(&b)
	}
	return p, nil
}

// pageRecords is the size of the buffer on a reader's stack that a page's
// records are collected in (512 bytes): a page of the default size, and
// the one record after it that says more follow, fit.
const pageRecords = 64

// A page of the default size fits pageRecords: this fails to compile if not.
var _ [pageRecords - (DefaultLimit + 1)]struct{}

// query runs q: it collects the page's records with m (in buf, while they
// fit) and returns them, the read lock released and m grown for them, with
// the page less its items.
func (e *Engine) query(ctx context.Context, qp *Query, m *materialiser, buf []*record) ([]*record, Page, error) {
	q := *qp
	if err := ctx.Err(); err != nil {
		return nil, Page{}, err
	}
	limit, err := checkLimit(q.Limit)
	if err != nil {
		return nil, Page{}, err
	}
	s, err := e.resolve(&q)
	if err != nil {
		return nil, Page{}, err
	}
	if err := e.beforeRead(ctx); err != nil {
		return nil, Page{}, err
	}
	m.nowSec = e.readNow() / 1000
	recs, more, total, err := e.collect(&s, limit, q.Count, m, buf)
	if err != nil {
		return nil, Page{}, err
	}
	m.grow(recs)
	p := Page{Alias: e.alias, Total: total}
	if more {
		last := recs[len(recs)-1]
		c := cursorRecord{
			Version: cursorVersion, Alias: e.alias,
			After: s.after, Before: s.before, Tag: s.tag,
			LastCreated: last.created, LastID: last.id,
		}
		if s.email != "" {
			c.Email = e.keys.signer().sealEmail(s.email)
		}
		if p.Cursor, err = e.keys.encodeCursor(&c); err != nil {
			return nil, Page{}, err
		}
	}
	return recs, p, nil
}

// Customer returns every live basket of one customer (compared by
// NormalizeEmail), whatever its state, in (created, id) order: what a
// campaign checks before it writes to someone. Reading is never activity.
func (e *Engine) Customer(ctx context.Context, email string) ([]Basket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := e.beforeRead(ctx); err != nil {
		return nil, err
	}
	m := materialiser{e: e, nowSec: e.readNow() / 1000}
	recs, err := e.customerRecords(NormalizeEmail(email), &m)
	if err != nil {
		return nil, err
	}
	out := make([]Basket, 0, max(len(recs), 1))
	for _, r := range recs {
		out = append(out, m.basket(r))
	}
	slices.SortFunc(out, func(a, b Basket) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// customerRecords finds the live records of a normalised address under
// the read lock, and has m hold what their views need.
func (e *Engine) customerRecords(key string, m *materialiser) ([]*record, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, ErrClosed
	}
	var recs []*record
	e.byEmail.each(&e.recs, key, func(r *record) {
		recs = append(recs, r)
	})
	m.hold(recs)
	return recs, nil
}

// collect finds the page's records under the read lock, in buf while they
// fit, and has m hold what their views need. It reports whether more
// follow, and the total if count is set (-1 if not).
func (e *Engine) collect(s *spec, limit int, count bool, m *materialiser, buf []*record) (recs []*record, more bool, total int, err error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, false, 0, ErrClosed
	}
	total = -1
	if s.email != "" {
		var n int
		recs, n = e.byEmailQuery(s, limit+1)
		if count {
			total = n
		}
	} else {
		// The count first: a first page's walk then finds the path to
		// its first entry, the count's lower bound, in the cache. (A page
		// from a cursor starts elsewhere, and gains nothing.)
		if count {
			total = e.count(s)
		}
		recs = e.scan(s, limit+1, buf)
	}
	if more = len(recs) > limit; more {
		recs = recs[:limit]
	}
	m.hold(recs)
	return recs, more, total, nil
}

// scan collects up to n records of the abandoned index, in dst's array
// while they fit. e.mu must be held.
func (e *Engine) scan(s *spec, n int, dst []*record) []*record {
	ab := e.abandoned
	if s.tag != "" {
		if ab = e.byTag[s.tag]; ab == nil {
			return nil
		}
	}
	// The walk starts at the first entry not before from: after the
	// cursor's basket (its own entry, if it is still there, is passed
	// over), or in the created range.
	var from ckey
	switch {
	case s.hasLast:
		from = s.last
	case s.after == math.MaxInt64:
		return nil // nothing is created after it
	case s.after != noBound:
		from = ckey{created: s.after + 1}
	default:
		from = ckey{created: noBound}
	}
	// The walk collects handles; their slots are read after it, in one
	// short loop, where the cache misses of a page's slots overlap.
	var buf [128]handle
	hs := buf[:0]
	ab.ascend(from, func(a aentry) bool {
		if s.hasLast && a.created == s.last.created && e.recs.slots.id(a.h) == s.last.id {
			return true
		}
		if s.before != noBound && a.created >= s.before {
			return false
		}
		hs = append(hs, a.h)
		return len(hs) < n
	})
	out := slices.Grow(dst[:0], len(hs))
	for _, h := range hs {
		out = append(out, e.recs.slots.get(h))
	}
	return out
}

// count returns the number of abandoned baskets in s's range. e.mu must be
// held.
func (e *Engine) count(s *spec) int {
	ab := e.abandoned
	if s.tag != "" {
		if ab = e.byTag[s.tag]; ab == nil {
			return 0
		}
	}
	// The count tree answers each bound down one path of its own; two
	// paths are walked together.
	if s.after == math.MaxInt64 {
		return 0 // nothing is created after it
	}
	lo, hi := 0, ab.len()
	switch {
	case s.after != noBound && s.before != noBound:
		lo, hi = ab.less2(s.after+1, s.before)
	case s.after != noBound:
		lo = ab.less(s.after + 1)
	case s.before != noBound:
		hi = ab.less(s.before)
	}
	return max(0, hi-lo)
}

// byEmailQuery collects up to n of one customer's abandoned baskets after
// s.last, and the number that match the whole query. e.mu must be held.
func (e *Engine) byEmailQuery(s *spec, n int) ([]*record, int) {
	var all []*record
	e.byEmail.each(&e.recs, s.email, func(r *record) {
		switch {
		case !r.abandoned(),
			s.after != noBound && r.created <= s.after,
			s.before != noBound && r.created >= s.before,
			s.tag != "" && r.tag() != s.tag:
			return
		}
		all = append(all, r)
	})
	slices.SortFunc(all, func(a, b *record) int {
		ka, kb := ckey{a.created, a.id}, ckey{b.created, b.id}
		switch {
		case ckeyLess(ka, kb):
			return -1
		case ckeyLess(kb, ka):
			return 1
		}
		return 0
	})
	total := len(all)
	if s.hasLast {
		i, _ := slices.BinarySearchFunc(all, s.last, func(r *record, k ckey) int {
			switch rk := (ckey{r.created, r.id}); {
			case ckeyLess(rk, k):
				return -1
			case ckeyLess(k, rk):
				return 1
			}
			return 0
		})
		if i < len(all) && all[i].created == s.last.created && all[i].id == s.last.id {
			i++
		}
		all = all[i:]
	}
	if len(all) > n {
		all = all[:n]
	}
	return all, total
}
