package basket

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tidwall/btree"
)

// The change journal: what happened to baskets that a business wants
// pushed to it (outgoing webhooks), in the order the engine applied it.
// Each change has a sequence number of its own, one above the last, the
// same on every node of a cluster (changes are derived from applying the
// log); the journal is kept for Options.ChangeRetention of engine time,
// through snapshots and restarts like the rest of the state.

// ChangeType is the kind of a change.
type ChangeType string

// Change types.
const (
	// ChangeAbandoned: a basket entered the abandonment feed.
	ChangeAbandoned ChangeType = "basket.abandoned"
	// ChangeRecovered: a recovery link of the basket was used.
	ChangeRecovered ChangeType = "basket.recovered"
	// ChangeCompleted: a basket abandoned (or recovered) was ordered.
	ChangeCompleted ChangeType = "basket.completed"
	// ChangeErased: baskets were erased with their customer's address.
	ChangeErased ChangeType = "basket.erased"
)

// ChangeTypes are the change types, in a fixed order.
var ChangeTypes = []ChangeType{ChangeAbandoned, ChangeRecovered, ChangeCompleted, ChangeErased}

var changeTypeCodes = map[ChangeType]uint8{ChangeAbandoned: 1, ChangeRecovered: 2, ChangeCompleted: 3, ChangeErased: 4}

// Change is an entry of the change journal.
type Change struct {
	Seq       uint64 // its place in the journal: one above the change before
	Type      ChangeType
	At        time.Time // engine time when it happened
	BasketIDs []string  // the basket; for ChangeErased every basket erased (never the address)
	// Basket is the basket as it is now, for every type but ChangeErased;
	// nil if it is gone since (expired or erased).
	Basket *Basket
	// FeedPosition is the basket's feed position, for ChangeAbandoned.
	FeedPosition uint64
}

// ChangePage is a page of the change journal. Next is the sequence to pass
// as after for the next page: the last change's, or after if the page is
// empty.
type ChangePage struct {
	Items []Change
	Next  uint64
}

// ErrChangesGone means the changes asked for are older than the journal
// keeps (Options.ChangeRetention): a reader that was away longer lost them.
var ErrChangesGone = errors.New("changes older than the journal keeps")

// ErrNoJournal means the engine keeps no change journal
// (Options.ChangeRetention is 0).
var ErrNoJournal = errors.New("the engine keeps no change journal")

// DefaultChangeRetention is how long a server that pushes changes keeps
// them: a receiver may be away this long and miss nothing.
const DefaultChangeRetention = 96 * time.Hour

// centry is a change as the journal keeps it.
type centry struct {
	seq     uint64
	at      int64 // unix ms
	typ     uint8
	id      string   // the basket, unless erased
	ids     []string // erased
	feedPos uint64
}

func newChangeTree() *btree.BTreeG[centry] {
	return btree.NewBTreeGOptions(func(a, b centry) bool { return a.seq < b.seq }, btree.Options{NoLocks: true})
}

var changeTypeOf = [...]ChangeType{1: ChangeAbandoned, 2: ChangeRecovered, 3: ChangeCompleted, 4: ChangeErased}

// noteChange appends the change from old (nil for a new basket) to c, if
// it is one the journal holds, at the engine time of the record being
// applied. e.mu must be held for writing.
func (e *Engine) noteChange(old, c *record) {
	switch {
	// A recovery first: with AbandonAfter 0 the basket it touches is
	// abandoned again at once, at a new feed position, which is not news.
	case old != nil && c.recoveredAt() > old.recoveredAt():
		e.appendChange(centry{typ: 2, id: c.id})
	case c.feedPos != 0 && (old == nil || old.feedPos != c.feedPos):
		e.appendChange(centry{typ: 1, id: c.id, feedPos: c.feedPos})
	case old != nil && c.state == StateCompleted && old.state != StateCompleted &&
		(old.feedPos != 0 || old.abandonedAt() != 0 || old.recoveredAt() != 0):
		e.appendChange(centry{typ: 3, id: c.id})
	}
}

// appendChange gives ce the next sequence and keeps it if the engine keeps
// a journal, dropping what is older than the retention. The sequence moves
// whether or not the journal is kept, so that nodes of a cluster with and
// without one agree on it. e.mu must be held for writing.
func (e *Engine) appendChange(ce centry) {
	e.changeSeq++
	if e.changeRetention <= 0 {
		return
	}
	ce.seq, ce.at = e.changeSeq, e.lastNow
	e.changes.Set(ce)
	for {
		old, ok := e.changes.Min()
		if !ok || old.at > e.lastNow-e.changeRetention {
			break
		}
		e.changes.Delete(old)
		e.changesTrimmed = old.seq
	}
	if e.changesMoved != nil {
		close(e.changesMoved)
		e.changesMoved = nil
	}
}

// ChangesWait returns a channel closed when a change is appended after the
// call: for a reader that has read every change and waits for the next.
func (e *Engine) ChangesWait() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.changesMoved == nil {
		e.changesMoved = make(chan struct{})
	}
	return e.changesMoved
}

// LastChange returns the sequence of the last change: where a new reader
// that wants only what comes from now on starts.
func (e *Engine) LastChange(ctx context.Context) (uint64, error) {
	if err := e.beforeRead(ctx); err != nil {
		return 0, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return 0, ErrClosed
	}
	return e.changeSeq, nil
}

// Changes returns up to limit changes after sequence after (0: from the
// oldest kept), in order. If changes after after were dropped (older than
// Options.ChangeRetention) it returns ErrChangesGone, wrapped with the
// oldest sequence kept, which a reader may resume from knowing what it
// lost. Like every read, it reflects every write acknowledged before it
// started.
func (e *Engine) Changes(ctx context.Context, after uint64, limit int) (ChangePage, error) {
	if err := ctx.Err(); err != nil {
		return ChangePage{}, err
	}
	limit, err := checkLimit(limit)
	if err != nil {
		return ChangePage{}, err
	}
	if err := e.beforeRead(ctx); err != nil {
		return ChangePage{}, err
	}
	now := e.readNow()
	e.mu.RLock()
	defer e.mu.RUnlock()
	switch {
	case e.closed:
		return ChangePage{}, ErrClosed
	case e.changeRetention <= 0:
		return ChangePage{}, ErrNoJournal
	case after != 0 && after < e.changesTrimmed:
		return ChangePage{}, &ChangesGoneError{After: after, Oldest: e.changesTrimmed}
	}
	p := ChangePage{Next: after}
	e.changes.Ascend(centry{seq: after + 1}, func(ce centry) bool {
		ch := Change{Seq: ce.seq, Type: changeTypeOf[ce.typ], At: msTime(ce.at), FeedPosition: ce.feedPos}
		if ce.typ == 4 {
			ch.BasketIDs = append([]string(nil), ce.ids...)
		} else {
			ch.BasketIDs = []string{ce.id}
			if r := e.recs.get(ce.id); r != nil {
				b := e.materialise(r, now/1000)
				ch.Basket = &b
			}
		}
		p.Items = append(p.Items, ch)
		p.Next = ce.seq
		return len(p.Items) < limit
	})
	return p, nil
}

// ChangesGoneError reports changes dropped from the journal: those after
// After up to Oldest. It unwraps to ErrChangesGone.
type ChangesGoneError struct {
	After  uint64 // what the reader asked for
	Oldest uint64 // the last change dropped: resume after it
}

func (e *ChangesGoneError) Error() string {
	return fmt.Sprintf("changes after %d up to %d were dropped from the journal (older than its retention)", e.After, e.Oldest)
}

func (e *ChangesGoneError) Unwrap() error { return ErrChangesGone }
