package basket

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// record is the engine's copy of a basket. Records are never modified once
// they are reachable from the engine's indexes: a change makes a copy (see
// txn), so readers holding the read lock may share their slices and maps.
type record struct {
	id           string
	created      int64 // unix milliseconds; also the first index key
	lastAt       int64 // the newest event's time, unix ms
	abandonedAt  int64 // unix ms; 0 while not abandoned
	deadline     int64 // unix ms when it becomes abandoned; 0 if not pending
	feedPos      uint64
	recoveredAt  int64  // unix ms of the newest recovery click; 0 if none
	completedAt  int64  // unix ms of the completion; 0 if not completed
	createHash   uint64 // creationHash of the created event
	linkExp      uint32 // unix seconds; the cached link's token expiry
	revokedUntil uint32 // stamp of the last revocation (unix seconds, increasing); 0: none; see recoverSubject
	state        State
	details      CustomerDetails
	items        []OrderItem
	tracking     map[string]string
	identities   []Identity
	entry        string
	customFields map[string]any
	link         string // cached recovery link while abandoned
}

func (r *record) tag() string { return r.tracking["tag"] }

// emailKey is the email as compared and indexed. It allocates only for an
// address not already in normalised form.
func (r *record) emailKey() string { return NormalizeEmail(r.details.Email) }

func (r *record) abandoned() bool { return r.abandonedAt != 0 }

// contactable reports whether the customer is known.
func (r *record) contactable() bool {
	return r.details.Email != "" || len(r.identities) > 0
}

// firstOfferPath is the path of the basket's first offer, used by purchase
// links once the basket itself is gone.
func (r *record) firstOfferPath() string {
	if len(r.items) == 0 {
		return ""
	}
	return r.items[0].Path
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
