package basket

import "sync/atomic"

// countTree is the created index, the abandoned index or a tag's (see
// abTree): the entries of baskets, in (created, id) order, which pages walk, and which answer,
// exactly, how many entries sort before a given key: the count of a created
// range is the difference of two such answers.
//
// It is a B+tree whose inner nodes hold, beside each child, the number of
// entries under it and the greatest of them. A count reads one path from
// the root to a leaf, and every count it adds up is in a node on that path:
// at 1e7 entries, four nodes. A page's walk starts down the same path.
//
// An entry is a created time and a handle, whose record's id orders the
// entries of one created time: only those ties read a record. Leaves hold
// up to countLeafMax entries, their times and handles in two arrays, so
// that a search of times reads no handle; a leaf holds no pointer and is
// exactly 1 KiB. Leaves fill up when entries arrive in order, as baskets
// do: a leaf that overflows at its end keeps its entries and starts a new
// leaf with the one that came. Each node is one allocation, with its arrays
// in it.
//
// A copy shares every node with its original until one of them changes a
// node, which copies it then (each tree owns the nodes of its generation),
// so a copy may be changed while the original is read. Like a map, it may
// be read by many goroutines while none writes. Its changes and searches
// read the ids of handles from s, and must be made where s may be read (a
// full walk, each, does not).
type countTree struct {
	root *countInner // nil if empty
	n    int
	gen  uint64
	s    *slots
}

const (
	countLeafMax  = 84 // entries in a leaf, whose size is then 1 KiB
	countInnerMax = 64 // children of an inner node
	countLeafMin  = countLeafMax / 3
	countInnerMin = countInnerMax / 3
)

type countLeaf struct {
	gen  uint64
	n    int
	vals [countLeafMax]int64  // the created times of the entries, vals[:n]
	hs   [countLeafMax]handle // and their handles
}

// countInner is an inner node. Its children, n of them, are leaves (in
// leaf) or inner nodes (in inner), as leaves says.
type countInner struct {
	gen    uint64
	n      int
	leaves bool
	// maxes first: a search reads it before the rest. One entry over the
	// most, which a split takes back at once.
	maxes  [countInnerMax + 1]int64  // the created time of the greatest entry under child i
	maxHs  [countInnerMax + 1]handle // and its handle
	counts [countInnerMax + 1]int    // the number of entries under child i
	inner  [countInnerMax + 1]*countInner
	leaf   [countInnerMax + 1]*countLeaf
}

// countGen hands out the trees' generations.
var countGen atomic.Uint64

// newCountTree returns an empty tree of entries whose handles s resolves.
func newCountTree(s *slots) *countTree { return &countTree{gen: countGen.Add(1), s: s} }

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

func (l *countLeaf) max() (int64, handle) { return l.vals[l.n-1], l.hs[l.n-1] }

func (n *countInner) max() (int64, handle) { return n.maxes[n.n-1], n.maxHs[n.n-1] }

// total is the number of entries under n.
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

// warm reads one value in each cache line of xs, and returns their sum,
// which its callers drop. In a large tree the nodes a search reads are
// mostly out of the cache, and each read of a bisection waits for the one
// before it; read first, in a loop of loads that depend on nothing, the
// misses overlap, and the bisection then reads the cache. It is not
// inlined, so that the compiler keeps loads whose result is unused.
//
//go:noinline
func warm[T ~int64 | ~int](xs []T) T {
	var s T
	for i := 0; i < len(xs); i += 8 {
		s += xs[i]
	}
	return s
}

