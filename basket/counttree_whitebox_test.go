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

// countModel is the oracle of a countTree: its values, sorted.
type countModel []int64

func (m countModel) less(v int64) int {
	i, _ := slices.BinarySearch(m, v)
	return i
}

func (m *countModel) insert(v int64) {
	i, _ := slices.BinarySearch(*m, v)
	*m = slices.Insert(*m, i, v)
}

func (m *countModel) delete(v int64) bool {
	i, ok := slices.BinarySearch(*m, v)
	if ok {
		*m = slices.Delete(*m, i, i+1)
	}
	return ok
}

// compareCount checks t against m: its structure, its count, and less of
// every value m holds and of values around them.
func compareCount(t *testing.T, step int, tr *countTree, m countModel, r *rand.Rand) {
	t.Helper()
	tr.check(func(format string, args ...any) {
		t.Fatalf("step %d: %s", step, fmt.Sprintf(format, args...))
	})
	if tr.len() != len(m) {
		t.Fatalf("step %d: len() = %d; want %d", step, tr.len(), len(m))
	}
	probe := func(v int64) {
		if got, want := tr.less(v), m.less(v); got != want {
			t.Fatalf("step %d: less(%d) = %d; want %d", step, v, got, want)
		}
		if _, want := slices.BinarySearch(m, v); tr.has(v) != want {
			got := tr.has(v)
			t.Fatalf("step %d: has(%d) = %v; want %v", step, v, got, want)
		}
	}
	probe(-1 << 63)
	probe(1<<63 - 1)
	if len(m) == 0 {
		return
	}
	for range 64 {
		v := m[r.IntN(len(m))]
		probe(v)
		probe(v - 1)
		probe(v + 1)
	}
}

