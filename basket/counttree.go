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
// its values and starts a new leaf with the one that came. Each node is one
// allocation, with its arrays in it; a leaf holds no pointer and is
// exactly 1 KiB.
//
// A copy shares every node with its original until one of them changes a
// node, which copies it then (each tree owns the nodes of its generation),
// so a copy may be changed while the original is read. Like a map, it may
// be read by many goroutines while none writes.
type countTree struct {
	root *countInner // nil if empty
	n    int
	gen  uint64
}

const (
	countLeafMax  = 126 // values in a leaf, whose size is then 1 KiB
	countInnerMax = 64  // children of an inner node
	countLeafMin  = countLeafMax / 3
	countInnerMin = countInnerMax / 3
)

type countLeaf struct {
	gen  uint64
	n    int
	vals [countLeafMax]int64 // vals[:n], in order
}

// countInner is an inner node. Its children, n of them, are leaves (in
// leaf) or inner nodes (in inner), as leaves says.
type countInner struct {
	gen    uint64
	n      int
	leaves bool
	// maxes first: a search reads it before the rest. One entry over the
	// most, which a split takes back at once.
	maxes  [countInnerMax + 1]int64 // the greatest value under child i
	counts [countInnerMax + 1]int   // the number of values under child i
	inner  [countInnerMax + 1]*countInner
	leaf   [countInnerMax + 1]*countLeaf
}

// countGen hands out the trees' generations.
var countGen atomic.Uint64

func newCountTree() *countTree { return &countTree{gen: countGen.Add(1)} }

func (t *countTree) len() int { return t.n }

// copy returns a copy of t. From then on, t and the copy each copy a node
// they share before they change it. It writes t's generation, which no
// reader reads, so it may run beside t's readers; but not beside another
// copy or change of t.
func (t *countTree) copy() *countTree {
	c := *t
	c.gen = countGen.Add(1)
	t.gen = countGen.Add(1)
	return &c
}

func (l *countLeaf) max() int64 { return l.vals[l.n-1] }

func (n *countInner) max() int64 { return n.maxes[n.n-1] }

// total is the number of values under n.
func (n *countInner) total() int {
	s := 0
	for _, c := range n.counts[:n.n] {
		s += c
	}
	return s
}

// ownLeaf makes *p a leaf of t's generation, copying it if it is not.
func (t *countTree) ownLeaf(p **countLeaf) *countLeaf {
	if l := *p; l.gen != t.gen {
		c := *l
		c.gen = t.gen
		*p = &c
	}
	return *p
}

// ownInner makes *p an inner node of t's generation, copying it if it is
// not.
func (t *countTree) ownInner(p **countInner) *countInner {
	if n := *p; n.gen != t.gen {
		c := *n
		c.gen = t.gen
		*p = &c
	}
	return *p
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
	for {
		// Every value under the children before i is less than v: their
		// greatest is.
		i := firstAtLeast(n.maxes[:n.n], v)
		for _, c := range n.counts[:i] {
			r += c
		}
		switch {
		case i == n.n:
			return r
		case n.leaves:
			l := n.leaf[i]
			return r + firstAtLeast(l.vals[:l.n], v)
		}
		n = n.inner[i]
	}
}

// has reports whether t holds v.
func (t *countTree) has(v int64) bool {
	n := t.root
	if n == nil {
		return false
	}
	for {
		i := firstAtLeast(n.maxes[:n.n], v)
		switch {
		case i == n.n:
			return false
		case n.leaves:
			l := n.leaf[i]
			j := firstAtLeast(l.vals[:l.n], v)
			return j < l.n && l.vals[j] == v
		}
		n = n.inner[i]
	}
}

// insert adds v.
func (t *countTree) insert(v int64) {
	if t.root == nil {
		t.root = &countInner{gen: t.gen, leaves: true}
	}
	root := t.ownInner(&t.root)
	if right := t.insertUnder(root, v); right != nil {
		nr := &countInner{gen: t.gen}
		nr.put(0, root, nil, root.total(), root.max())
		nr.put(1, right, nil, right.total(), right.max())
		t.root = nr
	}
	t.n++
}

// put sets n's child i, one past its children or among them, and counts it
// if it is new.
func (n *countInner) put(i int, in *countInner, l *countLeaf, count int, max int64) {
	n.inner[i], n.leaf[i], n.counts[i], n.maxes[i] = in, l, count, max
	if i == n.n {
		n.n++
	}
}

// insertChild makes room at i, shifting the children from i on, and puts
// the child there.
func (n *countInner) insertChild(i int, in *countInner, l *countLeaf, count int, max int64) {
	copy(n.maxes[i+1:n.n+1], n.maxes[i:n.n])
	copy(n.counts[i+1:n.n+1], n.counts[i:n.n])
	copy(n.inner[i+1:n.n+1], n.inner[i:n.n])
	copy(n.leaf[i+1:n.n+1], n.leaf[i:n.n])
	n.n++
	n.put(i, in, l, count, max)
}

