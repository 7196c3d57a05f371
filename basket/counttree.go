package basket

import "sync/atomic"

// countTree is a multiset of created times that answers, exactly, how many
// of them are less than a given time: the count of a created range is the
// difference of two such answers. The abandoned index and the tags' indexes
// each keep one beside their B-tree (see abTree).
//
// It is a B+tree whose inner nodes hold, beside each child, the number of
// values under it and the greatest of them. A count reads one path from the
// root to a leaf, and every count it adds up is in a node on that path: at
// 1e7 values, four nodes. The B-tree's own positions (GetAt) instead read
// the count of every child passed in that child's own node, a cache miss
// each.
//
// Values are kept in leaves of up to countLeafMax, sorted; equal values
// are interchangeable, so a delete takes any one of them. Only the times
// are kept, 8 bytes a value in full leaves. Leaves fill up when values
// arrive in order, as baskets do: a leaf that overflows at its end keeps
// its values and starts a new leaf with the one that came.
//
// A copy shares every node with its original until one of them changes a
// node, which copies it then (each tree owns the nodes of its generation),
// so a copy may be changed while the original is read. Like a map, it may
// be read by many goroutines while none writes.
type countTree struct {
	root *countNode
	n    int
	gen  uint64
}

const (
	countLeafMax  = 128 // values in a leaf: 1 KiB
	countInnerMax = 64  // children of an inner node
	countLeafMin  = countLeafMax / 3
	countInnerMin = countInnerMax / 3
)

// countNode is a leaf (kids nil) or an inner node.
type countNode struct {
	gen    uint64
	vals   []int64      // a leaf's values, in order
	kids   []*countNode // an inner node's children, in order
	counts []int        // the number of values under kids[i]
	maxes  []int64      // the greatest value under kids[i]
}

// countGen hands out the trees' generations.
var countGen atomic.Uint64

func newCountTree() *countTree { return &countTree{gen: countGen.Add(1)} }

func (t *countTree) len() int { return t.n }

// copy returns a copy of t. From then on, t and the copy each copy a node
// they share before they change it.
func (t *countTree) copy() *countTree {
	c := *t
	c.gen = countGen.Add(1)
	t.gen = countGen.Add(1)
	return &c
}

func (n *countNode) leaf() bool { return n.kids == nil }

// size is the number of n's values, if a leaf, or children.
func (n *countNode) size() int {
	if n.leaf() {
		return len(n.vals)
	}
	return len(n.kids)
}

// total is the number of values under n.
func (n *countNode) total() int {
	if n.leaf() {
		return len(n.vals)
	}
	s := 0
	for _, c := range n.counts {
		s += c
	}
	return s
}

// max is the greatest value under n, which is not empty.
func (n *countNode) max() int64 {
	if n.leaf() {
		return n.vals[len(n.vals)-1]
	}
	return n.maxes[len(n.maxes)-1]
}

func newCountLeaf(gen uint64) *countNode {
	return &countNode{gen: gen, vals: make([]int64, 0, countLeafMax)}
}

func newCountInner(gen uint64) *countNode {
	// One child over the most, which a split takes back at once.
	return &countNode{
		gen:    gen,
		kids:   make([]*countNode, 0, countInnerMax+1),
		counts: make([]int, 0, countInnerMax+1),
		maxes:  make([]int64, 0, countInnerMax+1),
	}
}

// own makes *p a node of t's generation, copying it if it is not.
func (t *countTree) own(p **countNode) *countNode {
	n := *p
	if n.gen == t.gen {
		return n
	}
	var c *countNode
	if n.leaf() {
		c = newCountLeaf(t.gen)
		c.vals = append(c.vals, n.vals...)
	} else {
		c = newCountInner(t.gen)
		c.kids = append(c.kids, n.kids...)
		c.counts = append(c.counts, n.counts...)
		c.maxes = append(c.maxes, n.maxes...)
	}
	*p = c
	return c
}

