package basket

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// record is the engine's copy of a basket. Records are never modified once
// they are reachable from the engine's indexes: a change makes a copy (see
// txn), so a reader that found a record under the read lock may read it,
// and share its strings and slices, after letting go of the lock (the
// materialiser does), and a snapshot is written from them without one.
//
// It is laid out to fit the 112-byte size class (TestRecordSize), with what
// every basket has by value and the rest behind two pointers: shape, the
// content that repeats across baskets (interned), and x, what few baskets
// have. The email and the one identity's subject share one string. A
// recovery link is kept as its MAC, not as the link: the link is spelled
// out when read.
type record struct {
	id      string
	es      string // the email, then the subject of the one identity kept in shape (if any)
	shape   *shape // never nil
	x       *extra // nil if none of it is set; shared, so replaced, never modified
	created int64  // unix milliseconds; also the first index key
	lastAt  int64  // the newest event's time, unix ms
	// mark is the time of what the state says, unix ms: abandoned (feedPos
	// set), when it was; pending, when it will be; completed, when it was.
	// The three never meet.
	mark       int64
	feedPos    uint64 // the position in the feed while abandoned; 0 otherwise
	createHash uint64 // creationHash of the created event
	linkMAC    [tokenMACLen]byte
	linkExp    uint32 // unix seconds; the cached link's expiry; 0: no link cached
	emailLen   uint16 // the email's length in es
	state      State
	linkKey    uint8 // the cached link's key id: its key's position in the keyring when it signed
}

// shape is what a basket shares with others like it: its entry, items,
// tracking and the issuer, service and type of its identity, when it has
// exactly one. Shapes are interned and immutable.
type shape struct {
	entry    string
	items    []OrderItem
	tracking map[string]string
	trackKey string // the content of tracking, as the interner keys it
	tag      string // tracking["tag"]
	ident    identMeta
	hasIdent bool
}

// identMeta is an identity less its subject.
type identMeta struct{ iss, service, typ string }

// extra is what few baskets have. It is immutable once a record refers to
// it: a change makes a new one (see record.ext). It fits the 48-byte size
// class: the names are one string, and the identities behind a pointer.
type extra struct {
	names             string // the first, last and company names, one after another (see setNames)
	customFields      map[string]any
	identities        *[]Identity // all of them, when more than one; nil if not
	recoveredAt       int64       // unix ms of the newest recovery click; 0 if none
	revokedUntil      uint32      // stamp of the last revocation (unix seconds, increasing); 0: none; see recoverSubject
	firstLen, lastLen uint16      // of the first and last names in names (names are at most MaxFieldLen bytes)
}

func (x *extra) firstName() string { return x.names[:x.firstLen] }
func (x *extra) lastName() string {
	return x.names[x.firstLen : int(x.firstLen)+int(x.lastLen)]
}
func (x *extra) companyName() string { return x.names[int(x.firstLen)+int(x.lastLen):] }

// maxNamesLen bounds the first and last names together, so that both
// lengths, and their sum, fit a uint16. Events' names are at most
// MaxFieldLen bytes each.
const maxNamesLen = math.MaxUint16

// setNames sets the names, in one new string: it shares no memory with
// first, last or company (which may be an event's, or the names before).
// first and last together must be at most maxNamesLen bytes.
func (x *extra) setNames(first, last, company string) {
	if len(first)+len(last) > maxNamesLen {
		panic("basket: a first and last name over 65,535 bytes")
	}
	var b strings.Builder
	b.Grow(len(first) + len(last) + len(company))
	b.WriteString(first)
	b.WriteString(last)
	b.WriteString(company)
	x.names, x.firstLen, x.lastLen = b.String(), uint16(len(first)), uint16(len(last))
}

// idents returns the identities kept in x: all of them, when more than one.
func (x *extra) idents() []Identity {
	if x.identities == nil {
		return nil
	}
	return *x.identities
}

var noExtra extra

// ext returns a private copy of r.x to change; r refers to it from then on.
func (r *record) ext() *extra {
	x := new(extra)
	if r.x != nil {
		*x = *r.x
	}
	r.x = x
	return x
}

// trimExt drops r.x when nothing in it is set.
func (r *record) trimExt() {
	if r.x != nil && r.x.empty() {
		r.x = nil
	}
}

// empty reports whether x holds nothing, so that a record needs none.
func (x *extra) empty() bool {
	return x.names == "" && len(x.customFields) == 0 && len(x.idents()) == 0 && x.recoveredAt == 0 && x.revokedUntil == 0
}

func (r *record) extra() *extra {
	if r.x == nil {
		return &noExtra
	}
	return r.x
}

func (r *record) email() string                { return r.es[:r.emailLen] }
func (r *record) entry() string                { return r.shape.entry }
func (r *record) items() []OrderItem           { return r.shape.items }
func (r *record) tracking() map[string]string  { return r.shape.tracking }
func (r *record) tag() string                  { return r.shape.tag }
func (r *record) customFields() map[string]any { return r.extra().customFields }
func (r *record) recoveredAt() int64           { return r.extra().recoveredAt }
func (r *record) revokedUntil() uint32         { return r.extra().revokedUntil }
func (r *record) details() CustomerDetails {
	x := r.extra()
	return CustomerDetails{Email: r.email(), FirstName: x.firstName(), LastName: x.lastName(), CompanyName: x.companyName()}
}

