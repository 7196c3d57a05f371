package basket

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// countModel is the oracle of a countTree: its entries, sorted by key, and
// the slots that name their records.
type countModel struct {
	s    *slots
	ents []aentry
}

func (m *countModel) key(e aentry) ckey { return ckey{e.created, m.s.id(e.h)} }

func (m *countModel) cmp(e aentry, k ckey) int {
	if ckeyLess(m.key(e), k) {
		return -1
	}
	if ckeyLess(k, m.key(e)) {
		return 1
	}
	return 0
}

// rank is the number of entries before k.
func (m *countModel) rank(k ckey) int {
	i, _ := slices.BinarySearchFunc(m.ents, k, m.cmp)
	return i
}

func (m *countModel) has(e aentry) bool {
	i, ok := slices.BinarySearchFunc(m.ents, m.key(e), m.cmp)
	return ok && m.ents[i] == e
}

func (m *countModel) insert(e aentry) {
	i, ok := slices.BinarySearchFunc(m.ents, m.key(e), m.cmp)
	if !ok {
		m.ents = slices.Insert(m.ents, i, e)
	}
}

func (m *countModel) delete(e aentry) bool {
	i, ok := slices.BinarySearchFunc(m.ents, m.key(e), m.cmp)
	if ok {
		m.ents = slices.Delete(m.ents, i, i+1)
	}
	return ok
}

func (m *countModel) clone() *countModel {
	return &countModel{s: m.s, ents: slices.Clone(m.ents)}
}

// newEntry files a new basket of created time c, with an id of a random
// letter and a counter, so that equal created times get ids that sort in no
// particular order of insertion.
func newEntry(r *rand.Rand, s *slots, c int64) aentry {
	id := fmt.Sprintf("b%c%d", 'a'+r.IntN(26), s.next)
	return aentry{c, s.add(&record{id: id, created: c})}
}

// compareCount checks t against m: its structure, its length, ranks and
// membership of every kind of key around m's entries, and walks from them.
func compareCount(t *testing.T, step int, tr *countTree, m *countModel, r *rand.Rand) {
	t.Helper()
	tr.check(func(format string, args ...any) {
		t.Fatalf("step %d: %s", step, fmt.Sprintf(format, args...))
	})
	if tr.len() != len(m.ents) {
		t.Fatalf("step %d: len() = %d; want %d", step, tr.len(), len(m.ents))
	}
	probe := func(k ckey) {
		if got, want := tr.rank(k), m.rank(k); got != want {
			t.Fatalf("step %d: rank(%d, %q) = %d; want %d", step, k.created, k.id, got, want)
		}
		if k.id == "" {
			if got, want := tr.less(k.created), m.rank(k); got != want {
				t.Fatalf("step %d: less(%d) = %d; want %d", step, k.created, got, want)
			}
			// Two paths walked together, to anywhere else in the tree,
			// past its ends too, in either order.
			o := int64(r.Uint64())
			if len(m.ents) > 0 && r.IntN(4) > 0 {
				o = m.ents[r.IntN(len(m.ents))].created + int64(r.IntN(3)) - 1
			}
			a, b := k.created, o
			if r.IntN(2) == 0 {
				a, b = b, a
			}
			ga, gb := tr.less2(a, b)
			if wa, wb := m.rank(ckey{created: a}), m.rank(ckey{created: b}); ga != wa || gb != wb {
				t.Fatalf("step %d: less2(%d, %d) = %d, %d; want %d, %d", step, a, b, ga, gb, wa, wb)
			}
		}
		// A walk from k: its first entries.
		i := m.rank(k)
		var got []aentry
		tr.ascend(k, func(e aentry) bool {
			got = append(got, e)
			return len(got) < 5
		})
		if want := m.ents[i:min(i+5, len(m.ents))]; !slices.Equal(got, want) {
			t.Fatalf("step %d: ascend(%d, %q) = %v; want %v", step, k.created, k.id, got, want)
		}
	}
	probe(ckey{created: -1 << 63})
	probe(ckey{created: 1<<63 - 1, id: "\xff"})
	least, ok := tr.min()
	if len(m.ents) == 0 {
		if ok {
			t.Fatalf("step %d: min() = %v of an empty tree", step, least)
		}
		return
	}
	if !ok || least != m.ents[0] {
		t.Fatalf("step %d: min() = %v, %v; want %v", step, least, ok, m.ents[0])
	}
	for range 64 {
		e := m.ents[r.IntN(len(m.ents))]
		k := m.key(e)
		probe(k)
		probe(ckey{created: e.created})
		probe(ckey{created: e.created - 1})
		probe(ckey{created: e.created + 1})
		probe(ckey{created: e.created, id: k.id + "\x00"})
		probe(ckey{created: e.created, id: "bm"})
		if !tr.has(e) {
			t.Fatalf("step %d: has(%v) = false for an entry held", step, e)
		}
		if tr.has(aentry{e.created + 1, e.h}) {
			t.Fatalf("step %d: has(%v) = true for an entry moved", step, aentry{e.created + 1, e.h})
		}
	}
	if r.IntN(8) == 0 {
		var all []aentry
		tr.each(func(e aentry) bool { all = append(all, e); return true })
		if !slices.Equal(all, m.ents) {
			t.Fatalf("step %d: each walked %d entries, not the model's %d", step, len(all), len(m.ents))
		}
	}
}