// search returns the first i whose entry (vals[i], hs[i]) does not sort
// before k; len(vals) if none. Only entries of k's created time read their
// ids, and only if k has one: a key without sorts before them all.
func (t *countTree) search(vals []int64, hs []handle, k ckey) int {
	if len(vals) == 0 || vals[len(vals)-1] < k.created {
		return len(vals) // past them all: baskets in order
	}
	warm(vals)
	lo := firstAtLeast(vals, k.created)
	if k.id == "" || lo == len(vals) || vals[lo] != k.created {
		return lo
	}
	hi := lo + firstAbove(vals[lo:], k.created)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.s.id(hs[m]) < k.id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// key returns ent's key.
func (t *countTree) key(ent aentry) ckey { return ckey{ent.created, t.s.id(ent.h)} }

// rank returns the number of entries that sort before k.
func (t *countTree) rank(k ckey) int {
	r := 0
	var l *countLeaf
	for n := t.root; n != nil; {
		warm(n.counts[:n.n])
		n, l, r = t.rankStep(n, k, r)
	}
	if l != nil {
		r += t.search(l.vals[:l.n], l.hs[:l.n], k)
	}
	return r
}

// rankStep takes rank's walk for k one level down from n, adding to r the
// entries under the children of n that sort before k. It returns the child
// to go on with: an inner node, or a leaf to search; neither if r is the
// answer.
func (t *countTree) rankStep(n *countInner, k ckey, r int) (*countInner, *countLeaf, int) {
	// Every entry under the children before i sorts before k: their
	// greatest does.
	i := t.search(n.maxes[:n.n], n.maxHs[:n.n], k)
	for _, c := range n.counts[:i] {
		r += c
	}
	switch {
	case i == n.n:
		return nil, nil, r
	case n.leaves:
		return nil, n.leaf[i], r
	}
	return n.inner[i], nil, r
}

// less returns the number of entries created before v.
func (t *countTree) less(v int64) int { return t.rank(ckey{created: v}) }

// less2 returns less(a) and less(b). It walks the two paths together, a
// level at a time, reading each level's nodes of both before searching
// them, so that the cache misses of one path overlap the other's: in a
// large tree a path is mostly misses, and walked one after the other the
// second waits for the first.
func (t *countTree) less2(a, b int64) (int, int) {
	ka, kb := ckey{created: a}, ckey{created: b}
	ra, rb := 0, 0
	var la, lb *countLeaf
	n, m := t.root, t.root
	for n != nil || m != nil {
		if n != nil {
			warm(n.maxes[:n.n])
			warm(n.counts[:n.n])
		}
		if m != nil {
			warm(m.maxes[:m.n])
			warm(m.counts[:m.n])
		}
		if n != nil {
			n, la, ra = t.rankStep(n, ka, ra)
		}
		if m != nil {
			m, lb, rb = t.rankStep(m, kb, rb)
		}
	}
	if la != nil {
		warm(la.vals[:la.n])
	}
	if lb != nil {
		warm(lb.vals[:lb.n])
	}
	if la != nil {
		ra += t.search(la.vals[:la.n], la.hs[:la.n], ka)
	}
	if lb != nil {
		rb += t.search(lb.vals[:lb.n], lb.hs[:lb.n], kb)
	}
	return ra, rb
}

// has reports whether t holds ent.
func (t *countTree) has(ent aentry) bool {
	n := t.root
	if n == nil {
		return false
	}
	k := t.key(ent)
	for {
		i := t.search(n.maxes[:n.n], n.maxHs[:n.n], k)
		switch {
		case i == n.n:
			return false
		case n.leaves:
			l := n.leaf[i]
			j := t.search(l.vals[:l.n], l.hs[:l.n], k)
			return j < l.n && l.vals[j] == ent.created && l.hs[j] == ent.h
		}
		n = n.inner[i]
	}
}

// min returns the least entry; false if t is empty.
func (t *countTree) min() (aentry, bool) {
	n := t.root
	if n == nil {
		return aentry{}, false
	}
	for !n.leaves {
		n = n.inner[0]
	}
	l := n.leaf[0]
	return aentry{l.vals[0], l.hs[0]}, true
}

// ascend calls fn with every entry that does not sort before k, in order,
// until fn returns false.
func (t *countTree) ascend(k ckey, fn func(aentry) bool) {
	if t.root != nil {
		t.ascendUnder(t.root, &k, fn)
	}
}

// ascendUnder is ascend under n; k is nil once the walk is past it. It
// reports whether fn asked for more.
func (t *countTree) ascendUnder(n *countInner, k *ckey, fn func(aentry) bool) bool {
	i := 0
	if k != nil {
		i = t.search(n.maxes[:n.n], n.maxHs[:n.n], *k)
	}
	for ; i < n.n; i++ {
		if !n.leaves {
			if !t.ascendUnder(n.inner[i], k, fn) {
				return false
			}
			k = nil
			continue
		}
		l := n.leaf[i]
		j := 0
		if k != nil {
			j, k = t.search(l.vals[:l.n], l.hs[:l.n], *k), nil
		}
		for ; j < l.n; j++ {
			if !fn(aentry{l.vals[j], l.hs[j]}) {
				return false
			}
		}
	}
	return true
}

// each calls fn with every entry, in order, until fn returns false. It
// reads no id.
func (t *countTree) each(fn func(aentry) bool) {
	if t.root != nil {
		t.eachUnder(t.root, fn)
	}
}

func (t *countTree) eachUnder(n *countInner, fn func(aentry) bool) bool {
	for i := range n.n {
		if !n.leaves {
			if !t.eachUnder(n.inner[i], fn) {
				return false
			}
			continue
		}
		l := n.leaf[i]
		for j := range l.n {
			if !fn(aentry{l.vals[j], l.hs[j]}) {
				return false
			}
		}
	}
	return true
}

// set adds ent, if t does not hold it, and reports whether it did.
func (t *countTree) set(ent aentry) bool {
	if t.root == nil {
		t.root = &countInner{gen: t.gen, leaves: true}
	}
	root := t.ownInner(&t.root)
	right, added := t.insertUnder(root, ent, t.key(ent))
	if right != nil {
		nr := &countInner{gen: t.gen}
		c, h := root.max()
		nr.put(0, root, nil, root.total(), c, h)
		c, h = right.max()
		nr.put(1, right, nil, right.total(), c, h)
		t.root = nr
	}
	if added {
		t.n++
	}
	return added
}

// put sets n's child i, one past its children or among them, and counts it
// if it is new.
func (n *countInner) put(i int, in *countInner, l *countLeaf, count int, max int64, maxH handle) {
	n.inner[i], n.leaf[i], n.counts[i], n.maxes[i], n.maxHs[i] = in, l, count, max, maxH
	if i == n.n {
		n.n++
	}
}

// insertChild makes room at i, shifting the children from i on, and puts
// the child there.
func (n *countInner) insertChild(i int, in *countInner, l *countLeaf, count int, max int64, maxH handle) {
	copy(n.maxes[i+1:n.n+1], n.maxes[i:n.n])
	copy(n.maxHs[i+1:n.n+1], n.maxHs[i:n.n])
	copy(n.counts[i+1:n.n+1], n.counts[i:n.n])
	copy(n.inner[i+1:n.n+1], n.inner[i:n.n])
	copy(n.leaf[i+1:n.n+1], n.leaf[i:n.n])
	n.n++
	n.put(i, in, l, count, max, maxH)
}

// removeChild removes child i.
func (n *countInner) removeChild(i int) {
	copy(n.maxes[i:], n.maxes[i+1:n.n])
	copy(n.maxHs[i:], n.maxHs[i+1:n.n])
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
	copy(dst.maxHs[dst.n:], n.maxHs[i:n.n])
	copy(dst.counts[dst.n:], n.counts[i:n.n])
	copy(dst.inner[dst.n:], n.inner[i:n.n])
	copy(dst.leaf[dst.n:], n.leaf[i:n.n])
	clear(n.inner[i:n.n])
	clear(n.leaf[i:n.n])
	dst.n += m
	n.n = i
}

// setChild notes n's child i's count and greatest entry.
func (n *countInner) setChild(i, count int, max int64, maxH handle) {
	n.counts[i], n.maxes[i], n.maxHs[i] = count, max, maxH
}

// insertUnder adds ent, whose key is k, under n, a node of t's generation,
// unless n holds it, and reports whether it did. If n splits, it returns
// the new node that follows it.
func (t *countTree) insertUnder(n *countInner, ent aentry, k ckey) (*countInner, bool) {
	if n.n == 0 { // an empty root
		l := &countLeaf{gen: t.gen, n: 1}
		l.vals[0], l.hs[0] = ent.created, ent.h
		n.put(0, nil, l, 1, ent.created, ent.h)
		return nil, true
	}
	// The first child whose greatest entry does not sort before ent, or
	// the last: ent goes after every entry of the children before it, and
	// before every entry of those after it.
	i := min(t.search(n.maxes[:n.n], n.maxHs[:n.n], k), n.n-1)
	split := false
	if n.leaves {
		l := n.leaf[i]
		j := t.search(l.vals[:l.n], l.hs[:l.n], k)
		if j < l.n && l.hs[j] == ent.h {
			return nil, false // copies nothing
		}
		l = t.ownLeaf(&n.leaf[i])
		if r := t.insertLeaf(l, j, ent); r != nil {
			c, h := l.max()
			n.setChild(i, l.n, c, h)
			c, h = r.max()
			n.insertChild(i+1, nil, r, r.n, c, h)
			split = true
		}
	} else {
		// The child is copied before it is known to change: a set of an
		// entry held is rare.
		kid := t.ownInner(&n.inner[i])
		r, added := t.insertUnder(kid, ent, k)
		if !added {
			return nil, false
		}
		if r != nil {
			c, h := kid.max()
			n.setChild(i, kid.total(), c, h)
			c, h = r.max()
			n.insertChild(i+1, r, nil, r.total(), c, h)
			split = true
		}
	}
	if !split {
		n.counts[i]++
		if i == n.n-1 && k.created >= n.maxes[i] {
			// Past the greatest entry of the last child: ent is the
			// greatest under n now (only ties of time needed the search).
			if c, h := n.maxes[i], n.maxHs[i]; k.created > c || t.s.id(h) < k.id {
				n.maxes[i], n.maxHs[i] = ent.created, ent.h
			}
		}
		return nil, true
	}
	if n.n <= countInnerMax {
		return nil, true
	}
	// Split: a node that overflowed at its end keeps its children.
	h := n.n / 2
	if i+1 == n.n-1 {
		h = n.n - 1
	}
	r := &countInner{gen: t.gen, leaves: n.leaves}
	n.moveChildren(h, r)
	return r, true
}

// insertLeaf adds ent at i of l, a leaf of t's generation. If l splits, it
// returns the new leaf that follows it.
func (t *countTree) insertLeaf(l *countLeaf, i int, ent aentry) *countLeaf {
	if l.n < countLeafMax {
		copy(l.vals[i+1:l.n+1], l.vals[i:l.n])
		copy(l.hs[i+1:l.n+1], l.hs[i:l.n])
		l.vals[i], l.hs[i] = ent.created, ent.h
		l.n++
		return nil
	}
	right := &countLeaf{gen: t.gen}
	if i == l.n { // in order: l stays full
		right.vals[0], right.hs[0], right.n = ent.created, ent.h, 1
		return right
	}
	h := l.n / 2
	copy(right.vals[:], l.vals[h:l.n])
	right.n = copy(right.hs[:], l.hs[h:l.n])
	l.n = h
	if i <= h {
		t.insertLeaf(l, i, ent)
	} else {
		t.insertLeaf(right, i-h, ent)
	}
	return right
}

// delete removes ent and reports whether t held it.
func (t *countTree) delete(ent aentry) bool {
	if !t.has(ent) {
		return false // copies nothing
	}
	root := t.ownInner(&t.root)
	t.deleteUnder(root, t.key(ent))
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

// deleteUnder removes the entry of key k under n, a node of t's
// generation, which holds it.
func (t *countTree) deleteUnder(n *countInner, k ckey) {
	// The first child whose greatest entry does not sort before k holds
	// it.
	i := t.search(n.maxes[:n.n], n.maxHs[:n.n], k)
	n.counts[i]--
	var size, least int // of the child, after; the least it may keep
	var max int64
	var maxH handle
	if n.leaves {
		l := t.ownLeaf(&n.leaf[i])
		j := t.search(l.vals[:l.n], l.hs[:l.n], k)
		copy(l.vals[j:], l.vals[j+1:l.n])
		copy(l.hs[j:], l.hs[j+1:l.n])
		l.n--
		if size, least = l.n, countLeafMin; size > 0 {
			max, maxH = l.max()
		}
	} else {
		kid := t.ownInner(&n.inner[i])
		t.deleteUnder(kid, k)
		if size, least = kid.n, countInnerMin; size > 0 {
			max, maxH = kid.max()
		}
	}
	if size == 0 {
		n.removeChild(i)
		return
	}
	n.maxes[i], n.maxHs[i] = max, maxH
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
// moves entries from the neighbour to even them.
func (t *countTree) rebalanceLeaves(n *countInner, i int) {
	i, j := neighbours(n, i)
	a, b := t.ownLeaf(&n.leaf[i]), t.ownLeaf(&n.leaf[j])
	switch h := (a.n + b.n) / 2; {
	case a.n+b.n <= countLeafMax:
		copy(a.vals[a.n:], b.vals[:b.n])
		copy(a.hs[a.n:], b.hs[:b.n])
		a.n += b.n
		n.setChild(i, a.n, n.maxes[j], n.maxHs[j])
		n.removeChild(j)
		return
	case a.n < h: // b's first entries to a's end
		m := h - a.n
		copy(a.vals[a.n:], b.vals[:m])
		copy(a.hs[a.n:], b.hs[:m])
		copy(b.vals[:], b.vals[m:b.n])
		copy(b.hs[:], b.hs[m:b.n])
		a.n, b.n = h, b.n-m
	default: // a's last entries to b's start
		m := a.n - h
		copy(b.vals[m:], b.vals[:b.n])
		copy(b.hs[m:], b.hs[:b.n])
		copy(b.vals[:m], a.vals[h:a.n])
		copy(b.hs[:m], a.hs[h:a.n])
		a.n, b.n = h, b.n+m
	}
	c, hd := a.max()
	n.setChild(i, a.n, c, hd)
	c, hd = b.max()
	n.setChild(j, b.n, c, hd)
}

// rebalanceInner merges n's inner child i, which is short, with a
// neighbour, or moves children from the neighbour to even them.
func (t *countTree) rebalanceInner(n *countInner, i int) {
	i, j := neighbours(n, i)
	a, b := t.ownInner(&n.inner[i]), t.ownInner(&n.inner[j])
	switch h := (a.n + b.n) / 2; {
	case a.n+b.n <= countInnerMax:
		b.moveChildren(0, a)
		n.setChild(i, n.counts[i]+n.counts[j], n.maxes[j], n.maxHs[j])
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
	c, hd := a.max()
	n.setChild(i, a.total(), c, hd)
	c, hd = b.max()
	n.setChild(j, b.total(), c, hd)
}

// check verifies t's structure, and that its entries are in (created, id)
// order, each basket once, calling fail for each fault it finds, and
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
	var last ckey
	inOrder := func(vals []int64, hs []handle) {
		for i, v := range vals {
			k := ckey{v, t.s.id(hs[i])}
			if !first && !ckeyLess(last, k) {
				fail("count tree: basket %q of %d after %q of %d", k.id, k.created, last.id, last.created)
			}
			first, last = false, k
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
			var mh handle
			if n.leaves {
				l := n.leaf[i]
				if l == nil || n.inner[i] != nil || l.n <= 0 || l.n > countLeafMax {
					fail("count tree: a bad leaf at child %d", i)
					return 0
				}
				inOrder(l.vals[:l.n], l.hs[:l.n])
				c = l.n
				m, mh = l.max()
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
				m, mh = k.max()
			}
			if c != n.counts[i] {
				fail("count tree: a child of %d entries counted %d", c, n.counts[i])
			} else if m != n.maxes[i] || mh != n.maxHs[i] {
				fail("count tree: a child's greatest entry (%d, %d) noted (%d, %d)", m, mh, n.maxes[i], n.maxHs[i])
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
		fail("count tree: holds %d entries, counts %d", s, t.n)
	}
	return ok
}
