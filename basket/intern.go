package basket

import (
	"slices"
	"strings"
)

// maxInterned bounds each intern table, so that a stream of unique values
// cannot grow it without limit; past the bound values are kept as they are.
const maxInterned = 1 << 16

// interner shares the catalogue strings, order-item lists and tracking maps
// that repeat across baskets. Interned values are immutable. It is the
// applier's: guarded by the engine's amu.
type interner struct {
	strs     map[string]string
	items    map[string][]OrderItem
	tracking map[string]tracked
	shapes   map[shapeKey]*shape
	key      []byte
}

// tracked is an interned tracking map and the key it is interned by.
type tracked struct {
	m   map[string]string
	key string
}

// shapeKey identifies a shape: its items by their (interned) array, its
// tracking by its content.
type shapeKey struct {
	entry    string
	items    *OrderItem
	nItems   int
	tracking string
	ident    identMeta
	hasIdent bool
}

func newInterner() *interner {
	return &interner{
		strs:     make(map[string]string),
		items:    make(map[string][]OrderItem),
		tracking: make(map[string]tracked),
		shapes:   make(map[shapeKey]*shape),
	}
}

// emptyShape is the shape of a basket with nothing in it.
var emptyShape = &shape{}

// shape returns the shared shape equal to sh, whose strings, items and
// tracking the interner returned (and trackKey is set by trackingMap).
func (in *interner) shape(sh *shape) *shape {
	return in.shapeOf(sh, keyOf(sh))
}

// keyOf is the key sh is interned by.
func keyOf(sh *shape) shapeKey {
	k := shapeKey{entry: sh.entry, nItems: len(sh.items), tracking: sh.trackKey, ident: sh.ident, hasIdent: sh.hasIdent}
	if len(sh.items) > 0 {
		k.items = &sh.items[0]
	}
	return k
}

// shapeOf is shape, given sh's key k.
func (in *interner) shapeOf(sh *shape, k shapeKey) *shape {
	if k == (shapeKey{}) {
		return emptyShape
	}
	if v, ok := in.shapes[k]; ok {
		return v
	}
	out := *sh
	out.tag = sh.tracking["tag"]
	if len(in.shapes) < maxInterned {
		in.shapes[k] = &out
	}
	return &out
}

func (in *interner) str(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := in.strs[s]; ok {
		return v
	}
	if len(in.strs) >= maxInterned {
		return strings.Clone(s)
	}
	s = strings.Clone(s)
	in.strs[s] = s
	return s
}

// orderItems returns a shared, immutable copy of items.
func (in *interner) orderItems(items []OrderItem) []OrderItem {
	if len(items) == 0 {
		return nil
	}
	k := in.key[:0]
	for _, it := range items {
		k = append(k, it.Name...)
		k = append(k, 0)
		k = append(k, it.Path...)
		k = append(k, 0)
		for _, p := range it.Products {
			k = append(k, p.Path...)
			k = append(k, 0)
			k = append(k, p.ProductCode...)
			k = append(k, 0)
		}
		k = append(k, 1)
	}
	in.key = k
	if v, ok := in.items[string(k)]; ok {
		return v
	}
	out := make([]OrderItem, len(items))
	for i, it := range items {
		out[i] = OrderItem{Name: in.str(it.Name), Path: in.str(it.Path)}
		if len(it.Products) > 0 {
			ps := make([]Product, len(it.Products))
			for j, p := range it.Products {
				ps[j] = Product{Path: in.str(p.Path), ProductCode: in.str(p.ProductCode)}
			}
			out[i].Products = ps
		}
	}
	if len(in.items) < maxInterned {
		in.items[string(k)] = out
	}
	return out
}

// trackingMap returns a shared, immutable copy of m and the key of its
// content.
func (in *interner) trackingMap(m map[string]string) (map[string]string, string) {
	if len(m) == 0 {
		return nil, ""
	}
	var ks [8]string
	keys := sortedKeys(m, ks[:0])
	k := in.key[:0]
	for _, key := range keys {
		k = append(k, key...)
		k = append(k, 0)
		k = append(k, m[key]...)
		k = append(k, 0)
	}
	in.key = k
	if v, ok := in.tracking[string(k)]; ok {
		return v.m, v.key
	}
	out := make(map[string]string, len(m))
	for key, v := range m {
		out[in.str(key)] = in.str(v)
	}
	t := tracked{out, string(k)}
	if len(in.tracking) < maxInterned {
		in.tracking[t.key] = t
	}
	return t.m, t.key
}

// sortedKeys appends the keys of m to buf, sorted.
func sortedKeys(m map[string]string, buf []string) []string {
	for k := range m {
		buf = append(buf, k)
	}
	slices.Sort(buf)
	return buf
}

// identity returns id with its issuer, service and type interned; its
// subject is id's own (record.setIdentities copies it).
func (in *interner) identity(id Identity) Identity {
	return Identity{Sub: id.Sub, Iss: in.str(id.Iss), Service: in.str(id.Service), Type: in.str(id.Type)}
}
