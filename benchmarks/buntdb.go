package benchmarks

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/basketlab/abandoned/basket"
	"github.com/tidwall/buntdb"
)

// buntIndex is BuntDB's ordered index of the abandoned baskets: the keys
// under "ab:" (only abandoned baskets are stored there), ordered by the "k"
// field that leads every value.
const (
	buntIndex   = "abandoned"
	buntPrefix  = "ab:"
	buntValueAt = `{"k":"`
)

// BuntStore is BuntDB in memory (":memory:"): each basket is a JSON value
// under "ab:<id>" whose first field "k" is its (created, id) as a sortable
// string, so the index orders by it without parsing the JSON. Pages are an
// ascending range from a pivot, decoded with encoding/json.
type BuntStore struct {
	db *buntdb.DB
}

// buntDoc is the stored value: the sort key, then the basket's JSON.
type buntDoc struct {
	K string `json:"k"`
	basket.Basket
}

// NewBuntStore opens an in-memory BuntDB with the index.
func NewBuntStore() (*BuntStore, error) {
	db, err := buntdb.Open(":memory:")
	if err != nil {
		return nil, err
	}
	if err := db.CreateIndex(buntIndex, buntPrefix+"*", buntLess); err != nil {
		db.Close()
		return nil, err
	}
	return &BuntStore{db: db}, nil
}

// Name returns "buntdb".
func (s *BuntStore) Name() string { return "buntdb" }

// sortKey is k as a string whose byte order is (created, id) order:
// created as 16 zero-padded digits, then the id.
func sortKey(k Key) string {
	var buf [16]byte
	d := strconv.AppendInt(buf[:0], k.Created, 10)
	return strings.Repeat("0", max(0, 16-len(d))) + string(d) + ":" + k.ID
}

// buntKeyOf returns the sort key that leads a stored value (or a pivot).
func buntKeyOf(v string) string {
	v = strings.TrimPrefix(v, buntValueAt)
	if i := strings.IndexByte(v, '"'); i >= 0 {
		return v[:i]
	}
	return v
}

func buntLess(a, b string) bool { return buntKeyOf(a) < buntKeyOf(b) }

func buntValue(b *basket.Basket) (string, error) {
	k := sortKey(KeyOf(b))
	doc, err := json.Marshal(buntDoc{K: k, Basket: *b})
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(string(doc), buntValueAt+k+`"`) {
		// The id has characters that JSON escapes: the index would not
		// order by the raw key.
		return "", fmt.Errorf("buntdb store: basket id %q is not stored verbatim in JSON", b.ID)
	}
	return string(doc), nil
}

// Load sets the baskets in transactions of 10,000.
func (s *BuntStore) Load(bs []basket.Basket) error {
	for lo := 0; lo < len(bs); lo += 10000 {
		hi := min(len(bs), lo+10000)
		err := s.db.Update(func(tx *buntdb.Tx) error {
			for i := lo; i < hi; i++ {
				v, err := buntValue(&bs[i])
				if err != nil {
					return err
				}
				if _, _, err := tx.Set(buntPrefix+bs[i].ID, v, nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Insert sets one basket in its own transaction.
func (s *BuntStore) Insert(b *basket.Basket) error {
	v, err := buntValue(b)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *buntdb.Tx) error {
		_, _, err := tx.Set(buntPrefix+b.ID, v, nil)
		return err
	})
}

// Flush does nothing: an in-memory transaction is visible when it commits.
func (s *BuntStore) Flush() error { return nil }

// Remove deletes the baskets in one transaction.
func (s *BuntStore) Remove(bs []*basket.Basket) error {
	return s.db.Update(func(tx *buntdb.Tx) error {
		for _, b := range bs {
			if _, err := tx.Delete(buntPrefix + b.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// Seek returns Pos{Key: after}.
func (s *BuntStore) Seek(after Key) (Pos, error) { return Pos{Key: after}, nil }

// Page decodes up to limit baskets of the index range from pos.Key.
func (s *BuntStore) Page(pos Pos, limit int) ([]basket.Basket, Pos, error) {
	if pos.End {
		return nil, pos, nil
	}
	after := sortKey(pos.Key)
	out := make([]basket.Basket, 0, limit)
	more := false
	var derr error
	err := s.db.View(func(tx *buntdb.Tx) error {
		return tx.AscendGreaterOrEqual(buntIndex, buntValueAt+after+`"}`, func(_, v string) bool {
			if buntKeyOf(v) == after {
				return true
			}
			if len(out) == limit {
				more = true
				return false
			}
			var d buntDoc
			if derr = json.Unmarshal([]byte(v), &d); derr != nil {
				return false
			}
			out = append(out, d.Basket)
			return true
		})
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, Pos{}, err
	}
	return out, endPos(out, more), nil
}

// Len returns the number of baskets.
func (s *BuntStore) Len() (int, error) {
	n := 0
	err := s.db.View(func(tx *buntdb.Tx) error {
		var err error
		n, err = tx.Len()
		return err
	})
	return n, err
}

// Close closes the database.
func (s *BuntStore) Close() error { return s.db.Close() }
