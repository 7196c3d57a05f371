package basket

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
)

// Result reports what a batch did.
type Result struct {
	Applied int // events accepted, harmless re-sends and stale events included
	Changed int // events that changed a basket
}

// Apply validates a batch of events and applies it atomically: either every
// event is accepted or none is, and the engine is unchanged. A malformed
// event gives an *EventError (ErrInvalidEvent); an event its basket's state
// does not allow gives a *TransitionError. Both carry the event's index.
// Once Apply returns, every query that starts sees the batch.
func (e *Engine) Apply(ctx context.Context, events ...Event) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	for i := range events {
		if err := events[i].Validate(); err != nil {
			var ee *EventError
			if errors.As(err, &ee) {
				ee.Index = i
			}
			return Result{}, err
		}
	}
	now := toMS(e.now())
	e.mu.Lock()
	res, ticket, err := e.applyLocked(now, events, true)
	e.mu.Unlock()
	if err != nil {
		return Result{}, err
	}
	if err := e.waitDurable(ticket); err != nil {
		return Result{}, err
	}
	return res, nil
}

// applyLocked applies a validated batch at the engine time now and, if log
// is set and the engine is durable, writes it to the log first. It returns
// the log's ticket to wait for. e.mu must be held for writing.
func (e *Engine) applyLocked(now int64, events []Event, log bool) (Result, uint64, error) {
	if e.closed {
		return Result{}, 0, ErrClosed
	}
	if now >= e.nextDue.Load() {
		e.runDue(now)
	}
	t := txn{e: e, now: now}
	for i := range events {
		if err := t.step(i, &events[i]); err != nil {
			return Result{}, 0, err
		}
	}
	var ticket uint64
	if log && e.log != nil {
		var err error
		if ticket, err = e.logBatch(now, events, t.changed == 0); err != nil {
			return Result{}, 0, err
		}
	}
	t.commit(now)
	return Result{Applied: len(events), Changed: t.changed}, ticket, nil
}

// txn applies a batch to private copies of the records it touches; commit
// swaps them in. Nothing is visible before commit.
type txn struct {
	e       *Engine
	ents    []went         // the touched baskets, in first-touch order
	index   map[string]int // id -> position in ents, for large batches only
	now     int64          // the engine's clock, unix ms
	changed int
}

// went is a touched basket: its working copy (nil once erased by the batch)
// and whether the copy differs from the record.
type went struct {
	id    string
	rec   *record
	dirty bool
}

// smallTxn is the batch size up to which touched baskets are found by a
// linear search rather than a map.
const smallTxn = 16

// find returns the position of id in t.ents, or -1.
func (t *txn) find(id string) int {
	if t.index != nil {
		if i, ok := t.index[id]; ok {
			return i
		}
		return -1
	}
	for i := range t.ents {
		if t.ents[i].id == id {
			return i
		}
	}
	return -1
}

// add appends a touched basket.
func (t *txn) add(id string, c *record, dirty bool) {
	t.ents = append(t.ents, went{id: id, rec: c, dirty: dirty})
	switch {
	case t.index != nil:
		t.index[id] = len(t.ents) - 1
	case len(t.ents) > smallTxn:
		t.index = make(map[string]int, 2*len(t.ents))
		for i := range t.ents {
			t.index[t.ents[i].id] = i
		}
	}
}

// markDirty notes that the working copy of c differs from its record.
func (t *txn) markDirty(c *record) {
	t.ents[t.find(c.id)].dirty = true
}

// get returns the working copy of a basket, or nil with the reason it has
// none.
func (t *txn) get(id string) (*record, error) {
	if i := t.find(id); i >= 0 {
		if t.ents[i].rec == nil {
			return nil, ErrUnknownBasket
		}
		return t.ents[i].rec, nil
	}
	if _, ok := t.e.erased.Get(id); ok {
		return nil, ErrUnknownBasket
	}
	r := t.e.recs[id]
	if r == nil {
		if _, ok := t.e.tombs.Get(id); ok {
			return nil, ErrExpired
		}
		return nil, ErrUnknownBasket
	}
	c := *r
	t.add(id, &c, false)
	return &c, nil
}

func (t *txn) step(i int, ev *Event) error {
	at := toMS(ev.At)
	fail := func(st State, err error) error {
		return &TransitionError{Index: i, BasketID: ev.BasketID, State: st, Event: ev.Type, Err: err}
	}
	if ev.Type == EventErased {
		t.erase(NormalizeEmail(ev.Email), at)
		return nil
	}
	c, err := t.get(ev.BasketID)
	if ev.Type == EventCreated {
		switch {
		case err == nil && c.sameCreation(ev):
			return nil
		case err == nil:
			return fail(c.state, ErrConflict)
		case !errors.Is(err, ErrUnknownBasket) || t.e.isErased(ev.BasketID, t):
			return fail(0, err)
		}
		if t.e.ttl > 0 && at+t.e.ttl <= t.now {
			return fail(0, ErrExpired)
		}
		in := t.e.intern
		c = &record{
			id:           strings.Clone(ev.BasketID),
			created:      at,
			lastAt:       at,
			state:        StateOpen,
			entry:        in.str(ev.Entry),
			items:        in.orderItems(ev.OrderItems),
			tracking:     in.trackingMap(ev.Tracking),
			customFields: maps.Clone(ev.CustomFields),
			createHash:   creationHash(ev),
		}
		t.add(c.id, c, true)
		t.changed++
		return nil
	}
	if err != nil {
		return fail(0, err)
	}
	if c.state == StateCompleted {
		if ev.Type == EventCompleted || at <= c.lastAt {
			return nil // a re-send, or an event that was overtaken
		}
		return fail(c.state, ErrCompleted)
	}
	var changed bool
	if at < c.lastAt && ev.Type != EventCompleted {
		// Stale: the basket has newer news. Only what it lacks is taken.
		changed = t.fill(c, ev)
	} else {
		changed = t.mutate(c, ev)
	}
	if !changed && at <= c.lastAt {
		return nil // an identical re-send, or stale news it already has
	}
	c.lastAt = max(c.lastAt, at)
	if c.state != StateCompleted {
		if c.contactable() {
			c.state = StateContactable
		} else {
			c.state = StateOpen
		}
	}
	t.markDirty(c)
	t.changed++
	return nil
}

