package basket_test

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// Example embeds the engine: baskets are created, the customer becomes known
// by an email or an SSO login, and the abandoned ones are paged through.
func Example() {
	ctx := context.Background()
	now := time.Date(2026, 3, 26, 15, 0, 0, 0, time.UTC)
	eng, err := basket.New(&basket.Options{
		Now:             func() time.Time { return now },
		RecoverySecrets: [][]byte{[]byte("a-secret-of-at-least-16-bytes")},
		Alias:           "shop.example",
	})
	if err != nil {
		panic(err)
	}
	defer eng.Close()

	offer := []basket.OrderItem{{
		Name: "The Offer", Path: "/offers2/The Offer",
		Products: []basket.Product{{Path: "/products/Digital All Access", ProductCode: "SKU-00000001"}},
	}}
	// Three customers click Subscribe; two become known, one completes.
	for i, id := range []string{"basket-1", "basket-2", "basket-3"} {
		at := now.Add(time.Duration(i-10) * time.Minute)
		if _, err := eng.Apply(ctx, basket.Event{Type: basket.EventCreated, BasketID: id, At: at, Entry: "/checkout", OrderItems: offer}); err != nil {
			panic(err)
		}
	}
	_, err = eng.Apply(ctx,
		basket.Event{Type: basket.EventEmailCaptured, BasketID: "basket-1", At: now, Email: "Ann@Example.com"},
		basket.Event{Type: basket.EventIdentified, BasketID: "basket-2", At: now,
			Identity:        &basket.Identity{Sub: "bob-42", Iss: "https://issuer.example", Service: "salesforce", Type: "account"},
			CustomerDetails: &basket.CustomerDetails{Email: "bob@example.com", FirstName: "Bob"}},
		basket.Event{Type: basket.EventEmailCaptured, BasketID: "basket-3", At: now, Email: "cy@example.com"},
		basket.Event{Type: basket.EventCompleted, BasketID: "basket-3", At: now},
	)
	if err != nil {
		panic(err)
	}

	// Page through the abandoned baskets, one at a time.
	q := basket.Query{Limit: 1, Count: true}
	for {
		page, err := eng.Abandoned(ctx, q)
		if err != nil {
			panic(err)
		}
		for _, b := range page.Items {
			fmt.Println(page.Total, b.ID, b.Created.Format(time.RFC3339), b.CustomerDetails.Email)
		}
		if page.Cursor == "" {
			break
		}
		q = basket.Query{Limit: 1, Count: true, Cursor: page.Cursor}
	}
	// Output:
	// 2 basket-1 2026-03-26T14:50:00Z Ann@Example.com
	// 2 basket-2 2026-03-26T14:51:00Z bob@example.com
}

// ExampleEngine_Recover follows a recovery link back into the checkout.
func ExampleEngine_Recover() {
	ctx := context.Background()
	now := time.Date(2026, 3, 26, 15, 0, 0, 0, time.UTC)
	eng, err := basket.New(&basket.Options{Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	defer eng.Close()
	_, err = eng.Apply(ctx,
		basket.Event{Type: basket.EventCreated, BasketID: "basket-1", At: now, OrderItems: []basket.OrderItem{{Name: "Digital", Path: "/offers/digital"}}},
		basket.Event{Type: basket.EventEmailCaptured, BasketID: "basket-1", At: now, Email: "ann@example.com"},
	)
	if err != nil {
		panic(err)
	}
	b, err := eng.Get(ctx, "basket-1")
	if err != nil {
		panic(err)
	}
	link, _ := url.Parse(b.RecoveryLink)
	fmt.Println(link.Path, link.Query().Get("basketId"))

	rec, err := eng.Recover(ctx, link.Query().Get("basketId"), link.Query().Get("recover"))
	fmt.Println(rec.Outcome == basket.RecoverCheckout, err)

	_, err = eng.Recover(ctx, "basket-1", "forged")
	fmt.Println(err)

	_, _ = eng.Apply(ctx, basket.Event{Type: basket.EventCompleted, BasketID: "basket-1", At: now})
	rec, _ = eng.Recover(ctx, link.Query().Get("basketId"), link.Query().Get("recover"))
	fmt.Println(rec.Outcome == basket.RecoverPurchased)
	// Output:
	// /api/checkout/recover basket-1
	// true <nil>
	// recovery token invalid
	// true
}

// ExampleEngine_Feed polls the abandonment feed, which also shows baskets
// created long ago that became abandoned only now.
func ExampleEngine_Feed() {
	ctx := context.Background()
	now := time.Date(2026, 3, 26, 15, 0, 0, 0, time.UTC)
	eng, err := basket.New(&basket.Options{Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	defer eng.Close()
	old := now.Add(-48 * time.Hour)
	_, _ = eng.Apply(ctx,
		basket.Event{Type: basket.EventCreated, BasketID: "old", At: old},
		basket.Event{Type: basket.EventCreated, BasketID: "new", At: now},
		basket.Event{Type: basket.EventEmailCaptured, BasketID: "new", At: now, Email: "ann@example.com"},
	)
	// Positions only grow. They start from the engine's start time, so that
	// a new process never hands out a position an earlier one did: a
	// consumer keeps its place whatever happens to the server.
	page, _ := eng.Feed(ctx, 0, 10)
	first := page.Next
	fmt.Println(len(page.Items), page.Items[0].ID)

	_, _ = eng.Apply(ctx, basket.Event{Type: basket.EventEmailCaptured, BasketID: "old", At: now, Email: "bob@example.com"})
	page, _ = eng.Feed(ctx, page.Next, 10)
	fmt.Println(len(page.Items), page.Items[0].ID, page.Next > first)

	last := page.Next
	page, _ = eng.Feed(ctx, page.Next, 10)
	fmt.Println(len(page.Items), page.Next == last)
	// Output:
	// 1 new
	// 1 old true
	// 0 true
}
