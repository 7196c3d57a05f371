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
// # Durability
//
// Open keeps the state in a data directory (see package store): every batch
// is logged with its engine time before it is applied, and replaying the
// log at those times rebuilds the same baskets, feed positions and
// abandonment times.
//
// # Semantics
//
// Every event carries its time At. An event older than the newest event the
// basket has seen is stale: it is accepted, and only what the basket lacks is
// taken from it (an identity, an email or a name it does not have yet; a
// completion always), so that at-least-once delivery, retries and re-sends
// are harmless. An event identical to what the basket already holds is a
// no-op, and a re-sent created event is compared with the basket's creation,
// not its present content. An erasure takes the customer's baskets created
// at or before its time, so re-sending it spares the baskets of a customer
// who came back since. A batch passed to Apply is validated and checked as a
// whole first: it applies wholly or not at all.
//
// A basket that expires before it has been idle for AbandonAfter is never
// abandoned. With AbandonAfter 0 a contactable basket is abandoned at once,
// whatever the time of its events.
//
// Times are kept with millisecond precision, as the query API shows them.
//
// # Caveats
//
//   - Without Options.RecoverySecrets the engine generates a random secret,
//     so recovery links and cursors do not survive a restart of the process.
//   - A cursor that filters by email carries the email sealed (AES-CTR with a
//     synthetic IV, under the cursor's MAC), never in clear.
//   - A query sees a batch as soon as it is applied in memory; with Open and
//     fsync always, Apply returns only once the batch is on disk.
//   - Memory: about 770 bytes per typical abandoned basket (see the
//     benchmarks); the recovery link is cached per abandoned basket.
//   - Exact counts of a created range cost O(log² n): a binary search over the
//     B-tree's positional lookups.
package basket