// countSpaces are the created times the model tests draw from: long runs
// of equal times (across leaves, ordered by their ids), times in order (as
// baskets arrive, with the oldest leaving), times anywhere, and the
// extremes of int64.
var countSpaces = []struct {
	name string
	gen  func(r *rand.Rand, step int) int64
}{
	{"20 values", func(r *rand.Rand, _ int) int64 { return int64(r.IntN(20)) }},
	{"in order", func(r *rand.Rand, step int) int64 { return int64(step*3 + r.IntN(5)) }},
	{"anywhere", func(r *rand.Rand, _ int) int64 { return r.Int64N(1e12) - 5e11 }},
	{"extremes", func(r *rand.Rand, _ int) int64 {
		return [...]int64{-1 << 63, 1<<63 - 1, 0, -1, 1}[r.IntN(5)]
	}},
}

// TestCountTreeModel runs random sets and deletes against a countTree and a
// sorted slice beside it. It grows trees three levels deep, then empties
// them, so that leaves and inner nodes split, merge and even out; and it
// copies the tree at random, changes the copy, and checks that the
// original has not changed.
func TestCountTreeModel(t *testing.T) {
	for seed := range uint64(3) {
		for _, sp := range countSpaces {
			t.Run(fmt.Sprintf("%s/seed=%d", sp.name, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 7))
				s := new(slots)
				tr := newCountTree(s)
				m := &countModel{s: s}
				const grow, steps = 30000, 60000
				for step := range steps {
					// Mostly sets while growing, mostly deletes after.
					insert := r.IntN(10) < 7
					if step >= grow {
						insert = r.IntN(10) < 3
					}
					switch {
					case insert && len(m.ents) > 0 && r.IntN(20) == 0:
						// An entry held: set changes nothing.
						e := m.ents[r.IntN(len(m.ents))]
						if tr.set(e) {
							t.Fatalf("step %d: set(%v) of an entry held = true", step, e)
						}
					case insert:
						e := newEntry(r, s, sp.gen(r, step))
						if !tr.set(e) {
							t.Fatalf("step %d: set(%v) of a new entry = false", step, e)
						}
						m.insert(e)
					case len(m.ents) > 0 && r.IntN(8) > 0:
						// A held entry: the oldest, in order, or any.
						i := r.IntN(len(m.ents))
						if sp.name == "in order" && r.IntN(2) == 0 {
							i = 0
						}
						e := m.ents[i]
						if !tr.delete(e) {
							t.Fatalf("step %d: delete(%v) of a held entry = false", step, e)
						}
						m.delete(e)
					case len(m.ents) > 0:
						// A held basket at another time: not held.
						e := m.ents[r.IntN(len(m.ents))]
						e.created++
						if got, want := tr.delete(e), m.has(e); got != want {
							t.Fatalf("step %d: delete(%v) = %v; want %v", step, e, got, want)
						}
						m.delete(e)
					}
					if step%1009 == 0 {
						tr, m = checkCopy(t, step, tr, m, sp.gen, r)
					}
					if step%211 == 0 || step > steps-50 {
						compareCount(t, step, tr, m, r)
					}
				}
				for len(m.ents) > 0 {
					e := m.ents[r.IntN(len(m.ents))]
					if !tr.delete(e) {
						t.Fatalf("emptying: delete(%v) of a held entry = false", e)
					}
					m.delete(e)
				}
				compareCount(t, steps, tr, m, r)
				if tr.root != nil {
					t.Fatalf("an empty tree kept its root")
				}
			})
		}
	}
}

