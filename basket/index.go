package basket

import (
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
// created time by value, so that comparisons chase no pointer but on a tie,
// and the record, whose id breaks ties. 16 bytes.
type aentry struct {
	created int64
	rec     *record // nil only in a pivot with the empty id
}

func (a aentry) id() string {
	if a.rec == nil {
		return ""
	}
	return a.rec.id
}

func (a aentry) key() ckey { return ckey{a.created, a.id()} }

func aentryLess(a, b aentry) bool {
	if a.created != b.created {
		return a.created < b.created
	}
	return a.id() < b.id()
}

// pivot returns an entry that sorts as k.
func pivot(k ckey) aentry {
	if k.id == "" {
		return aentry{created: k.created}
	}
	return aentry{created: k.created, rec: &record{id: k.id}}
}

// fentry is an entry of the feed, ordered by position.
type fentry struct {
	pos uint64
	rec *record
}

func fentryLess(a, b fentry) bool { return a.pos < b.pos }

// pentry is a contactable basket waiting to become abandoned.
type pentry struct {
	deadline int64
	id       string
}

func pentryLess(a, b pentry) bool {
	if a.deadline != b.deadline {
		return a.deadline < b.deadline
	}
	return a.id < b.id
}

var noLocks = btree.Options{NoLocks: true}

func newAbandonedTree() *btree.BTreeG[aentry] {
	return btree.NewBTreeGOptions(aentryLess, noLocks)
}
func newFeedTree() *btree.BTreeG[fentry]    { return btree.NewBTreeGOptions(fentryLess, noLocks) }
func newPendingTree() *btree.BTreeG[pentry] { return btree.NewBTreeGOptions(pentryLess, noLocks) }

// rank returns the number of entries less than k, by a binary search over
// the tree's positional lookups: O(log² n), no scan.
func rank(tr *btree.BTreeG[aentry], k ckey) int {
	lo, hi := 0, tr.Len()
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		e, _ := tr.GetAt(mid)
		if ckeyLess(e.key(), k) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}
