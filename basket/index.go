package basket

import (
	"math"

	"github.com/tidwall/btree"
)

// ckey orders baskets by (created, id).
type ckey struct {
	created int64
	id      string
}

func ckeyLess(a, b ckey) bool {
	if a.created != b.created {
		return a.created < b.created
	}
	return a.id < b.id
}

// aentry is an entry of the created, abandoned and tag indexes: the
// created time by value, so that comparisons chase no pointer but on a
// tie, and the basket's handle, whose record's id breaks ties. It holds no
// pointer (see handle).
type aentry struct {
	created int64
	h       handle // 0 only in a pivot, which sorts before its created time's baskets
}

// aentryLess returns the order of entries whose handles s resolves.
func aentryLess(s *slots) func(a, b aentry) bool {
	return func(a, b aentry) bool {
		if a.created != b.created {
			return a.created < b.created
		}
		return a.h != b.h && s.id(a.h) < s.id(b.h)
	}
}

// fentry is an entry of the feed, ordered by position.
type fentry struct {
	pos uint64
	h   handle
}

func fentryLess(a, b fentry) bool { return a.pos < b.pos }

// pentry is a contactable basket waiting to become abandoned. Baskets of
// one deadline are abandoned in the order of their ids, which every node
// of a cluster has alike (their handles differ).
type pentry struct {
	deadline int64
	h        handle
}

// pentryLess returns the order of entries whose handles s resolves.
func pentryLess(s *slots) func(a, b pentry) bool {
	return func(a, b pentry) bool {
		if a.deadline != b.deadline {
			return a.deadline < b.deadline
		}
		return a.h != b.h && s.id(a.h) < s.id(b.h)
	}
}

var noLocks = btree.Options{NoLocks: true}

// newAbandonedTree returns a tree of entries whose handles s resolves. Only
// its changes and searches ask s; a walk of a frozen copy does not.
func newAbandonedTree(s *slots) *btree.BTreeG[aentry] {
	return btree.NewBTreeGOptions(aentryLess(s), noLocks)
}

// abTree is the abandoned index, or a tag's: the B-tree of its entries,
// which pages walk, and beside it the count tree of their created times,
// which counts read. Its methods change both; the B-tree must not be
// changed but through them.
type abTree struct {
	tr *btree.BTreeG[aentry]
	n  *countTree
}

// newAbTree returns an index of entries whose handles s resolves.
func newAbTree(s *slots) *abTree {
	return &abTree{tr: newAbandonedTree(s), n: newCountTree()}
}

func (a *abTree) len() int { return a.tr.Len() }

// set adds ent, if a has no entry of its basket.
func (a *abTree) set(ent aentry) {
	if _, replaced := a.tr.Set(ent); !replaced {
		a.n.insert(ent.created)
	}
}

// load is set for an entry that likely sorts after all of a's.
func (a *abTree) load(ent aentry) {
	if _, replaced := a.tr.Load(ent); !replaced {
		a.n.insert(ent.created)
	}
}

// delete removes ent's basket's entry, if a has one.
func (a *abTree) delete(ent aentry) {
	if _, ok := a.tr.Delete(ent); ok {
		a.n.delete(ent.created)
	}
}

// copy returns a copy-on-write copy of a (see btree's Copy and countTree's).
func (a *abTree) copy() *abTree { return &abTree{tr: a.tr.Copy(), n: a.n.copy()} }

// check verifies that the count tree holds the B-tree's created times.
func (a *abTree) check(fail func(format string, args ...any)) {
	if !a.n.check(fail) {
		return // its searches may not end well
	}
	if a.n.len() != a.tr.Len() {
		fail("count tree holds %d values, its index %d", a.n.len(), a.tr.Len())
		return
	}
	var last int64
	run := 0 // the entries of last's created time seen
	ok := true
	probe := func() {
		hi := a.n.len()
		if last < math.MaxInt64 {
			hi = a.n.less(last + 1)
		}
		if lo := a.n.less(last); hi-lo != run {
			fail("count tree holds %d of created time %d, its index %d", hi-lo, last, run)
			ok = false
		}
	}
	a.tr.Scan(func(e aentry) bool {
		if run > 0 && e.created != last {
			probe()
			run = 0
		}
		last = e.created
		run++
		return ok
	})
	if run > 0 && ok {
		probe()
	}
}

func newFeedTree() *btree.BTreeG[fentry] { return btree.NewBTreeGOptions(fentryLess, noLocks) }