// TestCountTreeModel runs random inserts and deletes against a countTree
// and a sorted slice beside it, in value spaces that make long runs of
// equal values (across leaves), values in order (as baskets arrive, with
// the oldest leaving), and values anywhere. It grows trees three levels
// deep, then empties them, so that leaves and inner nodes split, merge and
// even out; and it copies the tree at random, changes the copy, and checks
// that the original has not changed.
func TestCountTreeModel(t *testing.T) {
	spaces := []struct {
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
	for seed := range uint64(3) {
		for _, sp := range spaces {
			t.Run(fmt.Sprintf("%s/seed=%d", sp.name, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 7))
				tr := newCountTree()
				var m countModel
				const grow, steps = 30000, 60000
				for step := range steps {
					// Mostly inserts while growing, mostly deletes after.
					insert := r.IntN(10) < 7
					if step >= grow {
						insert = r.IntN(10) < 3
					}
					switch {
					case insert:
						v := sp.gen(r, step)
						tr.insert(v)
						m.insert(v)
					case len(m) > 0 && r.IntN(8) > 0:
						// A held value: the oldest, in order, or any.
						i := r.IntN(len(m))
						if sp.name == "in order" && r.IntN(2) == 0 {
							i = 0
						}
						v := m[i]
						if !tr.delete(v) {
							t.Fatalf("step %d: delete(%d) of a held value = false", step, v)
						}
						m.delete(v)
					default:
						v := sp.gen(r, step) + 1
						if got, want := tr.delete(v), m.delete(v); got != want {
							t.Fatalf("step %d: delete(%d) = %v; want %v", step, v, got, want)
						}
					}
					if step%1009 == 0 {
						tr = checkCopy(t, step, tr, m, sp.gen, r)
					}
					if step%211 == 0 || step > steps-50 {
						compareCount(t, step, tr, m, r)
					}
				}
				for len(m) > 0 {
					v := m[r.IntN(len(m))]
					if !tr.delete(v) {
						t.Fatalf("emptying: delete(%d) of a held value = false", v)
					}
					m.delete(v)
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
// it returns one of the two to go on with, whose contents are m's.
func checkCopy(t *testing.T, step int, tr *countTree, m countModel, gen func(*rand.Rand, int) int64, r *rand.Rand) *countTree {
	t.Helper()
	c := tr.copy()
	cm := slices.Clone(m)
	for i := range 300 {
		if r.IntN(2) == 0 || len(cm) == 0 {
			v := gen(r, step+i)
			c.insert(v)
			cm.insert(v)
		} else {
			v := cm[r.IntN(len(cm))]
			c.delete(v)
			cm.delete(v)
		}
	}
	compareCount(t, step, c, cm, r)
	compareCount(t, step, tr, m, r)
	// Changing the original now must not show in the copy either: a
	// value added to one of its leaves, checked in the copy, then taken
	// out again.
	w := gen(r, step)
	tr.insert(w)
	compareCount(t, step, c, cm, r)
	tr.delete(w)
	compareCount(t, step, tr, m, r)
	if r.IntN(2) == 0 {
		// Go on with the original; the copy's changes are gone.
		return tr
	}
	// Go on with the copy: undo its changes, through its own nodes.
	for _, v := range cm {
		c.delete(v)
	}
	for _, v := range m {
		c.insert(v)
	}
	compareCount(t, step, c, m, r)
	return c
}

// TestCountTreeInOrderFill checks that values arriving in order fill the
// leaves: a tree of n values in order has n/countLeafMax leaves, rounded up.
func TestCountTreeInOrderFill(t *testing.T) {
	tr := newCountTree()
	const n = 100_000
	for i := range n {
		tr.insert(int64(i / 3)) // equal values too
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
		t.Errorf("%d values in order fill %d leaves; want %d", n, leaves, want)
	}
}

// TestCountTreeCheck checks that check sees a tree whose counts or maxima
// are wrong.
func TestCountTreeCheck(t *testing.T) {
	for _, c := range []struct {
		name    string
		corrupt func(n *countInner)
	}{
		{"a child's count", func(n *countInner) { n.counts[1]++ }},
		{"a child's greatest value", func(n *countInner) { n.maxes[0]-- }},
		{"values out of order", func(n *countInner) { n.inner[0].leaf[1].vals[0] = n.inner[0].leaf[0].vals[0] - 1 }},
		{"a pointer past the children", func(n *countInner) { n.inner[0].leaf[n.inner[0].n] = n.inner[0].leaf[0] }},
	} {
		tr := newCountTree()
		for i := range 20000 { // three levels
			tr.insert(int64(i))
		}
		c.corrupt(tr.root)
		faults := 0
		tr.check(func(string, ...any) { faults++ })
		if faults == 0 {
			t.Errorf("%s broken: check found no fault", c.name)
		}
	}
}

// TestCountTreeDrainNewest fills a tree in order until a leaf of one value
// splits off and its parent and grandparent with it, each with one child,
// then deletes the newest values: that leaf and its parents empty, and go.
func TestCountTreeDrainNewest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tr := newCountTree()
	var m countModel
	for i := range countLeafMax*countInnerMax*countInnerMax + 1 {
		tr.insert(int64(i))
		m = append(m, int64(i))
	}
	if tr.root.n != 2 || tr.root.inner[1].n != 1 || tr.root.inner[1].inner[0].n != 1 {
		t.Fatalf("the tree's right edge has %d, %d and %d children; want 2, 1 and 1",
			tr.root.n, tr.root.inner[1].n, tr.root.inner[1].inner[0].n)
	}
	for step := range 3 {
		v := m[len(m)-1]
		if !tr.delete(v) {
			t.Fatalf("delete(%d) of the newest value = false", v)
		}
		m = m[:len(m)-1]
		compareCount(t, step, tr, m, r)
	}
}

// TestCheckSeesCountDrift checks that Engine.Check sees a count tree that
// holds other created times than its index: one more, one fewer, or one
// moved, in the abandoned index and in a tag's.
func TestCheckSeesCountDrift(t *testing.T) {
	at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		drift func(ab *abTree, created int64)
	}{
		{"one more", func(ab *abTree, created int64) { ab.n.insert(created) }},
		{"one fewer", func(ab *abTree, created int64) { ab.n.delete(created) }},
		{"one moved", func(ab *abTree, created int64) { ab.n.delete(created); ab.n.insert(created + 1) }},
	} {
		for _, tag := range []string{"", "a"} {
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
				t.Fatalf("before the drift: %v", err)
			}
			ab, want := e.abandoned, "abandoned index: count tree"
			if tag != "" {
				ab, want = e.byTag[tag], `tag "a": count tree`
			}
			created, _ := ab.tr.GetAt(150)
			c.drift(ab, created.created)
			if err := e.Check(); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s in %q: Check() = %v; want an error about %q", c.name, tag, err, want)
			}
			e.Close()
		}
	}
}