// checkCopy copies tr, changes the copy and checks that tr did not change;
// it returns one of the two to go on with, and its model.
func checkCopy(t *testing.T, step int, tr *countTree, m *countModel, gen func(*rand.Rand, int) int64, r *rand.Rand) (*countTree, *countModel) {
	t.Helper()
	c := tr.copy()
	cm := m.clone()
	for i := range 300 {
		if r.IntN(2) == 0 || len(cm.ents) == 0 {
			e := newEntry(r, m.s, gen(r, step+i))
			c.set(e)
			cm.insert(e)
		} else {
			e := cm.ents[r.IntN(len(cm.ents))]
			c.delete(e)
			cm.delete(e)
		}
	}
	compareCount(t, step, c, cm, r)
	compareCount(t, step, tr, m, r)
	// Changing the original now must not show in the copy either: an
	// entry added to one of its leaves, checked in the copy, then taken
	// out again.
	w := newEntry(r, m.s, gen(r, step))
	tr.set(w)
	compareCount(t, step, c, cm, r)
	tr.delete(w)
	compareCount(t, step, tr, m, r)
	if r.IntN(2) == 0 {
		return tr, m // the copy's changes are gone
	}
	return c, cm
}

// TestCountTreeInOrderFill checks that entries arriving in order fill the
// leaves: a tree of n entries in order has n/countLeafMax leaves, rounded
// up; and so do equal created times whose ids arrive in order.
func TestCountTreeInOrderFill(t *testing.T) {
	s := new(slots)
	tr := newCountTree(s)
	const n = 100_000
	for i := range n {
		c := int64(i / 3)
		tr.set(aentry{c, s.add(&record{id: fmt.Sprintf("b%06d", i), created: c})})
	}
	leaves := 0
	var walk func(*countInner)
	walk = func(nd *countInner) {
		if nd.leaves {
			leaves += nd.n
			return
		}
		for _, k := range nd.inner[:nd.n] {
			walk(k)
		}
	}
	walk(tr.root)
	if want := (n + countLeafMax - 1) / countLeafMax; leaves != want {
		t.Errorf("%d entries in order fill %d leaves; want %d", n, leaves, want)
	}
	tr.check(func(format string, args ...any) { t.Fatalf(format, args...) })
}

// TestCountTreeCheck checks that check sees a tree whose counts, greatest
// entries or order are wrong.
func TestCountTreeCheck(t *testing.T) {
	for _, c := range []struct {
		name    string
		corrupt func(n *countInner)
	}{
		{"a child's count", func(n *countInner) { n.counts[1]++ }},
		{"a child's greatest time", func(n *countInner) { n.maxes[0]-- }},
		{"a child's greatest handle", func(n *countInner) { n.maxHs[0]++ }},
		{"times out of order", func(n *countInner) { n.inner[0].leaf[1].vals[0] = n.inner[0].leaf[0].vals[0] - 1 }},
		{"ids out of order", func(n *countInner) {
			l := n.inner[0].leaf[0]
			l.hs[0], l.hs[1] = l.hs[1], l.hs[0]
		}},
		{"a pointer past the children", func(n *countInner) { n.inner[0].leaf[n.inner[0].n] = n.inner[0].leaf[0] }},
	} {
		s := new(slots)
		tr := newCountTree(s)
		for i := range 20000 { // three levels, two baskets a created time
			c := int64(i / 2)
			tr.set(aentry{c, s.add(&record{id: fmt.Sprintf("b%05d", i), created: c})})
		}
		c.corrupt(tr.root)
		faults := 0
		tr.check(func(string, ...any) { faults++ })
		if faults == 0 {
			t.Errorf("%s broken: check found no fault", c.name)
		}
	}
}

