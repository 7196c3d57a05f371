package basket

import "hash/maphash"

// recTable finds live records by id, and by handle (see handle). Its table
// is keyed by a 32-bit hash of the id under the engine's own seed rather
// than by the id, which the record holds already, and holds handles, not
// pointers: 8 bytes a slot, which the collector never scans. An id whose
// hash another id holds is kept in over: about 12,000 of 1e7 ids, by
// chance, and no one can aim for it without the seed. It is guarded by
// the engine's mu.
type recTable struct {
	seed  maphash.Seed
	m     handleTable
	over  map[string]handle
	slots slots
}

func newRecTable(n int) recTable {
	return recTable{
		seed:  maphash.MakeSeed(),
		m:     newHandleTable(n),
		over:  make(map[string]handle),
		slots: slots{chunks: make([]*slotChunk, 0, n>>slotChunkBits+1)},
	}
}

// key returns id's key in m.
func (t *recTable) key(id string) uint32 { return uint32(maphash.String(t.seed, id)) }

// get returns the record of id, or nil.
func (t *recTable) get(id string) *record {
	_, r := t.lookup(id)
	return r
}

// lookup returns the handle and record of id, or 0 and nil.
func (t *recTable) lookup(id string) (handle, *record) {
	if h := t.m.get(t.key(id)); h != 0 {
		if r := t.slots.get(h); r.id == id {
			return h, r
		}
	}
	if len(t.over) > 0 {
		if h := t.over[id]; h != 0 {
			return h, t.slots.get(h)
		}
	}
	return 0, nil
}

// add files r, and returns its handle; 0 if it holds r's id, which then
// keeps its handle and record. It is the same as lookup and then filing,
// with one probe of the table where there is no collision.
func (t *recTable) add(r *record) handle { return t.addKey(t.key(r.id), r) }

// addKey is add of a record whose id's key is k.
func (t *recTable) addKey(k uint32, r *record) handle {
	if len(t.over) > 0 && t.over[r.id] != 0 {
		return 0 // filed in over while another held its key
	}
	h := t.slots.add(r)
	o := t.m.putNew(k, h)
	switch {
	case o == 0:
		return h
	case t.slots.get(o).id == r.id:
		t.slots.release(h)
		return 0
	}
	t.over[r.id] = h
	return h
}

// file files id, which the table must not hold, by h, whose slot holds
// its record already (slots.add).
func (t *recTable) file(h handle, id string) {
	if t.m.putNew(t.key(id), h) != 0 {
		t.over[id] = h
	}
}

// replace files c, a changed copy of h's record, in its place.
func (t *recTable) replace(h handle, c *record) { t.slots.set(h, c) }

// delete takes out h's record, whose id is id, and releases h.
func (t *recTable) delete(h handle, id string) {
	if k := t.key(id); t.m.get(k) == h {
		t.m.delete(k)
	} else {
		delete(t.over, id)
	}
	t.slots.release(h)
}

func (t *recTable) len() int { return t.m.len() + len(t.over) }

// all calls fn with every record and its handle, in handle order.
func (t *recTable) all(fn func(handle, *record)) {
	for i, c := range t.slots.chunks {
		for j, r := range &c.recs {
			if r != nil {
				fn(handle(i<<slotChunkBits|j), r)
			}
		}
	}
}