// firstAtLeast returns the first i with xs[i] >= v; len(xs) if none.
func firstAtLeast(xs []int64, v int64) int {
	lo, hi := 0, len(xs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if xs[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// firstAbove returns the first i with xs[i] > v; len(xs) if none.
func firstAbove(xs []int64, v int64) int {
	lo, hi := 0, len(xs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if xs[m] <= v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// less returns the number of values less than v.
func (t *countTree) less(v int64) int {
	n := t.root
	if n == nil {
		return 0
	}
	r := 0
	for !n.leaf() {
		// Every value under the children before i is less than v: their
		// greatest is.
		i := firstAtLeast(n.maxes, v)
		for _, c := range n.counts[:i] {
			r += c
		}
		if i == len(n.kids) {
			return r
		}
		n = n.kids[i]
	}
	return r + firstAtLeast(n.vals, v)
}

// insert adds v.
func (t *countTree) insert(v int64) {
	if t.root == nil {
		t.root = newCountLeaf(t.gen)
	}
	root := t.own(&t.root)
	if right := t.insertUnder(root, v); right != nil {
		nr := newCountInner(t.gen)
		nr.kids = append(nr.kids, root, right)
		nr.counts = append(nr.counts, root.total(), right.total())
		nr.maxes = append(nr.maxes, root.max(), right.max())
		t.root = nr
	}
	t.n++
}

// insertUnder adds v under n, a node of t's generation. If n splits, it
// returns the new node that follows it.
func (t *countTree) insertUnder(n *countNode, v int64) *countNode {
	if n.leaf() {
		i := firstAbove(n.vals, v) // after its equals: in order, an append
		if len(n.vals) < countLeafMax {
			n.vals = insertAt(n.vals, i, v)
			return nil
		}
		right := newCountLeaf(t.gen)
		if i == len(n.vals) {
			right.vals = append(right.vals, v)
			return right
		}
		h := len(n.vals) / 2
		right.vals = append(right.vals, n.vals[h:]...)
		n.vals = n.vals[:h]
		if i <= h {
			n.vals = insertAt(n.vals, i, v)
		} else {
			right.vals = insertAt(right.vals, i-h, v)
		}
		return right
	}
	// The first child whose greatest value is greater than v, or the last:
	// v goes after every value of the children before it, and before
	// every value of those after it. Past its equals, so that values in
	// order, equal ones too, go to the last child.
	i := min(firstAbove(n.maxes, v), len(n.kids)-1)
	kid := t.own(&n.kids[i])
	right := t.insertUnder(kid, v)
	if right == nil {
		n.counts[i]++
		n.maxes[i] = max(n.maxes[i], v)
		return nil
	}
	n.counts[i], n.maxes[i] = kid.total(), kid.max()
	n.kids = insertAt(n.kids, i+1, right)
	n.counts = insertAt(n.counts, i+1, right.total())
	n.maxes = insertAt(n.maxes, i+1, right.max())
	if len(n.kids) <= countInnerMax {
		return nil
	}
	// Split: a node that overflowed at its end keeps its children.
	h := len(n.kids) / 2
	if i+1 == len(n.kids)-1 {
		h = len(n.kids) - 1
	}
	r := newCountInner(t.gen)
	r.kids = append(r.kids, n.kids[h:]...)
	r.counts = append(r.counts, n.counts[h:]...)
	r.maxes = append(r.maxes, n.maxes[h:]...)
	clear(n.kids[h:])
	n.kids, n.counts, n.maxes = n.kids[:h], n.counts[:h], n.maxes[:h]
	return r
}

// insertAt inserts v at i within xs's capacity, which has room.
func insertAt[T any](xs []T, i int, v T) []T {
	xs = xs[:len(xs)+1]
	copy(xs[i+1:], xs[i:])
	xs[i] = v
	return xs
}

// removeAt removes xs[i], zeroing the slot it frees.
func removeAt[T any](xs []T, i int) []T {
	copy(xs[i:], xs[i+1:])
	var zero T
	xs[len(xs)-1] = zero
	return xs[:len(xs)-1]
}

// delete removes one value equal to v and reports whether there was one.
func (t *countTree) delete(v int64) bool {
	if !t.has(v) {
		return false // copies nothing
	}
	t.deleteUnder(t.own(&t.root), v)
	if t.n--; t.n == 0 {
		t.root = nil
		return true
	}
	for !t.root.leaf() && len(t.root.kids) == 1 {
		t.root = t.root.kids[0]
	}
	return true
}

// has reports whether t holds v.
func (t *countTree) has(v int64) bool {
	n := t.root
	if n == nil {
		return false
	}
	for !n.leaf() {
		i := firstAtLeast(n.maxes, v)
		if i == len(n.kids) {
			return false
		}
		n = n.kids[i]
	}
	i := firstAtLeast(n.vals, v)
	return i < len(n.vals) && n.vals[i] == v
}

// deleteUnder removes one v under n, a node of t's generation, which holds
// one.
func (t *countTree) deleteUnder(n *countNode, v int64) {
	if n.leaf() {
		n.vals = removeAt(n.vals, firstAtLeast(n.vals, v))
		return
	}
	// The first child whose greatest value is at least v holds v if any
	// does: a later one could only if this one's greatest were v.
	i := firstAtLeast(n.maxes, v)
	kid := t.own(&n.kids[i])
	t.deleteUnder(kid, v)
	n.counts[i]--
	if n.counts[i] == 0 {
		n.kids, n.counts, n.maxes = removeAt(n.kids, i), removeAt(n.counts, i), removeAt(n.maxes, i)
		return
	}
	n.maxes[i] = kid.max()
	min := countLeafMin
	if !kid.leaf() {
		min = countInnerMin
	}
	if kid.size() < min && len(n.kids) > 1 {
		t.rebalance(n, i)
	}
}

// rebalance merges n's child i, which is short, with a neighbour, or moves
// values or children from the neighbour to even them.
func (t *countTree) rebalance(n *countNode, i int) {
	j := i + 1
	if j == len(n.kids) {
		i, j = i-1, i
	}
	a, b := t.own(&n.kids[i]), t.own(&n.kids[j])
	room := countLeafMax
	if !a.leaf() {
		room = countInnerMax
	}
	if a.size()+b.size() <= room {
		if a.leaf() {
			a.vals = append(a.vals, b.vals...)
		} else {
			a.kids = append(a.kids, b.kids...)
			a.counts = append(a.counts, b.counts...)
			a.maxes = append(a.maxes, b.maxes...)
		}
		n.counts[i] += n.counts[j]
		n.maxes[i] = n.maxes[j]
		n.kids, n.counts, n.maxes = removeAt(n.kids, j), removeAt(n.counts, j), removeAt(n.maxes, j)
		return
	}
	// Even them out: a keeps the first half of both.
	h := (a.size() + b.size()) / 2
	if a.leaf() {
		all := append(append(make([]int64, 0, a.size()+b.size()), a.vals...), b.vals...)
		a.vals = append(a.vals[:0], all[:h]...)
		b.vals = append(b.vals[:0], all[h:]...)
	} else {
		kids := append(append(make([]*countNode, 0, a.size()+b.size()), a.kids...), b.kids...)
		counts := append(append(make([]int, 0, len(kids)), a.counts...), b.counts...)
		maxes := append(append(make([]int64, 0, len(kids)), a.maxes...), b.maxes...)
		clear(a.kids[:cap(a.kids)][h:])
		clear(b.kids[:cap(b.kids)])
		a.kids, a.counts, a.maxes = append(a.kids[:0], kids[:h]...), append(a.counts[:0], counts[:h]...), append(a.maxes[:0], maxes[:h]...)
		b.kids, b.counts, b.maxes = append(b.kids[:0], kids[h:]...), append(b.counts[:0], counts[h:]...), append(b.maxes[:0], maxes[h:]...)
	}
	n.counts[i], n.maxes[i] = a.total(), a.max()
	n.counts[j], n.maxes[j] = b.total(), b.max()
}

// check verifies t's structure, calling fail for each fault it finds.
func (t *countTree) check(fail func(format string, args ...any)) {
	if t.root == nil {
		if t.n != 0 {
			fail("count tree: empty, and counts %d", t.n)
		}
		return
	}
	first := true
	var last int64
	var walk func(n *countNode) int
	walk = func(n *countNode) int {
		if n.leaf() {
			if len(n.vals) == 0 || len(n.vals) > countLeafMax {
				fail("count tree: a leaf of %d values", len(n.vals))
			}
			for _, v := range n.vals {
				if !first && v < last {
					fail("count tree: %d after %d", v, last)
				}
				first, last = false, v
			}
			return len(n.vals)
		}
		if len(n.kids) == 0 || len(n.kids) > countInnerMax || len(n.counts) != len(n.kids) || len(n.maxes) != len(n.kids) {
			fail("count tree: an inner node of %d children, %d counts, %d maxima", len(n.kids), len(n.counts), len(n.maxes))
			return 0
		}
		s := 0
		for i, k := range n.kids {
			c := walk(k)
			if c != n.counts[i] || c == 0 {
				fail("count tree: a child of %d values counted %d", c, n.counts[i])
			} else if m := k.max(); m != n.maxes[i] {
				fail("count tree: a child's greatest value %d noted %d", m, n.maxes[i])
			}
			s += c
		}
		return s
	}
	if s := walk(t.root); s != t.n {
		fail("count tree: holds %d values, counts %d", s, t.n)
	}
}
