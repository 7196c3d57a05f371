package basket

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/basketlab/abandoned/basket/store"
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
// Once Apply returns, every query that starts sees the batch; none sees it
// before it is durable (see Open).
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
	return e.submit(ctx, &walRecord{Events: events})
}

// pending is a record logged and not yet applied.
type pending struct {
	rec    *walRecord
	ticket uint64        // the log's ticket: durable once Wait(ticket) returns
	done   chan struct{} // closed once applied (or refused); then res and err are set
	res    Result
	err    error
}

// submit runs a record through the engine. In memory it is applied at once.
// A durable engine logs it first and applies it only once it is durable, in
// log order, so that no reader sees what a crash could take back; whether it
// applies (or is refused) is decided then, exactly as a replay decides it. On
// a replicated log, the same holds of the log's order, which other nodes
// write to as well.
func (e *Engine) submit(ctx context.Context, rec *walRecord) (Result, error) {
	if e.rl != nil {
		if e.isClosed.Load() {
			return Result{}, ErrClosed
		}
		if err := e.rl.health(); err != nil {
			return Result{}, err
		}
		return e.submitReplicated(ctx, newRecordID(), rec)
	}
	if e.log == nil {
		e.amu.Lock()
		defer e.amu.Unlock()
		rec.Now = toMS(e.now())
		if res, ok, err := e.applyEventsShared(rec); ok {
			e.mu.Unlock()
			return res, err
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.closed {
			return Result{}, ErrClosed
		}
		rec.Now = max(e.lastNow, toMS(e.now()))
		return e.applyRecord(rec)
	}
	p, err := e.enqueue(rec)
	if err != nil {
		return Result{}, err
	}
	if err := e.log.Wait(p.ticket); err != nil {
		if errors.Is(err, store.ErrClosed) {
			return Result{}, ErrClosed
		}
		return Result{}, fmt.Errorf("basket: the batch may not be on disk, so it was not applied; the engine takes no more writes: %w: %w", ErrStorage, err)
	}
	e.drain(p.ticket)
	<-p.done
	return p.res, p.err
}

// enqueue stamps a record with the next sequence and a time never earlier
// than the last record's, logs it and queues it for drain.
func (e *Engine) enqueue(rec *walRecord) (*pending, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	if e.isClosed.Load() {
		return nil, ErrClosed
	}
	rec.Seq = e.logSeq + 1
	rec.Now = max(e.logNow, toMS(e.now()))
	b, err := msgpack.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("basket: encoding a batch: %w", err)
	}
	ticket, err := e.log.Append(b)
	switch {
	case errors.Is(err, store.ErrClosed):
		return nil, ErrClosed
	case err != nil:
		return nil, fmt.Errorf("basket: the batch was not applied: %w: %w", ErrStorage, err)
	}
	e.logSeq, e.logNow = rec.Seq, rec.Now
	p := &pending{rec: rec, ticket: ticket, done: make(chan struct{})}
	e.qmu.Lock()
	e.queue = append(e.queue, p)
	e.qmu.Unlock()
	return p, nil
}

// drain applies, in log order, every queued record up to the log's ticket
// upTo, which the caller knows to be durable. Whoever drains first applies
// the records of the waiters that share its fsync.
func (e *Engine) drain(upTo uint64) {
	e.amu.Lock()
	defer e.amu.Unlock()
	for {
		e.qmu.Lock()
		if len(e.queue) == 0 || e.queue[0].ticket > upTo {
			e.qmu.Unlock()
			return
		}
		p := e.queue[0]
		e.queue[0] = nil
		e.queue = e.queue[1:]
		e.qmu.Unlock()
		if res, ok, err := e.applyEventsShared(p.rec); ok {
			p.res, p.err = res, err
			e.mu.Unlock()
		} else {
			e.mu.Lock()
			if e.closed {
				p.err = ErrClosed // durable: a restart applies it
			} else {
				p.res, p.err = e.applyRecord(p.rec)
			}
			e.mu.Unlock()
		}
		close(p.done)
	}
}

