package basket

import (
	"encoding/binary"
	"hash/fnv"
	"maps"
	"slices"
)

// digest is a hash of a record's content, the same in every process: the
// state's digest is the XOR of its records', kept up to date as records
// come and go, so that nodes of a cluster can compare their states at a
// point of the log in O(1).
func (r *record) digest() uint64 {
	h := fnv.New64a()
	var b [8]byte
	num := func(v uint64) {
		binary.LittleEndian.PutUint64(b[:], v)
		h.Write(b[:])
	}
	str := func(s string) {
		num(uint64(len(s)))
		h.Write([]byte(s))
	}
	str(r.id)
	for _, v := range [...]int64{r.created, r.lastAt, r.abandonedAt, r.deadline, r.recoveredAt, r.completedAt} {
		num(uint64(v))
	}
	num(r.feedPos)
	num(r.createHash)
	num(uint64(r.linkExp)<<32 | uint64(r.revokedUntil))
	num(uint64(r.state))
	for _, s := range [...]string{r.details.Email, r.details.FirstName, r.details.LastName, r.details.CompanyName, r.entry, r.link} {
		str(s)
	}
	num(uint64(len(r.items)))
	for _, it := range r.items {
		str(it.Name)
		str(it.Path)
		num(uint64(len(it.Products)))
		for _, p := range it.Products {
			str(p.Path)
			str(p.ProductCode)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.tracking)) {
		str(k)
		str(r.tracking[k])
	}
	num(uint64(len(r.identities)))
	for _, id := range r.identities {
		str(id.Sub)
		str(id.Iss)
		str(id.Service)
		str(id.Type)
	}
	return h.Sum64()
}

// stateDigest is the digest of the whole state: the records', the feed's
// position, the counts of purged and erased baskets. e.mu must be held.
func (e *Engine) stateDigest() uint64 {
	h := fnv.New64a()
	var b [8]byte
	for _, v := range [...]uint64{e.recDigest, e.lastPos, uint64(e.counts[StateExpired]), uint64(e.erased.Len()), uint64(e.tombs.Len())} {
		binary.LittleEndian.PutUint64(b[:], v)
		h.Write(b[:])
	}
	if n := e.suppressed.Len(); n > 0 {
		// Only when there is a list, so that the digests of logs written
		// before it existed stay what they were.
		binary.LittleEndian.PutUint64(b[:], uint64(n))
		h.Write(b[:])
	}
	return h.Sum64()
}
