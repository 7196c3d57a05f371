package basket

import (
	"hash/maphash"
	"slices"
)

// emailIndex finds the live baskets of a normalised address. It files
// handles (see handle) by a 32-bit hash of the address under the engine's
// own seed, so that it holds no copy of addresses and no pointer: most
// customers have one basket, and the hash of their address is a key of
// one, 8 bytes a slot, whose value is the basket's handle. A hash of two or
// more baskets (of one address, or of several whose hashes collide, about
// 23,000 of 1e7 addresses by chance) is a key of more, and one holds
// inMore for it: so an add of a new address probes one alone. Readers
// check each basket's address (each). It is guarded by the engine's mu.
type emailIndex struct {
	seed maphash.Seed
	one  handleTable
	more map[uint32][]handle // two or more handles, in no order
	n    int                 // handles in all
}

// inMore is what one holds for a key of more. The slot table never hands
// it out: its last handle is one below.
const inMore = ^handle(0)

// newEmailIndex returns an empty index with room for about n addresses.
func newEmailIndex(n int) emailIndex {
	return emailIndex{seed: maphash.MakeSeed(), one: newHandleTable(n), more: make(map[uint32][]handle)}
}

// key returns the normalised address a's key.
func (x *emailIndex) key(a string) uint32 { return uint32(maphash.String(x.seed, a)) }

// handles returns the handles filed under k: one's, or more's.
func (x *emailIndex) handles(k uint32, buf *[1]handle) []handle {
	switch h := x.one.get(k); h {
	case 0:
		return nil
	case inMore:
		return x.more[k]
	default:
		buf[0] = h
		return buf[:]
	}
}

// each calls fn with each live basket of the normalised address key; fn
// must not change the index.
func (x *emailIndex) each(recs *recTable, key string, fn func(r *record)) {
	var buf [1]handle
	for _, h := range x.handles(x.key(key), &buf) {
		if r := recs.slots.get(h); r.emailKey() == key {
			fn(r)
		}
	}
}

// has reports whether h is filed under key.
func (x *emailIndex) has(key string, h handle) bool {
	var buf [1]handle
	return slices.Contains(x.handles(x.key(key), &buf), h)
}

func (x *emailIndex) add(key string, h handle) { x.addKey(x.key(key), h) }

// addKey is add of an address whose key is k.
func (x *emailIndex) addKey(k uint32, h handle) {
	x.n++
	switch one := x.one.putNew(k, h); one {
	case 0:
	case inMore:
		x.more[k] = append(x.more[k], h)
	default:
		x.one.set(k, inMore)
		x.more[k] = []handle{one, h}
	}
}

func (x *emailIndex) remove(key string, h handle) {
	k := x.key(key)
	switch one := x.one.get(k); one {
	case h:
		x.one.delete(k)
		x.n--
		return
	case inMore:
	default:
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
		x.one.set(k, hs[0])
		return
	}
	x.more[k] = hs
}

// check reports what is wrong with the index's structure, if anything:
// every key of more is marked in one and holds two handles or more, and
// the handles add up to n. It returns the number of handles filed.
func (x *emailIndex) check(fail func(format string, args ...any)) int {
	n, marks := 0, 0
	x.one.each(func(k uint32, h handle) {
		if h != inMore {
			n++
			return
		}
		marks++
		if hs := x.more[k]; len(hs) < 2 {
			fail("email index: key %#x marked in more, which holds %d handles for it", k, len(hs))
		}
	})
	if marks != len(x.more) {
		fail("email index: %d keys marked in more, which has %d", marks, len(x.more))
	}
	for _, hs := range x.more {
		n += len(hs)
	}
	if n != x.n {
		fail("email index: %d handles filed, counted %d", n, x.n)
	}
	return n
}
