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
// point of the log in O(1). Its recovery link is hashed as spelled out
// (appendLink), as it was when records kept it as a string.
func (e *Engine) digest(r *record) uint64 {
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
	x := r.extra()
	for _, v := range [...]int64{r.created, r.lastAt, r.abandonedAt(), r.deadline(), x.recoveredAt, r.completedAt()} {
		num(uint64(v))
	}
	num(r.feedPos)
	num(r.createHash)
	num(uint64(r.linkExp)<<32 | uint64(x.revokedUntil))
	num(uint64(r.state))
	for _, s := range [...]string{r.email(), x.firstName(), x.lastName(), x.companyName(), r.entry()} {
		str(s)
	}
	if r.linkExp == 0 {
		str("")
	} else {
		var buf [512]byte
		link := e.appendLink(buf[:0], r.id, r.linkKeyID(), r.linkExp, r.linkMAC[:])
		num(uint64(len(link)))
		h.Write(link)
	}
	items := r.items()
	num(uint64(len(items)))
	for _, it := range items {
		str(it.Name)
		str(it.Path)
		num(uint64(len(it.Products)))
		for _, p := range it.Products {
			str(p.Path)
			str(p.ProductCode)
		}
	}
	tr := r.tracking()
	for _, k := range slices.Sorted(maps.Keys(tr)) {
		str(k)
		str(tr[k])
	}
	n := r.numIdentities()
	num(uint64(n))
	for i := range n {
		id := r.identity(i)
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