// applyRecord applies one record at its time: the engine's one entry point
// for a change, so that a replay of the log reproduces every change. e.amu
// and e.mu must be held, e.mu for writing; applyLocked lets readers in
// while it works, and takes e.mu back before it returns.
func (e *Engine) applyRecord(rec *walRecord) (Result, error) {
	now := max(rec.Now, e.lastNow) // monotonic, whatever the clock did
	e.lastNow = now
	if rec.Seq != 0 {
		e.applied = rec.Seq
	}
	if rec.Settings != nil {
		e.setSettings(rec.Settings)
		e.updateDue()
	}
	if rec.Epoch > e.lastPos {
		e.lastPos = rec.Epoch
	}
	if rec.Epoch > e.changeSeq {
		e.changeSeq = rec.Epoch
	}
	if rec.Revoke != "" {
		return Result{}, e.revokeLocked(now, rec.Revoke)
	}
	if rec.Unsubscribe != "" {
		e.suppressLocked(now, rec.Unsubscribe)
		return Result{}, nil
	}
	if rec.FollowUp != nil {
		return Result{}, e.followUpLocked(now, rec.FollowUp)
	}
	return e.applyLocked(now, rec.Events)
}

// applyEventsShared applies rec, a batch, as applyRecord does, taking the
// write lock once, for the commit, when rec is events alone and nothing
// is due: applyRecord would take it twice, the first time for nothing
// but time's bookkeeping, and each hold stops new readers until it ends
// (the readers' p99.9 beside a writer fell by a fifth without it). It
// reports whether it applied rec (or refused it, with the error), and
// then returns with e.mu held for writing; if not, it changed nothing and
// holds no lock. e.amu must be held.
func (e *Engine) applyEventsShared(rec *walRecord) (Result, bool, error) {
	if !rec.eventsOnly() {
		return Result{}, false, nil
	}
	e.mu.RLock()
	now := max(rec.Now, e.lastNow) // monotonic, as in applyRecord
	if e.closed || now >= e.nextDue.Load() {
		e.mu.RUnlock()
		return Result{}, false, nil
	}
	rec.Now = now
	res, err := e.applyShared(now, rec.Seq, rec.Events)
	return res, true, err
}

// eventsOnly reports whether r is a batch of events and nothing else, but
// its time and the log's sequence (TestEventsOnly checks that it reads
// every other field).
func (r *walRecord) eventsOnly() bool {
	return len(r.Events) > 0 && r.Revoke == "" && r.Settings == nil && r.Epoch == 0 &&
		r.ID == "" && r.Identity == nil && r.Checkpoint == 0 && r.Digest == 0 &&
		r.Unsubscribe == "" && r.FollowUp == nil
}

// applyLocked applies a validated batch at the engine time now; with no
// events it only makes the time-based changes due (a tick). e.amu and e.mu
// must be held, e.mu for writing, and e.lastNow be now. The batch is
// applied by applyShared, which returns with e.mu held for writing again.
func (e *Engine) applyLocked(now int64, events []Event) (Result, error) {
	if now >= e.nextDue.Load() {
		e.runDue(now)
	}
	if len(events) == 0 {
		return Result{}, nil
	}
	e.mu.Unlock()
	e.mu.RLock()
	return e.applyShared(now, 0, events)
}

// applyShared applies a validated batch of events at the engine time now,
// what is due at now made already. e.amu must be held, and e.mu for
// reading: the batch's working copies are made, and their abandonments
// scheduled, under e.mu held for reading only (nothing else changes the
// state meanwhile, the caller holding e.amu), and readers go on. It takes
// e.mu for writing for the commit, sets e.lastNow to now there (and
// e.applied to seq, the log's sequence, if it is not 0), and returns with
// e.mu held for writing.
func (e *Engine) applyShared(now int64, seq uint64, events []Event) (Result, error) {
	t := txn{e: e, now: now, ents: e.txnEnts[:0]}
	// The space keeps no id or record past the batch: a batch that
	// outgrew it leaves it for one of its own, filled in part.
	defer func() {
		clear(t.ents)
		if cap(t.ents) <= maxKeptTxn {
			e.txnEnts = t.ents[:0]
		} else {
			clear(e.txnEnts[:cap(e.txnEnts)])
		}
	}()
	err := t.prepare(events)
	if err == nil && len(t.ents) >= e.stageFrom {
		t.stage()
	}
	e.mu.RUnlock()
	e.mu.Lock()
	e.lastNow = now // a refused batch's time too, as applyRecord has it
	if seq != 0 {
		e.applied = seq
	}
	if err != nil {
		return Result{}, err
	}
	if e.committed != nil {
		start := time.Now()
		t.commit(now)
		e.committed(time.Since(start))
	} else {
		t.commit(now)
	}
	return Result{Applied: len(events), Changed: t.changed}, nil
}

