package basket

import "github.com/tidwall/btree"

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

// aentry is an entry of the created, abandoned and tag indexes (see
// countTree): the created time by value, so that comparisons chase no
// pointer but on a tie, and the basket's handle, whose record's id breaks
// ties. It holds no pointer (see handle).
type aentry struct {
	created int64
	h       handle
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

// abTree is the abandoned index, or a tag's: a count tree of its entries
// (see countTree), which pages walk and counts read.
type abTree = countTree

// newAbTree returns an index of entries whose handles s resolves.
func newAbTree(s *slots) *abTree { return newCountTree(s) }

func newFeedTree() *btree.BTreeG[fentry] { return btree.NewBTreeGOptions(fentryLess, noLocks) }

// newPendingTree returns a tree of entries whose handles s resolves.
func newPendingTree(s *slots) *btree.BTreeG[pentry] {
	return btree.NewBTreeGOptions(pentryLess(s), noLocks)
}
