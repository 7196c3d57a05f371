package basket

import (
	"hash/maphash"
	"slices"
)

// emailIndex finds the live baskets of a normalised address. It files ids
// by a 64-bit hash of the address under the engine's own seed, so that it
// holds no copy of addresses, and most customers have one basket: the hash
// of their address is a key of one, whose value is the id; a hash of two or
// more baskets (of one address, or of several whose hashes collide) is a
// key of more instead. Readers check each basket's address (each). It is
// guarded by the engine's mu.
type emailIndex struct {
	seed maphash.Seed
	one  map[uint64]string
	more map[uint64][]string // two or more ids, in no order
	n    int                 // ids in all
}

// newEmailIndex returns an empty index with room for about n addresses.
func newEmailIndex(n int) emailIndex {
	return emailIndex{seed: maphash.MakeSeed(), one: make(map[uint64]string, n), more: make(map[uint64][]string)}
}

// each calls fn with each live basket of the normalised address key; fn
// must not change the index.
func (x *emailIndex) each(recs *recTable, key string, fn func(r *record)) {
	h := maphash.String(x.seed, key)
	if id, ok := x.one[h]; ok {
		if r := recs.get(id); r.emailKey() == key {
			fn(r)
		}
		return
	}
	for _, id := range x.more[h] {
		if r := recs.get(id); r.emailKey() == key {
			fn(r)
		}
	}
}

// has reports whether id is filed under key.
func (x *emailIndex) has(key, id string) bool {
	h := maphash.String(x.seed, key)
	if one, ok := x.one[h]; ok {
		return one == id
	}
	return slices.Contains(x.more[h], id)
}

func (x *emailIndex) add(key, id string) {
	h := maphash.String(x.seed, key)
	x.n++
	if one, ok := x.one[h]; ok {
		delete(x.one, h)
		x.more[h] = []string{one, id}
		return
	}
	if ids, ok := x.more[h]; ok {
		x.more[h] = append(ids, id)
		return
	}
	x.one[h] = id
}

func (x *emailIndex) remove(key, id string) {
	h := maphash.String(x.seed, key)
	if one, ok := x.one[h]; ok {
		if one == id {
			delete(x.one, h)
			x.n--
		}
		return
	}
	ids := x.more[h]
	i := slices.Index(ids, id)
	if i < 0 {
		return
	}
	x.n--
	ids = slices.Delete(ids, i, i+1)
	if len(ids) == 1 {
		delete(x.more, h)
		x.one[h] = ids[0]
		return
	}
	x.more[h] = ids
}
