package webhook

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// EventID returns the id of the event that delivers change seq of
// environment alias to the endpoint endpointID: "evt_" and 32 hex digits
// of a hash of the three. It is the same in every repeat, on every node of
// a cluster, after every restart.
func EventID(alias, endpointID string, seq uint64) string {
	h := sha256.New()
	h.Write([]byte("abandoned webhook event\x00"))
	h.Write([]byte(alias))
	h.Write([]byte{0})
	h.Write([]byte(endpointID))
	h.Write([]byte{0})
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	h.Write(b[:])
	return "evt_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// appendBody appends the JSON body of the event id that delivers ch:
//
//	{"id":…,"type":…,"created":…,"position":"…","data":{…}}
//
// "created" is when the change happened; "position" (basket.abandoned
// only) the basket's feed position, a string. data is the basket in the
// query API's item shape (the feed's, with abandonedAt, while it is still
// abandoned at that position), or {"id":…} alone if the basket is gone
// since; for basket.erased it is {"basketIds":[…]}, never an address.
func appendBody(dst []byte, id string, ch *basket.Change) []byte {
	dst = append(dst, `{"id":"`...)
	dst = append(dst, id...) // "evt_" and hex
	dst = append(dst, `","type":`...)
	dst = appendJSON(dst, string(ch.Type))
	dst = append(dst, `,"created":"`...)
	dst = ch.At.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	dst = append(dst, '"')
	if ch.Type == basket.ChangeAbandoned {
		dst = append(dst, `,"position":"`...)
		dst = strconv.AppendUint(dst, ch.FeedPosition, 10)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"data":`...)
	switch {
	case ch.Type == basket.ChangeErased:
		dst = append(dst, `{"basketIds":`...)
		ids := ch.BasketIDs
		if ids == nil {
			ids = []string{}
		}
		dst = appendJSON(dst, ids)
		dst = append(dst, '}')
	case ch.Basket != nil:
		b := ch.Basket
		feed := b.Abandoned && b.FeedPosition != 0 &&
			(ch.Type != basket.ChangeAbandoned || b.FeedPosition == ch.FeedPosition)
		dst = httpapi.AppendItem(dst, b, feed)
	default:
		dst = append(dst, `{"id":`...)
		bid := ""
		if len(ch.BasketIDs) > 0 {
			bid = ch.BasketIDs[0]
		}
		dst = appendJSON(dst, bid)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendJSON appends v as encoding/json writes it.
func appendJSON(dst []byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // strings and slices of strings always encode
	}
	return append(dst, b...)
}

// sampleChange is the change that SendSample delivers: a made-up basket,
// abandoned a moment ago.
func sampleChange(now time.Time) *basket.Change {
	at := now.UTC().Truncate(time.Millisecond)
	b := &basket.Basket{
		ID:              "basket-sample-0000000000000001",
		Created:         at.Add(-20 * time.Minute),
		CustomerDetails: basket.CustomerDetails{Email: "ann@example.com", FirstName: "Ann"},
		OrderItems: []basket.OrderItem{{Name: "The Offer", Path: "/offers2/The Offer",
			Products: []basket.Product{{Path: "/products/Digital All Access", ProductCode: "SKU-00000001"}}}},
		Tracking:     map[string]string{"tag": "direct"},
		Identities:   []basket.Identity{},
		Entry:        "/checkout",
		RecoveryLink: "/api/checkout/recover?basketId=basket-sample-0000000000000001&recover=sample",
		State:        basket.StateContactable,
		Abandoned:    true,
		AbandonedAt:  at,
		FeedPosition: uint64(at.UnixMilli()) << 10,
	}
	return &basket.Change{Type: basket.ChangeAbandoned, At: at, BasketIDs: []string{b.ID}, Basket: b, FeedPosition: b.FeedPosition}
}
