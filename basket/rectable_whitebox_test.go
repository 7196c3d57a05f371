package basket

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestRecTableCollision files an id whose slot another id holds, as a
// collision of their hashes would: it goes to over, is found, replaced and
// deleted there, and the slot's holder is left alone.
func TestRecTableCollision(t *testing.T) {
	tb := newRecTable(0)
	a, b := &record{id: "a"}, &record{id: "b"}
	ha := tb.slots.add(a)
	tb.m.putNew(tb.key("b"), ha) // a's hash taken to be b's
	hb := tb.add(b)
	if hb == 0 || hb == ha {
		t.Fatalf("add(b) = %d; want a handle of its own", hb)
	}
	if h, got := tb.lookup("b"); got != b || h != hb {
		t.Fatalf("lookup(b) = %d, %v; want the record filed in over", h, got)
	}
	b2 := &record{id: "b"}
	tb.replace(hb, b2)
	if got, n := tb.get("b"), tb.len(); got != b2 || n != 2 {
		t.Fatalf("after a replacement get(b) = %v, len %d; want the new record, 2", got, n)
	}
	if tb.add(&record{id: "b"}) != 0 {
		t.Fatal("add filed an id the table holds")
	}
	tb.delete(hb, "b")
	if got, n := tb.get("b"), tb.len(); got != nil || n != 1 {
		t.Fatalf("after delete(b) get(b) = %v, len %d; want nil, 1", got, n)
	}
	b3 := &record{id: "b"}
	if tb.add(b3) == 0 || tb.get("b") != b3 {
		t.Fatal("add of b where a holds its slot: not filed in over")
	}
	if tb.m.get(tb.key("b")) != ha || tb.slots.get(ha) != a {
		t.Fatal("delete(b) took the slot's holder, a, with it")
	}
}

// TestRecTableOracle runs random adds, replacements and deletes through a
// table and a map beside it, freezing views of the table on the way: the
// table agrees with the map, and every view keeps what the table held when
// it was frozen, whatever the table did after.
func TestRecTableOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	tb := newRecTable(0)
	model := map[string]*record{}
	handles := map[string]handle{}
	type view struct {
		v    frozenSlots
		want map[handle]*record
	}
	var views []view
	for step := range 30_000 {
		id := fmt.Sprintf("b%d", rng.IntN(3_000))
		switch op := rng.IntN(10); {
		case op < 4:
			r := &record{id: id}
			h := tb.add(r)
			if _, ok := model[id]; ok != (h == 0) {
				t.Fatalf("step %d: add(%s) = %d with the id held: %v", step, id, h, ok)
			}
			if h != 0 {
				model[id], handles[id] = r, h
			}
		case op < 7:
			if h, ok := handles[id]; ok {
				r := &record{id: id}
				tb.replace(h, r)
				model[id] = r
			}
		case op < 9:
			if h, ok := handles[id]; ok {
				tb.delete(h, id)
				delete(model, id)
				delete(handles, id)
			}
		default:
			want := map[handle]*record{}
			for id, h := range handles {
				want[h] = model[id]
			}
			views = append(views, view{tb.slots.freeze(), want})
		}
		if h, got := tb.lookup(id); got != model[id] || h != handles[id] {
			t.Fatalf("step %d: lookup(%s) = %d, %p; want %d, %p", step, id, h, got, handles[id], model[id])
		}
	}
	if tb.len() != len(model) {
		t.Fatalf("len %d; want %d", tb.len(), len(model))
	}
	n := 0
	tb.all(func(h handle, r *record) {
		n++
		if handles[r.id] != h || model[r.id] != r {
			t.Fatalf("all gave %d, %s, which the table does not hold", h, r.id)
		}
	})
	if n != len(model) {
		t.Fatalf("all gave %d records; want %d", n, len(model))
	}
	if len(views) < 100 {
		t.Fatalf("only %d views frozen", len(views))
	}
	for i, v := range views {
		for h, r := range v.want {
			if got := v.v.get(h); got != r {
				t.Fatalf("view %d: handle %d is %p; want %p, as when frozen", i, h, got, r)
			}
		}
	}
}

// TestEmailIndexChecksAddresses files an id under an address its basket
// does not have, as a collision of two addresses' hashes would: readers
// are not handed it.
func TestEmailIndexChecksAddresses(t *testing.T) {
	recs := newRecTable(0)
	mine := &record{id: "mine", shape: emptyShape}
	mine.setEmail("ann@example.com")
	other := &record{id: "other", shape: emptyShape}
	other.setEmail("bob@example.com")
	hm, ho := recs.add(mine), recs.add(other)
	x := newEmailIndex(0)
	x.add("ann@example.com", hm)
	x.add("ann@example.com", ho) // bob's basket where ann's hash is
	var got []string
	x.each(&recs, "ann@example.com", func(r *record) { got = append(got, r.id) })
	if len(got) != 1 || got[0] != "mine" {
		t.Fatalf("each(ann) = %v; want [mine]", got)
	}
	x.remove("ann@example.com", ho)
	if x.n != 1 || len(x.more) != 0 || x.one.get(x.key("ann@example.com")) != hm {
		t.Fatalf("after a remove: n %d, more %v; want one handle in one", x.n, x.more)
	}
}

// TestRecTableAddAfterHolderGone files an id in over, deletes the id that
// held its key, and adds the first id again: the table says it holds it,
// rather than filing a second record for it.
func TestRecTableAddAfterHolderGone(t *testing.T) {
	tb := newRecTable(0)
	x, y := &record{id: "x"}, &record{id: "y"}
	hx := tb.slots.add(x)
	tb.m.putNew(tb.key("y"), hx) // x's hash taken to be y's
	hy := tb.add(y)
	if hy == 0 {
		t.Fatal("y not filed")
	}
	tb.m.delete(tb.key("y")) // x gone from y's key, as a delete of x would leave it
	if h := tb.add(&record{id: "y"}); h != 0 {
		t.Fatalf("add(y) again = %d; want 0, the table holding y", h)
	}
	if h, r := tb.lookup("y"); h != hy || r != y {
		t.Fatalf("lookup(y) = %d, %v; want the first filing", h, r)
	}
}

// TestErasureOrderAfterSnapshot erases an address of two baskets created
// out of order, on an engine that applied them and on one that read them
// from its snapshot: the erasure names them in the same order on both.
func TestErasureOrderAfterSnapshot(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	opts := &Options{ChangeRetention: time.Hour}
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, b := range []struct {
		id string
		at time.Time
	}{{"z", now.Add(-time.Minute)}, {"a", now.Add(-2 * time.Minute)}} {
		if _, err := e.Apply(ctx, Event{Type: EventCreated, BasketID: b.id, At: b.at},
			Event{Type: EventEmailCaptured, BasketID: b.id, At: b.at, Email: "ann@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	e2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if err := e2.loadSnapshot(bytes.NewReader(snapshotOf(t, e))); err != nil {
		t.Fatal(err)
	}
	var got [2][]string
	for i, eng := range []*Engine{e, e2} {
		if _, err := eng.Apply(ctx, Event{Type: EventErased, Email: "ann@example.com", At: now}); err != nil {
			t.Fatal(err)
		}
		p, err := eng.Changes(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range p.Items {
			if len(ch.BasketIDs) == 2 {
				got[i] = ch.BasketIDs
			}
		}
	}
	if len(got[0]) != 2 || !slices.Equal(got[0], got[1]) || got[0][0] != "a" {
		t.Fatalf("erasures named %v applied and %v from the snapshot; want [a z] on both", got[0], got[1])
	}
}