// TestCountTreeDrainNewest fills a tree in order until a leaf of one entry
// splits off and its parent and grandparent with it, each with one child,
// then deletes the newest entries: that leaf and its parents empty, and go.
func TestCountTreeDrainNewest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s := new(slots)
	tr := newCountTree(s)
	m := &countModel{s: s}
	for i := range countLeafMax*countInnerMax*countInnerMax + 1 {
		e := aentry{int64(i), s.add(&record{id: fmt.Sprintf("b%07d", i), created: int64(i)})}
		tr.set(e)
		m.ents = append(m.ents, e)
	}
	if tr.root.n != 2 || tr.root.inner[1].n != 1 || tr.root.inner[1].inner[0].n != 1 {
		t.Fatalf("the tree's right edge has %d, %d and %d children; want 2, 1 and 1",
			tr.root.n, tr.root.inner[1].n, tr.root.inner[1].inner[0].n)
	}
	for step := range 3 {
		e := m.ents[len(m.ents)-1]
		if !tr.delete(e) {
			t.Fatalf("delete(%v) of the newest entry = false", e)
		}
		m.ents = m.ents[:len(m.ents)-1]
		compareCount(t, step, tr, m, r)
	}
}

// TestCheckSeesIndexFaults checks that Engine.Check sees an abandoned
// index, a tag's, or the created index, that lost an entry, holds one
// more, or whose counts are wrong.
func TestCheckSeesIndexFaults(t *testing.T) {
	at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		fault func(ab *abTree, ent aentry)
		// what Check says of the abandoned index, of the tag's, of the
		// created index
		want, tag, created string
	}{
		{"one fewer", func(ab *abTree, ent aentry) { ab.delete(ent) },
			"missing from the abandoned index", `missing from the index of tag "a"`, "missing from the created index"},
		{"one more", func(ab *abTree, ent aentry) { ab.set(aentry{ent.created + 1, ent.h}) },
			"abandoned: 300 records, index 301", `tag "a" index has 301, records 300`, "created index has 301 entries, records 300"},
		{"a count", func(ab *abTree, _ aentry) { ab.root.counts[0]++ },
			"abandoned index: count tree: a child of", `tag "a": count tree: a child of`, "created index: count tree: a child of"},
	} {
		for _, tag := range []string{"", "a", "created"} {
			e, err := New(&Options{Now: func() time.Time { return at.Add(time.Hour) }})
			if err != nil {
				t.Fatal(err)
			}
			var evs []Event
			for i := range 300 {
				id := fmt.Sprintf("b-%03d", i)
				evs = append(evs,
					Event{Type: EventCreated, BasketID: id, At: at.Add(time.Duration(i) * time.Second), OrderItems: []OrderItem{{Name: "x", Path: "/x"}}, Tracking: map[string]string{"tag": "a"}},
					Event{Type: EventEmailCaptured, BasketID: id, At: at.Add(time.Duration(i) * time.Second), Email: id + "@example.com"})
			}
			if _, err := e.Apply(context.Background(), evs...); err != nil {
				t.Fatal(err)
			}
			if err := e.Check(); err != nil {
				t.Fatalf("before the fault: %v", err)
			}
			ab, want := e.abandoned, c.want
			switch tag {
			case "a":
				ab, want = e.byTag[tag], c.tag
			case "created":
				ab, want = e.created, c.created
			}
			var ent aentry
			n := 0
			ab.each(func(a aentry) bool { ent = a; n++; return n < 150 })
			c.fault(ab, ent)
			if err := e.Check(); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s in %q: Check() = %v; want an error about %q", c.name, tag, err, want)
			}
			e.Close()
		}
	}
}