// stagedTxn is the number of touched baskets from which a batch's index
// changes are staged in copies beside the readers (txn.stage) rather than
// made in place under the write lock: below it, the readers' wait is
// short, and shorter than the copies' nodes cost.
const stagedTxn = 64

// maxKeptTxn bounds the space for touched baskets kept between batches.
const maxKeptTxn = 4096

// prepare makes the working copies of the batch and schedules their
// abandonments, with the feed positions after e.lastPos. It changes
// nothing but the interner (the applier's), so e.mu need only be held for
// reading.
func (t *txn) prepare(events []Event) error {
	for i := range events {
		if err := t.step(i, &events[i]); err != nil {
			return err
		}
	}
	t.lastPos = t.e.lastPos
	for _, w := range t.ents {
		if w.rec != nil && w.dirty {
			t.e.schedule(w.rec, t.now, &t.lastPos)
		}
	}
	return nil
}

// txn applies a batch to private copies of the records it touches; commit
// swaps them in. Nothing is visible before commit.
type txn struct {
	e       *Engine
	ents    []went         // the touched baskets, in first-touch order
	index   map[string]int // id -> position in ents, for large batches only
	now     int64          // the engine's clock, unix ms
	changed int
	lastPos uint64 // the last feed position the batch hands out
	// The erasures of the batch (normalised address, time), which take
	// their addresses off the suppression list at commit.
	erasures []erasure
	// staged, if set, holds the batch's index changes, made by stage; and
	// digest the XOR of the digests of the records it replaces, removes
	// and adds, on a replicated log.
	staged  *ixw
	digest  uint64
	touched uint64 // what stage read of the tables' slots, kept so that its reads stay
}

type erasure struct {
	key string
	at  int64
}