// removeChild removes child i.
func (n *countInner) removeChild(i int) {
	copy(n.maxes[i:], n.maxes[i+1:n.n])
	copy(n.counts[i:], n.counts[i+1:n.n])
	copy(n.inner[i:], n.inner[i+1:n.n])
	copy(n.leaf[i:], n.leaf[i+1:n.n])
	n.n--
	n.inner[n.n], n.leaf[n.n] = nil, nil
}

// moveChildren moves the children of n from i on to the end of dst.
func (n *countInner) moveChildren(i int, dst *countInner) {
	m := n.n - i
	copy(dst.maxes[dst.n:], n.maxes[i:n.n])
	copy(dst.counts[dst.n:], n.counts[i:n.n])
	copy(dst.inner[dst.n:], n.inner[i:n.n])
	copy(dst.leaf[dst.n:], n.leaf[i:n.n])
	clear(n.inner[i:n.n])
	clear(n.leaf[i:n.n])
	dst.n += m
	n.n = i
}

// insertUnder adds v under n, a node of t's generation. If n splits, it
// returns the new node that follows it.
func (t *countTree) insertUnder(n *countInner, v int64) *countInner {
	if n.n == 0 { // an empty root
		l := &countLeaf{gen: t.gen, n: 1}
		l.vals[0] = v
		n.put(0, nil, l, 1, v)
		return nil
	}
	// The first child whose greatest value is greater than v, or the last:
	// v goes after every value of the children before it, and before
	// every value of those after it. Past its equals, so that values in
	// order, equal ones too, go to the last child.
	i := min(firstAbove(n.maxes[:n.n], v), n.n-1)
	split := false
	if n.leaves {
		l := t.ownLeaf(&n.leaf[i])
		if r := t.insertLeaf(l, v); r != nil {
			n.counts[i], n.maxes[i] = l.n, l.max()
			n.insertChild(i+1, nil, r, r.n, r.max())
			split = true
		}
	} else {
		k := t.ownInner(&n.inner[i])
		if r := t.insertUnder(k, v); r != nil {
			n.counts[i], n.maxes[i] = k.total(), k.max()
			n.insertChild(i+1, r, nil, r.total(), r.max())
			split = true
		}
	}
	if !split {
		n.counts[i]++
		n.maxes[i] = max(n.maxes[i], v)
		return nil
	}
	if n.n <= countInnerMax {
		return nil
	}
	// Split: a node that overflowed at its end keeps its children.
	h := n.n / 2
	if i+1 == n.n-1 {
		h = n.n - 1
	}
	r := &countInner{gen: t.gen, leaves: n.leaves}
	n.moveChildren(h, r)
	return r
}

// insertLeaf adds v to l, a leaf of t's generation. If l splits, it returns
// the new leaf that follows it.
func (t *countTree) insertLeaf(l *countLeaf, v int64) *countLeaf {
	i := firstAbove(l.vals[:l.n], v) // after its equals: in order, an append
	if l.n < countLeafMax {
		copy(l.vals[i+1:l.n+1], l.vals[i:l.n])
		l.vals[i] = v
		l.n++
		return nil
	}
	right := &countLeaf{gen: t.gen}
	if i == l.n {
		right.vals[0], right.n = v, 1
		return right
	}
	h := l.n / 2
	right.n = copy(right.vals[:], l.vals[h:l.n])
	l.n = h
	if i <= h {
		t.insertLeaf(l, v)
	} else {
		t.insertLeaf(right, v)
	}
	return right
}

// delete removes one value equal to v and reports whether there was one.
func (t *countTree) delete(v int64) bool {
	if !t.has(v) {
		return false // copies nothing
	}
	root := t.ownInner(&t.root)
	t.deleteUnder(root, v)
	if t.n--; t.n == 0 {
		t.root = nil
		return true
	}
	for !root.leaves && root.n == 1 {
		root = root.inner[0]
	}
	t.root = root
	return true
}

// deleteUnder removes one v under n, a node of t's generation, which holds
// one.
func (t *countTree) deleteUnder(n *countInner, v int64) {
	// The first child whose greatest value is at least v holds v if any
	// does: a later one could only if this one's greatest were v.
	i := firstAtLeast(n.maxes[:n.n], v)
	n.counts[i]--
	var size, least int // of the child, after; the least it may keep
	var max int64
	if n.leaves {
		l := t.ownLeaf(&n.leaf[i])
		j := firstAtLeast(l.vals[:l.n], v)
		copy(l.vals[j:], l.vals[j+1:l.n])
		l.n--
		if size, least = l.n, countLeafMin; size > 0 {
			max = l.max()
		}
	} else {
		k := t.ownInner(&n.inner[i])
		t.deleteUnder(k, v)
		if size, least = k.n, countInnerMin; size > 0 {
			max = k.max()
		}
	}
	if size == 0 {
		n.removeChild(i)
		return
	}
	n.maxes[i] = max
	switch {
	case size >= least || n.n == 1:
	case n.leaves:
		t.rebalanceLeaves(n, i)
	default:
		t.rebalanceInner(n, i)
	}
}

