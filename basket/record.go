package basket

import (
	"encoding/json"
	"reflect"
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
	linkExp      int64 // unix seconds; the cached link's token expiry
	revokedUntil int64 // unix seconds; tokens expiring at or before are revoked
	recoveredAt  int64 // unix ms of the newest recovery click; 0 if none
	completedAt  int64 // unix ms of the completion; 0 if not completed
	state        State
	details      CustomerDetails
	emailKey     string // NormalizeEmail(details.Email)
	items        []OrderItem
	tracking     map[string]string
	identities   []Identity
	entry        string
	customFields map[string]any
	link         string // cached recovery link while abandoned
}

func (r *record) tag() string { return r.tracking["tag"] }

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

// sameCreation reports whether a created event matches the basket's creation.
func (r *record) sameCreation(ev *Event) bool {
	return r.created == toMS(ev.At) && r.entry == ev.Entry &&
		itemsEqual(r.items, ev.OrderItems) && mapsEqualStr(r.tracking, ev.Tracking) &&
		customFieldsEqual(r.customFields, ev.CustomFields)
}

func itemsEqual(a, b []OrderItem) bool {
	return slices.EqualFunc(a, b, func(x, y OrderItem) bool {
		return x.Name == y.Name && x.Path == y.Path && slices.Equal(x.Products, y.Products)
	})
}

func mapsEqualStr(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// customFieldsEqual compares custom fields by their JSON form, so that a
// number decoded as float64 equals the same number decoded as an integer.
func customFieldsEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || reflect.DeepEqual(a, b) {
		return true
	}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}
