// Package basket is an embeddable abandoned-basket engine.
//
// A basket is created when a customer adds an offer to a checkout. It becomes
// contactable once the customer is known (an SSO identity, or an email typed
// into the checkout form), and it is abandoned when it is contactable, not
// completed, not expired, and has seen no activity for Options.AbandonAfter.
//
// The Engine applies events (see Event) through a state machine, keeps a
// time-ordered index of the abandoned baskets, and answers queries
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
// Open keeps the state in a data directory (see package store). Every change
// is a record of the log, stamped with the engine's time and a sequence: a
// batch of events, a tick (the time-based changes that became due: idle
// baskets abandoned, old ones expired), a revocation, a change of settings.
// A record is logged first and applied only once it is durable under the
// fsync policy in force, so no reader ever sees what a crash could take
// back; whether a batch applies or is refused is decided then, exactly as a
// replay decides it. The engine's time never goes back, whatever the clock
// does. The settings that shape the records (AbandonAfter, TTL,
// RecoveryValidity) are kept in the log too, so replaying a directory
// rebuilds the same baskets, feed positions, abandonment times and recovery
// links, whatever the options of the process that replays it.
//
// Feed positions start from the engine's start time (its unix milliseconds
// times 1024), so a new in-memory engine, a new directory, or a directory
// whose log lost a tail (fsync interval or never) hands out positions above
// every one an earlier engine did: a feed consumer's checkpoint stays good.
//
// After an fsync fails, what is on disk is no longer known: the engine
// refuses writes with ErrStorage, keeps serving what is durable, and Health
// reports the failure, until it is opened again.
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
// # Suppression list
//
// The engine keeps the addresses whose owners unsubscribed, durably beside
// the baskets. A message's unsubscribe link carries UnsubscribeToken, an
// opaque token (the address sealed under the first recovery secret, never
// in clear) that Unsubscribe checks before it puts the address on the list;
// Suppress adds an address directly (a bounce, an operator's list), and
// Suppression is what a campaign asks at the moment of sending. An erasure
// takes the address off the list with its baskets, if it was put there
// before the erasure.
//
// # Caveats
//
//   - Without Options.RecoverySecrets the engine generates a random secret,
//     so recovery links and cursors do not survive a restart of the process.
//   - A cursor that filters by email carries the email sealed (AES-CTR with a
//     synthetic IV, under the cursor's MAC), never in clear.
//   - With a sweeper (Options.SweepInterval), reads never write: a basket
//     idle long enough shows as abandoned at the next sweep. Without one, a
//     read that finds such changes due makes them first, which for a durable
//     engine is a write to the log.
//   - A durable engine logs a refused batch too (it is refused when it is
//     applied, as on every replay); it takes log space until the next
//     snapshot and changes nothing.
//   - Memory: under 400 bytes per typical abandoned basket at 1e7 (see the
//     benchmarks); the recovery link is kept as its MAC and spelled out
//     when read.
//   - Exact counts of a created range cost O(log n): the index keeps the
//     number of baskets under each of its nodes, and each bound of the
//     range is one walk from its root.
package basket