// neighbours returns the indexes of n's child i, which is short, and of a
// neighbour, in order.
func neighbours(n *countInner, i int) (int, int) {
	if i+1 == n.n {
		return i - 1, i
	}
	return i, i + 1
}

// rebalanceLeaves merges n's leaf i, which is short, with a neighbour, or
// moves values from the neighbour to even them.
func (t *countTree) rebalanceLeaves(n *countInner, i int) {
	i, j := neighbours(n, i)
	a, b := t.ownLeaf(&n.leaf[i]), t.ownLeaf(&n.leaf[j])
	switch h := (a.n + b.n) / 2; {
	case a.n+b.n <= countLeafMax:
		copy(a.vals[a.n:], b.vals[:b.n])
		a.n += b.n
		n.counts[i], n.maxes[i] = a.n, n.maxes[j]
		n.removeChild(j)
		return
	case a.n < h: // b's first values to a's end
		m := h - a.n
		copy(a.vals[a.n:], b.vals[:m])
		copy(b.vals[:], b.vals[m:b.n])
		a.n, b.n = h, b.n-m
	default: // a's last values to b's start
		m := a.n - h
		copy(b.vals[m:], b.vals[:b.n])
		copy(b.vals[:m], a.vals[h:a.n])
		a.n, b.n = h, b.n+m
	}
	n.counts[i], n.maxes[i] = a.n, a.max()
	n.counts[j], n.maxes[j] = b.n, b.max()
}

// rebalanceInner merges n's inner child i, which is short, with a
// neighbour, or moves children from the neighbour to even them.
func (t *countTree) rebalanceInner(n *countInner, i int) {
	i, j := neighbours(n, i)
	a, b := t.ownInner(&n.inner[i]), t.ownInner(&n.inner[j])
	switch h := (a.n + b.n) / 2; {
	case a.n+b.n <= countInnerMax:
		b.moveChildren(0, a)
		n.counts[i] += n.counts[j]
		n.maxes[i] = n.maxes[j]
		n.removeChild(j)
		return
	case a.n < h: // b's first children to a's end
		var rest countInner
		b.moveChildren(h-a.n, &rest)
		b.moveChildren(0, a)
		rest.moveChildren(0, b)
	default: // a's last children to b's start
		var rest countInner
		b.moveChildren(0, &rest)
		a.moveChildren(h, b)
		rest.moveChildren(0, b)
	}
	n.counts[i], n.maxes[i] = a.total(), a.max()
	n.counts[j], n.maxes[j] = b.total(), b.max()
}

// check verifies t's structure, calling fail for each fault it finds, and
// reports whether it found none.
func (t *countTree) check(fail func(format string, args ...any)) bool {
	ok := true
	fail0 := fail
	fail = func(format string, args ...any) {
		ok = false
		fail0(format, args...)
	}
	if t.root == nil {
		if t.n != 0 {
			fail("count tree: empty, and counts %d", t.n)
		}
		return ok
	}
	first := true
	var last int64
	inOrder := func(vals []int64) {
		for _, v := range vals {
			if !first && v < last {
				fail("count tree: %d after %d", v, last)
			}
			first, last = false, v
		}
	}
	var walk func(n *countInner) int
	walk = func(n *countInner) int {
		if n.n <= 0 || n.n > countInnerMax {
			fail("count tree: an inner node of %d children", n.n)
			return 0
		}
		s := 0
		for i := range n.n {
			var c int
			var m int64
			if n.leaves {
				l := n.leaf[i]
				if l == nil || n.inner[i] != nil || l.n <= 0 || l.n > countLeafMax {
					fail("count tree: a bad leaf at child %d", i)
					return 0
				}
				inOrder(l.vals[:l.n])
				c, m = l.n, l.max()
			} else {
				k := n.inner[i]
				if k == nil || n.leaf[i] != nil {
					fail("count tree: a bad inner node at child %d", i)
					return 0
				}
				c = walk(k)
				if c == 0 {
					return 0
				}
				m = k.max()
			}
			if c != n.counts[i] {
				fail("count tree: a child of %d values counted %d", c, n.counts[i])
			} else if m != n.maxes[i] {
				fail("count tree: a child's greatest value %d noted %d", m, n.maxes[i])
			}
			s += c
		}
		for i := n.n; i < len(n.inner); i++ {
			if n.inner[i] != nil || n.leaf[i] != nil {
				fail("count tree: a pointer kept past the children, at %d", i)
			}
		}
		return s
	}
	if s := walk(t.root); s != t.n {
		fail("count tree: holds %d values, counts %d", s, t.n)
	}
	return ok
}