// isErased reports whether id was erased before or by this batch.
func (e *Engine) isErased(id string, t *txn) bool {
	if i := t.find(id); i >= 0 && t.ents[i].rec == nil {
		return true
	}
	_, ok := e.erased.Get(id)
	return ok
}

// mutate applies the content of ev to c and reports whether it changed.
func (t *txn) mutate(c *record, ev *Event) bool {
	in := t.e.intern
	switch ev.Type {
	case EventItemsChanged:
		if itemsEqual(c.items, ev.OrderItems) {
			return false
		}
		c.items = in.orderItems(ev.OrderItems)
		return true
	case EventEmailCaptured:
		return setEmail(c, ev.Email)
	case EventCustomerDetailsChanged:
		return mergeDetails(c, ev.CustomerDetails, false)
	case EventIdentified:
		changed := t.addIdentity(c, ev.Identity)
		if ev.CustomerDetails != nil && mergeDetails(c, ev.CustomerDetails, false) {
			changed = true
		}
		return changed
	case EventCompleted:
		c.state = StateCompleted
		c.completedAt = toMS(ev.At)
		return true
	case EventRecovered:
		if at := toMS(ev.At); at > c.recoveredAt {
			c.recoveredAt = at
			return true
		}
		return false
	}
	return false
}

// fill applies what a stale event adds that c lacks: an identity, an email
// or a detail the basket does not have yet. It reports whether c changed.
func (t *txn) fill(c *record, ev *Event) bool {
	switch ev.Type {
	case EventEmailCaptured:
		if c.details.Email == "" {
			return setEmail(c, ev.Email)
		}
	case EventCustomerDetailsChanged:
		return mergeDetails(c, ev.CustomerDetails, true)
	case EventIdentified:
		changed := t.addIdentity(c, ev.Identity)
		if ev.CustomerDetails != nil && mergeDetails(c, ev.CustomerDetails, true) {
			changed = true
		}
		return changed
	}
	return false
}

// addIdentity links id to c unless it is linked already; past MaxIdentities
// the oldest is dropped.
func (t *txn) addIdentity(c *record, id *Identity) bool {
	if slices.Contains(c.identities, *id) {
		return false
	}
	ids := make([]Identity, 0, len(c.identities)+1)
	ids = append(ids, c.identities...)
	if len(ids) == MaxIdentities {
		ids = slices.Delete(ids, 0, 1)
	}
	c.identities = append(ids, t.e.intern.identity(*id))
	return true
}

func setEmail(c *record, email string) bool {
	email = strings.TrimSpace(email)
	if c.details.Email == email {
		return false
	}
	c.details.Email = strings.Clone(email)
	return true
}

// mergeDetails overwrites the fields of c's details that d sets; with
// onlyEmpty, only the fields c does not have.
func mergeDetails(c *record, d *CustomerDetails, onlyEmpty bool) bool {
	changed := false
	if d.Email != "" && (!onlyEmpty || c.details.Email == "") {
		changed = setEmail(c, d.Email)
	}
	set := func(dst *string, v string) {
		if v != "" && *dst != v && (!onlyEmpty || *dst == "") {
			*dst = strings.Clone(v)
			changed = true
		}
	}
	set(&c.details.FirstName, d.FirstName)
	set(&c.details.LastName, d.LastName)
	set(&c.details.CompanyName, d.CompanyName)
	return changed
}

// erase marks every basket of an email created at or before at, committed
// or in this batch, erased. Baskets created later are the customer's new
// ones, which a re-sent erasure must leave alone.
func (t *txn) erase(key string, at int64) {
	// Committed baskets the batch has not touched: taken as they are. Those
	// it spares stay untouched, so that they keep their place in the order
	// of the batch.
	for _, id := range t.e.byEmail[key] {
		if t.find(id) < 0 && t.e.recs[id].created <= at {
			t.add(id, nil, true)
			t.changed++
		}
	}
	for i := range t.ents {
		if c := t.ents[i].rec; c != nil && c.created <= at && c.emailKey() == key {
			t.ents[i].rec, t.ents[i].dirty = nil, true
			t.changed++
		}
	}
}

// commit swaps the working copies in. e.mu must be held for writing.
func (t *txn) commit(now int64) {
	e := t.e
	for _, w := range t.ents {
		id, c := w.id, w.rec
		old := e.recs[id]
		if c == nil {
			if old != nil {
				e.remove(old)
			}
			e.erased.Set(id, struct{}{})
			continue
		}
		if !w.dirty {
			continue // touched but unchanged
		}
		e.schedule(c, now)
		if old == nil {
			e.insert(c)
		} else {
			e.replace(old, c)
		}
	}
	e.updateDue()
}