// went is a touched basket: its working copy (nil once erased by the batch)
// and whether the copy differs from the record.
type went struct {
	id       string
	rec      *record
	dirty    bool
	erasedAt int64 // when rec is nil: the time of the erasure, unix ms
	// The committed record (nil if none) and its handle; for a new
	// basket, the handle it is added under, once stage or commit adds it.
	old *record
	h   handle
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

// add appends a touched basket: its working copy c, and its committed
// record old and old's handle h (nil and 0 for a new basket).
func (t *txn) add(id string, c *record, dirty bool, h handle, old *record) {
	t.ents = append(t.ents, went{id: id, rec: c, dirty: dirty, h: h, old: old})
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
	h, r := t.e.recs.lookup(id)
	if r == nil {
		if _, ok := t.e.tombs.Get(id); ok {
			return nil, ErrExpired
		}
		return nil, ErrUnknownBasket
	}
	c := *r
	t.add(id, &c, false, h, r)
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
	if erasedAt, ok := t.erasedAt(ev.BasketID); ok {
		if at <= erasedAt {
			return nil // news from before the erasure, re-sent: harmless
		}
		return fail(0, ErrUnknownBasket)
	}
	c, err := t.get(ev.BasketID)
	if ev.Type == EventCreated {
		switch {
		case err == nil && c.sameCreation(ev):
			return nil
		case err == nil:
			return fail(c.state, ErrConflict)
		case !errors.Is(err, ErrUnknownBasket):
			return fail(0, err)
		}
		if t.e.ttl > 0 && at+t.e.ttl <= t.now {
			return fail(0, ErrExpired)
		}
		in := t.e.intern
		sh := shape{entry: in.str(ev.Entry), items: in.orderItems(ev.OrderItems)}
		sh.tracking, sh.trackKey = in.trackingMap(ev.Tracking)
		c = &record{
			id:         strings.Clone(ev.BasketID),
			shape:      in.shape(&sh),
			created:    at,
			lastAt:     at,
			state:      StateOpen,
			createHash: creationHash(ev),
		}
		if len(ev.CustomFields) > 0 {
			c.x = &extra{customFields: maps.Clone(ev.CustomFields)}
		}
		t.add(c.id, c, true, 0, nil)
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

// erasedAt returns the time of the erasure of id, by this batch or before
// it, and whether it was erased.
func (t *txn) erasedAt(id string) (int64, bool) {
	if i := t.find(id); i >= 0 {
		return t.ents[i].erasedAt, t.ents[i].rec == nil
	}
	return t.e.erased.Get(id)
}

// mutate applies the content of ev to c and reports whether it changed.
func (t *txn) mutate(c *record, ev *Event) bool {
	in := t.e.intern
	switch ev.Type {
	case EventItemsChanged:
		if itemsEqual(c.items(), ev.OrderItems) {
			return false
		}
		sh := *c.shape
		sh.items = in.orderItems(ev.OrderItems)
		c.shape = in.shape(&sh)
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
		c.mark, c.feedPos = toMS(ev.At), 0 // no longer abandoned, if it was
		return true
	case EventRecovered:
		if at := toMS(ev.At); at > c.recoveredAt() {
			c.ext().recoveredAt = at
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
		if c.emailLen == 0 {
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
	n := c.numIdentities()
	for i := range n {
		if c.identity(i) == *id {
			return false
		}
	}
	var buf [MaxIdentities + 1]Identity
	ids := c.appendIdentities(buf[:0])
	if len(ids) == MaxIdentities {
		ids = slices.Delete(ids, 0, 1)
	}
	c.setIdentities(t.e.intern, append(ids, t.e.intern.identity(*id)))
	return true
}

func setEmail(c *record, email string) bool {
	email = strings.TrimSpace(email)
	if c.email() == email {
		return false
	}
	c.setEmail(email)
	return true
}

// mergeDetails overwrites the fields of c's details that d sets; with
// onlyEmpty, only the fields c does not have.
func mergeDetails(c *record, d *CustomerDetails, onlyEmpty bool) bool {
	changed := false
	if d.Email != "" && (!onlyEmpty || c.emailLen == 0) {
		changed = setEmail(c, d.Email)
	}
	x := c.extra()
	names := [3]string{x.firstName(), x.lastName(), x.companyName()}
	named := false
	for i, v := range [3]string{d.FirstName, d.LastName, d.CompanyName} {
		if v != "" && names[i] != v && (!onlyEmpty || names[i] == "") {
			names[i] = v
			named = true
		}
	}
	if named {
		c.ext().setNames(names[0], names[1], names[2])
		changed = true
	}
	return changed
}

// erase marks every basket of an email created at or before at, committed
// or in this batch, erased. Baskets created later are the customer's new
// ones, which a re-sent erasure must leave alone.
func (t *txn) erase(key string, at int64) {
	t.erasures = append(t.erasures, erasure{key, at})
	// Committed baskets the batch has not touched: taken as they are, in
	// (created, id) order, which every node has alike (the index's order
	// is the order of filing, which a node that read a snapshot differs
	// in). Those it spares stay untouched, so that they keep their place
	// in the order of the batch.
	var mine []*record
	t.e.byEmail.each(&t.e.recs, key, func(r *record) {
		if t.find(r.id) < 0 && r.created <= at {
			mine = append(mine, r)
		}
	})
	slices.SortFunc(mine, func(a, b *record) int {
		return cmp.Or(cmp.Compare(a.created, b.created), strings.Compare(a.id, b.id))
	})
	for _, r := range mine {
		h, _ := t.e.recs.lookup(r.id)
		t.add(r.id, nil, true, h, r)
		t.ents[len(t.ents)-1].erasedAt = at
		t.changed++
	}
	for i := range t.ents {
		if c := t.ents[i].rec; c != nil && c.created <= at && c.emailKey() == key {
			t.ents[i].rec, t.ents[i].dirty, t.ents[i].erasedAt = nil, true, at
			t.changed++
		}
	}
}

// stage makes the batch's index changes in copies of the indexes, beside
// readers: e.mu must be held for reading (and e.amu), as prepare leaves
// it. It adds the batch's new records to the slot table first, where no
// index names them yet, for the copies' searches to read their ids; an
// add that would change the table's list of chunks takes e.mu for writing
// (once in 1,024 new baskets, and after a snapshot's freeze). commit
// installs the copies.
func (t *txn) stage() {
	e := t.e
	locked := false
	for i := range t.ents {
		w := &t.ents[i]
		if w.rec != nil && w.dirty && w.old == nil {
			if !locked && !e.recs.slots.addsInPlace() {
				e.mu.RUnlock()
				e.mu.Lock()
				locked = true
			}
			w.h = e.recs.slots.add(w.rec)
		}
	}
	if locked {
		e.mu.Unlock()
		e.mu.RLock()
	}
	x := &ixw{e: e, cow: true}
	for i := range t.ents {
		w := &t.ents[i]
		switch {
		case w.rec == nil:
			if w.old != nil {
				x.remove(w.h, w.old)
				t.digestOf(w.old)
			}
		case !w.dirty:
		case w.old == nil:
			x.insert(w.h, w.rec)
			t.digestOf(w.rec)
		default:
			x.reindex(w.h, w.old, w.rec)
			t.digestOf(w.old)
			t.digestOf(w.rec)
		}
	}
	// The commit files the new records by id and address: their slots of
	// the two tables, read last here, are in the cache when it does.
	var touch uint64
	for i := range t.ents {
		if w := &t.ents[i]; w.rec != nil && w.dirty && w.old == nil {
			touch ^= e.recs.m.warm(e.recs.key(w.rec.id))
			if k := w.rec.emailKey(); k != "" {
				touch ^= e.byEmail.one.warm(e.byEmail.key(k))
			}
		}
	}
	t.touched = touch
	t.staged = x
	if e.staging != nil {
		e.staging()
	}
}

// digestOf adds r's digest to the batch's, on a replicated log.
func (t *txn) digestOf(r *record) {
	if t.e.rl != nil {
		t.digest ^= t.e.digest(r)
	}
}

// commit swaps the working copies in: it installs the indexes stage made,
// or makes their changes in place. e.mu must be held for writing.
func (t *txn) commit(now int64) {
	e := t.e
	e.lastPos = t.lastPos
	x := t.staged
	if x == nil {
		in := e.inPlace()
		x = &in
	}
	var erased []string
	for i := range t.ents {
		w := &t.ents[i]
		id, c, h, old := w.id, w.rec, w.h, w.old
		if c == nil {
			if old != nil {
				if t.staged == nil {
					x.remove(h, old)
					t.digestOf(old)
				}
				e.unfiled(h, old)
			}
			e.erased.Set(id, w.erasedAt)
			erased = append(erased, id)
			continue
		}
		if !w.dirty {
			continue // touched but unchanged
		}
		switch {
		case t.staged != nil && old == nil:
			e.filed(h, c)
		case t.staged != nil:
			e.refiled(h, old, c)
		case old == nil:
			h = e.recs.slots.add(c)
			x.insert(h, c)
			t.digestOf(c)
			e.filed(h, c)
		default:
			x.reindex(h, old, c)
			t.digestOf(old)
			t.digestOf(c)
			e.refiled(h, old, c)
		}
	}
	if t.staged != nil {
		x.install()
		t.staged = nil
	}
	e.recDigest ^= t.digest
	for _, er := range t.erasures {
		e.unsuppressErased(er.key, er.at)
	}
	if len(erased) > 0 {
		e.appendChange(centry{typ: 4, ids: erased})
	}
	e.updateDue()
}
