package basket

import (
	"hash/maphash"
	"slices"
)

// emailIndex finds the live baskets of a normalised address. It files
// handles (see handle) by a 32-bit hash of the address under the engine's
// own seed, so that it holds no copy of addresses and no pointer: most
// customers have one basket, and the hash of their address is a key of
// one, 8 bytes a slot, whose value is the basket's handle; a hash of two or
// more baskets (of one address, or of several whose hashes collide, about
// 23,000 of 1e7 addresses by chance) is a key of more instead. Readers
// check each basket's address (each). It is guarded by the engine's mu.
type emailIndex struct {
	seed maphash.Seed
	one  map[uint32]handle
	more map[uint32][]handle // two or more handles, in no order
	n    int                 // handles in all
}

// newEmailIndex returns an empty index with room for about n addresses.
func newEmailIndex(n int) emailIndex {
	return emailIndex{seed: maphash.MakeSeed(), one: make(map[uint32]handle, n), more: make(map[uint32][]handle)}
}

// key returns the normalised address a's key.
func (x *emailIndex) key(a string) uint32 { return uint32(maphash.String(x.seed, a)) }

// each calls fn with each live basket of the normalised address key; fn
// must not change the index.
func (x *emailIndex) each(recs *recTable, key string, fn func(r *record)) {
	k := x.key(key)
	if h, ok := x.one[k]; ok {
		if r := recs.slots.get(h); r.emailKey() == key {
			fn(r)
		}
		return
	}
	for _, h := range x.more[k] {
		if r := recs.slots.get(h); r.emailKey() == key {
			fn(r)
		}
	}
}

// has reports whether h is filed under key.
func (x *emailIndex) has(key string, h handle) bool {
	k := x.key(key)
	if one, ok := x.one[k]; ok {
		return one == h
	}
	return slices.Contains(x.more[k], h)
}

func (x *emailIndex) add(key string, h handle) {
	k := x.key(key)
	x.n++
	if one, ok := x.one[k]; ok {
		delete(x.one, k)
		x.more[k] = []handle{one, h}
		return
	}
	if hs, ok := x.more[k]; ok {
		x.more[k] = append(hs, h)
		return
	}
	x.one[k] = h
}

func (x *emailIndex) remove(key string, h handle) {
	k := x.key(key)
	if one, ok := x.one[k]; ok {
		if one == h {
			delete(x.one, k)
			x.n--
		}
		return
	}
	hs := x.more[k]
	i := slices.Index(hs, h)
	if i < 0 {
		return
	}
	x.n--
	hs = slices.Delete(hs, i, i+1)
	if len(hs) == 1 {
		delete(x.more, k)
		x.one[k] = hs[0]
		return
	}
	x.more[k] = hs
}