// numIdentities is the number of identities linked to r.
func (r *record) numIdentities() int {
	switch {
	case r.shape.hasIdent:
		return 1
	case r.x != nil:
		return len(r.x.idents())
	}
	return 0
}

// identity returns the i-th identity linked to r, oldest first.
func (r *record) identity(i int) Identity {
	if r.shape.hasIdent {
		var id Identity
		r.setShapeIdentity(&id)
		return id
	}
	return r.x.idents()[i]
}

// setShapeIdentity sets *id, field by field, to r's one identity kept in
// its shape (r.shape.hasIdent): the materialiser fills its views' in place.
func (r *record) setShapeIdentity(id *Identity) {
	m := &r.shape.ident
	id.Sub, id.Iss, id.Service, id.Type = r.es[r.emailLen:], m.iss, m.service, m.typ
}

// appendIdentities appends r's identities to dst.
func (r *record) appendIdentities(dst []Identity) []Identity {
	for i := range r.numIdentities() {
		dst = append(dst, r.identity(i))
	}
	return dst
}

// setEmail sets the email, keeping the identity's subject after it.
func (r *record) setEmail(email string) {
	if !r.shape.hasIdent {
		r.es, r.emailLen = strings.Clone(email), uint16(len(email))
		return
	}
	r.es, r.emailLen = email+r.es[r.emailLen:], uint16(len(email))
}

// setIdentities links ids (oldest first) to r: one in es and shape, more
// in x. ids must be interned already but for their subjects.
func (r *record) setIdentities(in *interner, ids []Identity) {
	email := r.email()
	sh := *r.shape
	sh.ident, sh.hasIdent = identMeta{}, false
	var more []Identity
	switch len(ids) {
	case 0:
		r.es = strings.Clone(email)
	case 1:
		id := ids[0]
		sh.ident, sh.hasIdent = identMeta{id.Iss, id.Service, id.Type}, true
		r.es = email + id.Sub
	default:
		r.es = strings.Clone(email)
		more = slices.Clone(ids)
		for i := range more {
			more[i].Sub = strings.Clone(more[i].Sub)
		}
	}
	if r.x != nil || more != nil {
		x := r.ext()
		x.identities = nil
		if more != nil {
			x.identities = &more
		}
		r.trimExt()
	}
	r.shape = in.shape(&sh)
}

func (r *record) contactable() bool {
	return r.emailLen > 0 || r.numIdentities() > 0
}

// emailKey is the email as compared and indexed. It allocates only for an
// address not already in normalised form.
func (r *record) emailKey() string { return NormalizeEmail(r.email()) }

func (r *record) abandoned() bool { return r.feedPos != 0 }

// abandonedAt is when r was abandoned, unix ms; 0 while not abandoned.
func (r *record) abandonedAt() int64 {
	if r.feedPos != 0 {
		return r.mark
	}
	return 0
}

// deadline is when r becomes abandoned, unix ms; 0 if it is not pending.
func (r *record) deadline() int64 {
	if r.feedPos == 0 && r.state == StateContactable {
		return r.mark
	}
	return 0
}

// completedAt is when r was completed, unix ms; 0 if it was not.
func (r *record) completedAt() int64 {
	if r.state == StateCompleted {
		return r.mark
	}
	return 0
}

// firstOfferPath is the path of the basket's first offer, used by purchase
// links once the basket itself is gone.
func (r *record) firstOfferPath() string {
	if items := r.items(); len(items) > 0 {
		return items[0].Path
	}
	return ""
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func toMS(t time.Time) int64 { return t.UnixMilli() }

// sameCreation reports whether a created event matches the basket's
// creation, not its present content: a created event re-sent after the
// items changed is still the same event.
func (r *record) sameCreation(ev *Event) bool {
	return r.created == toMS(ev.At) && r.createHash == creationHash(ev)
}

// creationHash is a 64-bit FNV-1a hash of what a created event sets. Custom
// fields are hashed by their JSON form, so that a number decoded as float64
// hashes as the same number decoded as an integer (as after a replay).
func creationHash(ev *Event) uint64 {
	h := fnv64(14695981039346656037)
	w := func(s string) {
		h.str(s)
		h.byte(0)
	}
	w(ev.Entry)
	for _, it := range ev.OrderItems {
		w(it.Name)
		w(it.Path)
		for _, p := range it.Products {
			w(p.Path)
			w(p.ProductCode)
		}
		h.byte(1)
	}
	h.byte(2)
	var ks [8]string
	for _, k := range sortedKeys(ev.Tracking, ks[:0]) {
		w(k)
		w(ev.Tracking[k])
	}
	h.byte(3)
	if len(ev.CustomFields) > 0 {
		j, err := json.Marshal(ev.CustomFields)
		if err != nil {
			j = []byte(fmt.Sprint(ev.CustomFields))
		}
		h.str(string(j))
	}
	return uint64(h)
}

// fnv64 is FNV-1a, 64 bits, without hash/fnv's allocation.
type fnv64 uint64

func (h *fnv64) byte(c byte) { *h = (*h ^ fnv64(c)) * 1099511628211 }

func (h *fnv64) str(s string) {
	for i := 0; i < len(s); i++ {
		h.byte(s[i])
	}
}

func itemsEqual(a, b []OrderItem) bool {
	return slices.EqualFunc(a, b, func(x, y OrderItem) bool {
		return x.Name == y.Name && x.Path == y.Path && slices.Equal(x.Products, y.Products)
	})
}