// newPendingTree returns a tree of entries whose handles s resolves.
func newPendingTree(s *slots) *btree.BTreeG[pentry] {
	return btree.NewBTreeGOptions(pentryLess(s), noLocks)
}

// rank returns the number of entries less than k, exactly. A count asks
// the count tree beside the B-tree (abTree), which orders created times
// only; rank places a key with an id: a cursor whose basket has gone.
//
// The tree gives positions only through GetAt, which walks from the root to
// the entry reading the count of every child it passes, and from a million
// entries on a walk to a new part of the tree is mostly cache misses. A
// bisection over GetAt costs log₂ n walks, O(log² n) in all, and its probes
// land all over the tree. rank instead guesses the position from the
// created times, the keys' leading part: k's created time is interpolated
// between those of the entries that bound the search (interpolation search,
// with the Illinois correction: a bound kept twice running counts half as
// far the next time, so that a curved density cannot make the search creep
// up on k from one side). On created times spread evenly, as baskets arrive
// over days, a guess's error is about the root of the range's width, so it
// takes O(log log n) probes, five or so from 1e5 to 1e7 entries, and every
// probe after the first lands near it, on a path mostly cached.
//
// Created times bunched so that interpolation helps little get at most
// rankBudget interpolated probes, then a bisection of what remains: no
// input takes more than rankBudget + log₂ n + 1 probes. Where the bounds'
// created times are equal only the ids decide, and it bisects.
//
// It stores nothing: no memory per entry, nothing to keep up to date.
func rank(tr *btree.BTreeG[aentry], s *slots, k ckey) int {
	r, _ := rankSearch(tr, s, k)
	return r
}

// rankBudget is the most interpolated probes rank makes before it bisects.
// On evenly spread created times no search in the tests needed as many.
const rankBudget = 12

// lessKey reports whether e sorts before k. It reads e's record only when
// the created times tie and k has an id: never for the bounds of a created
// range, whose ids are empty.
func lessKey(s *slots, e aentry, k ckey) bool {
	if e.created != k.created {
		return e.created < k.created
	}
	return k.id != "" && s.id(e.h) < k.id
}

// rankSearch is rank, also reporting how many positional probes (GetAt) it
// made.
func rankSearch(tr *btree.BTreeG[aentry], s *slots, k ckey) (r, probes int) {
	n := tr.Len()
	if n == 0 {
		return 0, 0
	}
	below, _ := tr.Min() // Min and Max follow one edge: no counts read
	if !lessKey(s, below, k) {
		return 0, 0
	}
	above, _ := tr.Max()
	if lessKey(s, above, k) {
		return n, 0
	}
	// The created time to aim for: the entries before k are those created
	// before k.created and, if k has an id, some of those created at it.
	t := float64(k.created)
	if k.id == "" {
		t -= 0.5
	}
	// Invariant: below is the entry at lo-1 and sorts before k, above is
	// the entry at hi and does not; so lo <= rank <= hi, and the entries
	// at lo..hi-1 are the ones not yet placed. wl and wh weigh below's and
	// above's distances from t (Illinois); kept is the bound the last
	// probe left in place (-1 below, +1 above).
	lo, hi := 1, n-1
	budget, wl, wh, kept := rankBudget, 1.0, 1.0, 0
	for lo < hi {
		m := hi - lo
		p := lo + m/2
		interpolated := false
		if span := float64(above.created) - float64(below.created); budget > 0 && span > 0 {
			budget--
			interpolated = true
			dl := (t - float64(below.created)) * wl
			dh := (float64(above.created) - t) * wh
			// The guess at lo-1 + frac·(m+1), the rank, is the entry to
			// look at: if it is before k, the rank is past it. (frac is
			// outside [0, 1] or NaN only by rounding, near ±2⁶³.)
			if frac := dl / (dl + dh); frac > 0 {
				p = min(lo+int(min(frac, 1)*float64(m+1)), hi-1)
			} else {
				p = lo
			}
		}
		e, _ := tr.GetAt(p)
		probes++
		if lessKey(s, e, k) {
			lo, below, wl = p+1, e, 1
			if interpolated && kept == 1 {
				wh /= 2
			}
			kept = 1
		} else {
			hi, above, wh = p, e, 1
			if interpolated && kept == -1 {
				wl /= 2
			}
			kept = -1
		}
	}
	return lo, probes
}
