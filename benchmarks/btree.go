package benchmarks

import (
	"sync"

	"github.com/basketlab/abandoned/basket"
	"github.com/tidwall/btree"
)

// entry is a basket under its key; the key is held by value so that
// comparisons chase no pointer.
type entry struct {
	Key
	b *basket.Basket
}

func entryLess(a, b entry) bool { return a.Key.Compare(b.Key) < 0 }

// BTreeStore is the floor: a raw tidwall/btree of (created, id, *basket)
// under a sync.RWMutex, pages materialised by copying the baskets. Whatever
// a store costs above it is the store's own overhead.
type BTreeStore struct {
	mu sync.RWMutex // guards tr
	tr *btree.BTreeG[entry]
}

// NewBTreeStore returns an empty BTreeStore.
func NewBTreeStore() *BTreeStore {
	return &BTreeStore{tr: btree.NewBTreeGOptions(entryLess, btree.Options{NoLocks: true})}
}

// Name returns "btree".
func (s *BTreeStore) Name() string { return "btree" }

// Load inserts the baskets; the store keeps pointers to them.
func (s *BTreeStore) Load(bs []basket.Basket) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range bs {
		s.tr.Set(entry{KeyOf(&bs[i]), &bs[i]})
	}
	return nil
}

// Insert inserts one basket; the store keeps the pointer.
func (s *BTreeStore) Insert(b *basket.Basket) error {
	s.mu.Lock()
	s.tr.Set(entry{KeyOf(b), b})
	s.mu.Unlock()
	return nil
}

// Flush does nothing.
func (s *BTreeStore) Flush() error { return nil }

// Remove deletes the baskets.
func (s *BTreeStore) Remove(bs []*basket.Basket) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range bs {
		s.tr.Delete(entry{Key: KeyOf(b)})
	}
	return nil
}

// Seek returns Pos{Key: after}.
func (s *BTreeStore) Seek(after Key) (Pos, error) { return Pos{Key: after}, nil }

// Page copies up to limit baskets after pos.Key.
func (s *BTreeStore) Page(pos Pos, limit int) ([]basket.Basket, Pos, error) {
	if pos.End {
		return nil, pos, nil
	}
	out := make([]basket.Basket, 0, limit)
	more := false
	s.mu.RLock()
	s.tr.Ascend(entry{Key: pos.Key}, func(e entry) bool {
		if e.Key == pos.Key {
			return true
		}
		if len(out) == limit {
			more = true
			return false
		}
		out = append(out, *e.b)
		return true
	})
	s.mu.RUnlock()
	return out, endPos(out, more), nil
}

// Len returns the number of baskets.
func (s *BTreeStore) Len() (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tr.Len(), nil
}

// Close does nothing.
func (s *BTreeStore) Close() error { return nil }
