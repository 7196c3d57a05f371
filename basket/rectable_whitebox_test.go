package basket

import (
	"hash/maphash"
	"testing"
)

// TestRecTableCollision files an id whose slot another id holds, as a
// collision of their hashes would: it goes to over, is found, replaced and
// deleted there, and the slot's holder is left alone.
func TestRecTableCollision(t *testing.T) {
	tb := newRecTable(0)
	a, b := &record{id: "a"}, &record{id: "b"}
	tb.m[maphash.String(tb.seed, "b")] = a // a's hash taken to be b's
	tb.set(b)
	if got := tb.get("b"); got != b {
		t.Fatalf("get(b) = %v; want the record filed in over", got)
	}
	b2 := &record{id: "b"}
	tb.set(b2)
	if got, n := tb.get("b"), tb.len(); got != b2 || n != 2 {
		t.Fatalf("after a replacement get(b) = %v, len %d; want the new record, 2", got, n)
	}
	if tb.add(&record{id: "b"}) {
		t.Fatal("add filed an id the table holds")
	}
	tb.delete("b")
	if got, n := tb.get("b"), tb.len(); got != nil || n != 1 {
		t.Fatalf("after delete(b) get(b) = %v, len %d; want nil, 1", got, n)
	}
	b3 := &record{id: "b"}
	if !tb.add(b3) || tb.get("b") != b3 {
		t.Fatal("add of b where a holds its slot: not filed in over")
	}
	if tb.m[maphash.String(tb.seed, "b")] != a {
		t.Fatal("delete(b) took the slot's holder, a, with it")
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
	recs.set(mine)
	recs.set(other)
	x := newEmailIndex(0)
	x.add("ann@example.com", "mine")
	x.add("ann@example.com", "other") // bob's basket where ann's hash is
	var got []string
	x.each(&recs, "ann@example.com", func(r *record) { got = append(got, r.id) })
	if len(got) != 1 || got[0] != "mine" {
		t.Fatalf("each(ann) = %v; want [mine]", got)
	}
	x.remove("ann@example.com", "other")
	if x.n != 1 || len(x.more) != 0 || x.one[maphash.String(x.seed, "ann@example.com")] != "mine" {
		t.Fatalf("after a remove: n %d, more %v; want one id in one", x.n, x.more)
	}
}
