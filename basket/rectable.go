package basket

import "hash/maphash"

// recTable finds live records by id. It is keyed by a 64-bit hash of the id
// under the engine's own seed rather than by the id, which the record holds
// already: 16 bytes a slot instead of 24. An id whose hash another id holds
// (which no one can aim for without the seed) is kept in over. It is
// guarded by the engine's mu.
type recTable struct {
	seed maphash.Seed
	m    map[uint64]*record
	over map[string]*record
}

func newRecTable(n int) recTable {
	return recTable{seed: maphash.MakeSeed(), m: make(map[uint64]*record, n), over: make(map[string]*record)}
}

func (t *recTable) get(id string) *record {
	if r := t.m[maphash.String(t.seed, id)]; r != nil && r.id == id {
		return r
	}
	if len(t.over) > 0 {
		return t.over[id]
	}
	return nil
}

// set files r, in place of the record of its id if there is one.
func (t *recTable) set(r *record) {
	h := maphash.String(t.seed, r.id)
	if o, ok := t.m[h]; ok && o.id != r.id {
		t.over[r.id] = r
		return
	}
	t.m[h] = r
	if len(t.over) > 0 {
		delete(t.over, r.id)
	}
}

// add files r, whose id it must not hold, and reports whether it did; the
// same as get and then set, with one lookup of the hash where there is no
// collision.
func (t *recTable) add(r *record) bool {
	h := maphash.String(t.seed, r.id)
	o := t.m[h]
	switch {
	case o == nil:
		t.m[h] = r
		return true
	case o.id == r.id:
		return false
	case t.over[r.id] != nil:
		return false
	}
	t.over[r.id] = r
	return true
}

func (t *recTable) delete(id string) {
	h := maphash.String(t.seed, id)
	if o := t.m[h]; o != nil && o.id == id {
		delete(t.m, h)
		return
	}
	delete(t.over, id)
}

func (t *recTable) len() int { return len(t.m) + len(t.over) }

// all calls fn with every record, in no order.
func (t *recTable) all(fn func(*record)) {
	for _, r := range t.m {
		fn(r)
	}
	for _, r := range t.over {
		fn(r)
	}
}
