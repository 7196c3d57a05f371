package httpapi_test

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestCustomer(t *testing.T) {
	h := start(t, nil)
	t0 := time.Date(2024, 3, 26, 15, 0, 0, 0, time.UTC)
	h.abandon("a1", t0, "direct", "Ann@Example.com")
	h.abandon("a2", t0.Add(time.Minute), "", "ann@example.com")
	h.abandon("b1", t0, "", "bob@example.com")
	h.ingest(evCompleted("a1", t0.Add(2*time.Minute)))

	p := h.page("/api/checkout/customer?email=ANN%40example.com")
	if got := ids(p.Items); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Fatalf("customer items = %v; want [a1 a2]", got)
	}
	a1, a2 := p.Items[0], p.Items[1]
	if a1["state"] != "completed" || a1["completed"] != true || a1["completedAt"] != "2024-03-26T15:02:00.000Z" {
		t.Errorf("completed basket = %v; want state completed with completedAt", a1)
	}
	if a2["state"] != "contactable" || a2["abandonedAt"] == nil || a2["completedAt"] != nil {
		t.Errorf("abandoned basket = %v; want state contactable with abandonedAt, no completedAt", a2)
	}
	if p := h.page("/api/checkout/customer?email=nobody%40example.com"); p.Items == nil || len(p.Items) != 0 {
		t.Errorf("unknown customer = %v; want an empty items array", p.Items)
	}
	for _, q := range []string{"", "?email=", "?email=not-an-email", "?email=%zz"} {
		r := h.get("/api/checkout/customer" + q)
		if r.status != http.StatusBadRequest || r.message(t) == "" {
			t.Errorf("GET customer%s = %d %s; want 400 with a message", q, r.status, r.body)
		}
	}
	if r := h.do(http.MethodGet, "/api/checkout/customer?email=ann%40example.com", "", "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("without a token = %d; want 401", r.status)
	}
	if r := h.do(http.MethodGet, "/api/checkout/customer?email=ann%40example.com", h.token("ingest"), "", nil); r.status != http.StatusForbidden {
		t.Errorf("with an ingest-only token = %d; want 403", r.status)
	}
}
