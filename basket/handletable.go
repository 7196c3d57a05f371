package basket

import "math/bits"

// handleTable maps 32-bit keys, which are seeded hashes and so spread
// evenly, to handles. It is the id table's and the address index's map:
// a Go map of the same keys probes twice for an insert of a new key (the
// lookup, then the assignment), and each probe of a large map is a cache
// miss; putNew probes once.
//
// The keys' top bits choose one of handleShards shards, each an
// open-addressing table of uint64 slots (key<<32 | handle; handle 0 is an
// empty slot) probed linearly from the slot the key's low bits name. A
// shard doubles when three quarters full, on its own: with 1e7 keys, a
// doubling copies about 512 KiB, not the whole table. A delete shifts the
// slots after it back, so there are no tombstones. The slots hold no
// pointer: the collector never scans them.
//
// Like a map, it may be read by many goroutines while none writes.
type handleTable struct {
	shards [handleShards]handleShard
	n      int
}

// handleShardBits sets the number of shards.
const (
	handleShardBits = 8
	handleShards    = 1 << handleShardBits
)

type handleShard struct {
	slots []uint64 // len 0 or a power of two
	n     int
}

// newHandleTable returns a table with room for about n keys before a
// shard grows.
func newHandleTable(n int) handleTable {
	var t handleTable
	if per := n / handleShards; per > 0 {
		size := 1 << bits.Len(uint(per*3/2))
		for i := range t.shards {
			t.shards[i].slots = make([]uint64, size)
			prefault(t.shards[i].slots)
		}
	}
	return t
}

// prefault writes a zero to every page of s. Fresh from the system, a
// large table's pages are not there yet: a probe's read of one maps the
// shared page of zeros, and the write that follows faults again to copy
// it. Written first, each page faults once.
func prefault(s []uint64) {
	const perPage = 4096 / 8
	for i := 0; i < len(s); i += perPage {
		s[i] = 0
	}
}

// shard returns k's shard. The shard takes k's top bits, a slot its low
// bits: they stay apart up to shards of 2^24 slots, 2^32 in all.
func (t *handleTable) shard(k uint32) *handleShard {
	return &t.shards[k>>(32-handleShardBits)]
}

func (t *handleTable) len() int { return t.n }

// get returns k's handle; 0 if it holds none.
func (t *handleTable) get(k uint32) handle {
	s := t.shard(k)
	if len(s.slots) == 0 {
		return 0
	}
	mask := uint32(len(s.slots) - 1)
	for i := k & mask; ; i = (i + 1) & mask {
		e := s.slots[i]
		switch {
		case handle(e) == 0:
			return 0
		case uint32(e>>32) == k:
			return handle(e)
		}
	}
}

// warm reads the slot k's probe starts at, and returns it (to be kept by
// the caller, so that the read stays). A caller about to change many keys
// warms them first in one loop, where their cache misses overlap, rather
// than one after another in the changes.
func (t *handleTable) warm(k uint32) uint64 {
	s := t.shard(k)
	if len(s.slots) == 0 {
		return 0
	}
	return s.slots[k&uint32(len(s.slots)-1)]
}

// putNew files h, not 0, under k if k has no handle, and returns 0;
// otherwise it changes nothing and returns k's handle.
func (t *handleTable) putNew(k uint32, h handle) handle {
	if h == 0 {
		panic("basket: handleTable.putNew of handle 0")
	}
	s := t.shard(k)
	if len(s.slots) == 0 {
		s.grow()
	}
	mask := uint32(len(s.slots) - 1)
	i := k & mask
	for ; handle(s.slots[i]) != 0; i = (i + 1) & mask {
		if e := s.slots[i]; uint32(e>>32) == k {
			return handle(e)
		}
	}
	if (s.n+1)*4 > len(s.slots)*3 {
		s.grow()
		mask = uint32(len(s.slots) - 1)
		for i = k & mask; handle(s.slots[i]) != 0; i = (i + 1) & mask {
		}
	}
	s.slots[i] = uint64(k)<<32 | uint64(h)
	s.n++
	t.n++
	return 0
}

// set files h, not 0, under k, in place of k's handle if it has one.
func (t *handleTable) set(k uint32, h handle) {
	if h == 0 {
		panic("basket: handleTable.set of handle 0")
	}
	s := t.shard(k)
	if len(s.slots) > 0 {
		mask := uint32(len(s.slots) - 1)
		for i := k & mask; handle(s.slots[i]) != 0; i = (i + 1) & mask {
			if uint32(s.slots[i]>>32) == k {
				s.slots[i] = uint64(k)<<32 | uint64(h)
				return
			}
		}
	}
	t.putNew(k, h)
}

// delete takes k out, and returns the handle it had; 0 if none.
func (t *handleTable) delete(k uint32) handle {
	s := t.shard(k)
	if len(s.slots) == 0 {
		return 0
	}
	mask := uint32(len(s.slots) - 1)
	i := k & mask
	for {
		e := s.slots[i]
		if handle(e) == 0 {
			return 0
		}
		if uint32(e>>32) == k {
			break
		}
		i = (i + 1) & mask
	}
	h := handle(s.slots[i])
	// Shift back what follows, up to the next empty slot: a key moves
	// into the hole if its own slot is not between the hole and it
	// (cyclically), so that every key stays reachable from its own slot
	// without passing an empty one.
	hole := i
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		e := s.slots[j]
		if handle(e) == 0 {
			break
		}
		home := uint32(e>>32) & mask
		if (j-home)&mask >= (j-hole)&mask {
			s.slots[hole] = e
			hole = j
		}
	}
	s.slots[hole] = 0
	s.n--
	t.n--
	return h
}

// each calls fn with every key and its handle, in no order.
func (t *handleTable) each(fn func(k uint32, h handle)) {
	for i := range t.shards {
		for _, e := range t.shards[i].slots {
			if handle(e) != 0 {
				fn(uint32(e>>32), handle(e))
			}
		}
	}
}

// grow doubles s (from none to 8 slots) and files its keys again.
func (s *handleShard) grow() {
	old := s.slots
	s.slots = make([]uint64, max(8, 2*len(old)))
	prefault(s.slots)
	mask := uint32(len(s.slots) - 1)
	for _, e := range old {
		if handle(e) == 0 {
			continue
		}
		i := uint32(e>>32) & mask
		for handle(s.slots[i]) != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = e
	}
}
