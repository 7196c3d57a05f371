// Package basket is an embeddable abandoned-basket engine.
//
// A basket is created when a customer adds an offer to a checkout. It becomes
// contactable once the customer is known (an SSO identity, or an email typed
// into the checkout form), and it is abandoned when it is contactable, not
// completed, not expired, and has seen no activity for Options.AbandonAfter.
//
// The Engine applies events (see Event) through a state machine, keeps a
// time-ordered B-tree index of the abandoned baskets, and answers queries
// ordered by (created, id) with opaque, authenticated cursors, an abandonment
// feed ordered by the moment baskets became abandoned, exact counts, and
// signed recovery links.
//
// A minimal program:
//
//	eng, err := basket.New(nil) // in memory, defaults
//	if err != nil { ... }
//	defer eng.Close()
//	_, err = eng.Apply(ctx,
//		basket.Event{Type: basket.EventCreated, BasketID: "b-1", At: t, OrderItems: items},
//		basket.Event{Type: basket.EventEmailCaptured, BasketID: "b-1", At: t, Email: "ann@example.com"},
//	)
//	page, err := eng.Abandoned(ctx, basket.Query{Limit: 10})
//
// # Semantics
//
// Every event carries its time At. An event older than the newest event the
// basket has seen is stale: it is accepted and ignored (last writer wins), so
// that at-least-once delivery, retries and re-sends are harmless. An event
// identical to what the basket already holds is a no-op. A batch passed to
// Apply is validated and checked as a whole first: it applies wholly or not at
// all.
//
// Times are kept with millisecond precision, as the query API shows them.
//
// # Caveats
//
//   - Without Options.RecoverySecrets the engine generates a random secret,
//     so recovery links and cursors do not survive a restart of the process.
//   - Rotating the first recovery secret invalidates cursors of queries that
//     filter by email (the email travels in the cursor only as a keyed hash).
//   - Exact counts of a created range cost O(log² n): a binary search over the
//     B-tree's positional lookups.
package basket
