package basket

import "slices"

// handle names a live basket's slot in the engine's slot table. It stays
// the same for the basket's life, whatever its record is replaced with, so
// that index entries, which name handles, change only when the basket's
// place in an index does; and they hold no pointer, so that the collector
// never scans them, nor do their shifts in a tree's node need its write
// barriers. 0 names no basket.
type handle uint32

// slotChunkBits sets a chunk's size: 1,024 slots, 8 KiB.
const slotChunkBits = 10

// slotChunk is a run of slots. A chunk of an older generation than its
// table's is shared with a frozen view, and never written again.
type slotChunk struct {
	gen  uint64
	recs [1 << slotChunkBits]*record
}

// slots maps handles to records. It grows to the most baskets live at
// once and never shrinks: a released handle is reused. The engine's table
// is read under e.mu and changed under e.mu held for writing, but for adds
// in place (addsInPlace), which the applier makes under e.mu held for
// reading only; a frozen view of it (freeze)
// is read without the lock, while the table goes on changing: a write to
// a chunk the view shares copies it first.
type slots struct {
	chunks []*slotChunk
	free   []handle // handles released, for reuse
	next   handle   // the lowest handle never handed out
	gen    uint64
}

// get returns the record of h; nil for 0 or a released handle.
func (s *slots) get(h handle) *record {
	return s.chunks[h>>slotChunkBits].recs[h&(1<<slotChunkBits-1)]
}

// id returns the id of h's record; "" for 0.
func (s *slots) id(h handle) string {
	if h == 0 {
		return ""
	}
	return s.get(h).id
}

// add files r in a free slot and returns its handle.
func (s *slots) add(r *record) handle {
	var h handle
	if n := len(s.free); n > 0 {
		h = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		if s.next == 0 {
			s.next = 1 // 0 names no basket
		}
		if s.next == inMore { // never handed out: the address index's mark
			panic("basket: more than 2^32-2 live baskets")
		}
		h = s.next
		s.next++
		if int(h>>slotChunkBits) == len(s.chunks) {
			s.chunks = append(s.chunks, &slotChunk{gen: s.gen})
		}
	}
	s.set(h, r)
	return h
}

// addsInPlace reports whether the next add writes only to its slot, not to
// the list of chunks: the slot's chunk is there, and of the table's
// generation. Such an add, of a record no index names yet, may run beside
// readers of the table (see txn.stage), as the list is what they read and
// a slot not handed out is read by none.
func (s *slots) addsInPlace() bool {
	h := s.next
	if n := len(s.free); n > 0 {
		h = s.free[n-1]
	} else if h == 0 {
		h = 1
	}
	i := int(h >> slotChunkBits)
	return i < len(s.chunks) && s.chunks[i].gen == s.gen
}

// set files r in h's slot.
func (s *slots) set(h handle, r *record) {
	i := h >> slotChunkBits
	c := s.chunks[i]
	if c.gen != s.gen {
		c = &slotChunk{gen: s.gen, recs: c.recs}
		s.chunks[i] = c
	}
	c.recs[h&(1<<slotChunkBits-1)] = r
}

// release empties h's slot for reuse.
func (s *slots) release(h handle) {
	s.set(h, nil)
	s.free = append(s.free, h)
}

// freeze returns a view of the table as it is, which later changes to the
// table leave alone.
func (s *slots) freeze() frozenSlots {
	s.gen++
	return frozenSlots{chunks: slices.Clone(s.chunks)}
}

// frozenSlots is a view of a slot table, read only.
type frozenSlots struct{ chunks []*slotChunk }

// get returns the record of h in the view.
func (v frozenSlots) get(h handle) *record {
	return v.chunks[h>>slotChunkBits].recs[h&(1<<slotChunkBits-1)]
}
