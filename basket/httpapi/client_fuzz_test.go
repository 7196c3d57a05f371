package httpapi

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// FuzzClientAnswers feeds the client's decoders arbitrary answers: none
// panics, and a page that decodes, appended again as the server writes it
// and decoded once more, is the same page (the decoders lose nothing of
// what the server writes).
func FuzzClientAnswers(f *testing.F) {
	at := time.Date(2024, 3, 26, 15, 44, 54, 975e6, time.UTC)
	b := basket.Basket{
		ID: "basket-1", Created: at, Entry: "/checkout",
		CustomerDetails: basket.CustomerDetails{Email: "ann@example.com", FirstName: "Ann"},
		OrderItems:      []basket.OrderItem{{Name: "The Offer", Path: "/offers2/The Offer", Products: []basket.Product{{Path: "/products/p", ProductCode: "SKU-1"}}}},
		Tracking:        map[string]string{"tag": "web"},
		Identities:      []basket.Identity{{Sub: "s", Iss: "https://issuer", Service: "salesforce", Type: "account"}},
		CustomFields:    map[string]any{"n": 1.5, "s": "x", "l": []any{true, nil}},
		RecoveryLink:    "/api/checkout/recover?basketId=basket-1&recover=t",
		AbandonedAt:     at.Add(time.Hour), FeedPosition: 42,
	}
	f.Add(appendPage(nil, &basket.Page{Items: []basket.Basket{b}, Cursor: "c", Alias: "shop", Total: 3}))
	f.Add(appendPage(nil, &basket.Page{Total: -1}))
	f.Add(appendFeedPage(nil, &basket.FeedPage{Items: []basket.Basket{b}, Next: 42}))
	b.State, b.CompletedAt = basket.StateCompleted, at.Add(2*time.Hour)
	f.Add(appendCustomer(nil, []basket.Basket{b}))
	f.Add([]byte(`{"applied":3,"position":"17"}`))
	f.Add([]byte(`{"suppressed":true,"token":"t"}`))
	f.Add([]byte(`{"status":"ok","applied":"1","log":"2"}`))
	f.Add([]byte(`{"message":"conflict: event 1: completed on basket \"x\": unknown basket","index":1}`))
	f.Add([]byte(`{"items":[{"created":"not a time"}],"next":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if p, err := decodePage(data); err == nil {
			again, err := decodePage(appendPage(nil, &p))
			if err != nil {
				t.Fatalf("decodePage(appendPage(%+v)) = %v", p, err)
			}
			if x, y := appendPage(nil, &p), appendPage(nil, &again); !bytes.Equal(x, y) {
				t.Fatalf("a page decoded again differs:\n%s\n%s", x, y)
			}
		}
		if p, err := decodeFeedPage(data); err == nil {
			again, err := decodeFeedPage(appendFeedPage(nil, &p))
			if err != nil {
				t.Fatalf("decodeFeedPage(appendFeedPage(%+v)) = %v", p, err)
			}
			if x, y := appendFeedPage(nil, &p), appendFeedPage(nil, &again); !bytes.Equal(x, y) {
				t.Fatalf("a feed page decoded again differs:\n%s\n%s", x, y)
			}
		}
		if bs, err := decodeCustomer(data); err == nil {
			again, err := decodeCustomer(appendCustomer(nil, bs))
			if err != nil {
				t.Fatalf("decodeCustomer(appendCustomer(%+v)) = %v", bs, err)
			}
			if x, y := appendCustomer(nil, bs), appendCustomer(nil, again); !bytes.Equal(x, y) {
				t.Fatalf("a customer answer decoded again differs:\n%s\n%s", x, y)
			}
		}
		if r, err := decodeIngest(data); err == nil && r.Applied < 0 {
			t.Fatalf("decodeIngest = %+v", r)
		}
		decodeSuppression(data) //nolint:errcheck // only must not panic
		decodeHealth(data)      //nolint:errcheck // only must not panic

		c := &Client{secrets: []string{"secret-token"}, ingest: pathEvents, opts: ClientOptions{Now: time.Now}}
		ae := c.answerError(pathEvents, http.StatusConflict, http.Header{"Retry-After": {string(data)}}, data)
		if strings.Contains(ae.Message, "secret-token") || len([]rune(ae.Message)) > 201 {
			t.Fatalf("answerError message %q: shows the secret, or is too long", ae.Message)
		}
		if strings.ContainsFunc(ae.Message, func(r rune) bool { return r < 0x20 }) {
			t.Fatalf("answerError message %q holds a control character", ae.Message)
		}
		if d := parseRetryAfter(string(data), time.Now()); d < 0 {
			t.Fatalf("parseRetryAfter(%q) = %v", data, d)
		}
		for _, w := range strings.Fields(redactEmails(string(data))) {
			if w = strings.Trim(w, "@."); strings.Contains(w, "@") && !strings.ContainsAny(w, wordBreaks) {
				t.Fatalf("redactEmails left %q", w)
			}
		}
	})
}
