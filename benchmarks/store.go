package benchmarks

import (
	"cmp"
	"strings"

	"github.com/basketlab/abandoned/basket"
)

// Key is a position in (created, id) order, the order of the query API.
type Key struct {
	Created int64 // unix milliseconds
	ID      string
}

// KeyOf returns the key of b.
func KeyOf(b *basket.Basket) Key { return Key{Created: b.Created.UnixMilli(), ID: b.ID} }

// Compare returns -1, 0 or +1 as k sorts before, equal to or after o.
func (k Key) Compare(o Key) int {
	if c := cmp.Compare(k.Created, o.Created); c != 0 {
		return c
	}
	return strings.Compare(k.ID, o.ID)
}

// Pos is where a page starts. Stores that page by key continue strictly
// after Key; the engine continues what Cursor continues, or, without one,
// starts after Key, which then has no ID. The zero Pos is the start; End
// means nothing follows.
type Pos struct {
	Key    Key
	Cursor string
	End    bool
}

// Store is an ordered store of abandoned baskets, as a query API would sit
// on it. Implementations need not be safe for concurrent use.
type Store interface {
	// Name names the store in benchmark names.
	Name() string

	// Load adds many baskets in the fastest way the store offers.
	Load(bs []basket.Basket) error

	// Insert adds one basket. It may stay buffered until Flush or the next
	// read.
	Insert(b *basket.Basket) error

	// Flush makes every inserted basket visible.
	Flush() error

	// Remove deletes baskets that Load or Insert added.
	Remove(bs []*basket.Basket) error

	// Seek returns the position just after key, in the store's terms. It is
	// not part of the cost of a page: a client holds a position from its
	// previous page.
	Seek(after Key) (Pos, error)

	// Page returns up to limit baskets after pos in (created, id) order,
	// materialised as structs the caller may keep, and the position after
	// the last of them (End if nothing follows it).
	Page(pos Pos, limit int) ([]basket.Basket, Pos, error)

	// Len returns the number of baskets in the store.
	Len() (int, error)

	// Close releases the store.
	Close() error
}

// Walk pages through the whole store from the start, limit baskets at a
// time, calling fn with each page, and returns the number of baskets seen.
func Walk(s Store, limit int, fn func(page []basket.Basket)) (int, error) {
	n := 0
	var pos Pos
	for !pos.End {
		page, next, err := s.Page(pos, limit)
		if err != nil {
			return n, err
		}
		n += len(page)
		if fn != nil {
			fn(page)
		}
		pos = next
	}
	return n, nil
}

// endPos is the position after a page of items, given whether more follow.
func endPos(items []basket.Basket, more bool) Pos {
	if !more || len(items) == 0 {
		return Pos{End: true}
	}
	return Pos{Key: KeyOf(&items[len(items)-1])}
}
