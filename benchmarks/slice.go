package benchmarks

import (
	"slices"

	"github.com/basketlab/abandoned/basket"
)

// SliceStore is the correctness floor: a slice kept sorted by key, searched
// by binary search. Inserting costs O(n). It is not safe for concurrent use.
type SliceStore struct {
	es []entry
}

// NewSliceStore returns an empty SliceStore.
func NewSliceStore() *SliceStore { return &SliceStore{} }

// Name returns "slice".
func (s *SliceStore) Name() string { return "slice" }

func entryCompare(a, b entry) int { return a.Key.Compare(b.Key) }

// Load appends the baskets and sorts; the store keeps pointers to them.
func (s *SliceStore) Load(bs []basket.Basket) error {
	s.es = slices.Grow(s.es, len(bs))
	for i := range bs {
		s.es = append(s.es, entry{KeyOf(&bs[i]), &bs[i]})
	}
	slices.SortFunc(s.es, entryCompare)
	s.es = slices.CompactFunc(s.es, func(a, b entry) bool { return a.Key == b.Key })
	return nil
}

// Insert inserts one basket in its place; the store keeps the pointer.
func (s *SliceStore) Insert(b *basket.Basket) error {
	e := entry{KeyOf(b), b}
	i, found := slices.BinarySearchFunc(s.es, e, entryCompare)
	if found {
		s.es[i] = e
		return nil
	}
	s.es = slices.Insert(s.es, i, e)
	return nil
}

// Flush does nothing.
func (s *SliceStore) Flush() error { return nil }

// Remove deletes the baskets.
func (s *SliceStore) Remove(bs []*basket.Basket) error {
	gone := make(map[Key]bool, len(bs))
	for _, b := range bs {
		gone[KeyOf(b)] = true
	}
	s.es = slices.DeleteFunc(s.es, func(e entry) bool { return gone[e.Key] })
	return nil
}

// Seek returns Pos{Key: after}.
func (s *SliceStore) Seek(after Key) (Pos, error) { return Pos{Key: after}, nil }

// Page copies up to limit baskets after pos.Key.
func (s *SliceStore) Page(pos Pos, limit int) ([]basket.Basket, Pos, error) {
	if pos.End {
		return nil, pos, nil
	}
	i, found := slices.BinarySearchFunc(s.es, entry{Key: pos.Key}, entryCompare)
	if found {
		i++
	}
	rest := s.es[i:]
	n := min(limit, len(rest))
	out := make([]basket.Basket, n)
	for j := range out {
		out[j] = *rest[j].b
	}
	return out, endPos(out, len(rest) > n), nil
}

// Len returns the number of baskets.
func (s *SliceStore) Len() (int, error) { return len(s.es), nil }

// Close does nothing.
func (s *SliceStore) Close() error { return nil }
