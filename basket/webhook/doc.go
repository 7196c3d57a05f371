// Package webhook delivers outgoing webhooks: it POSTs every change of an
// engine's change journal (a basket abandoned, recovered, completed after
// it was abandoned, or erased) to the business's endpoints, signed, at
// least once and in the journal's order per endpoint, from a durable
// checkpoint that survives crashes and restarts.
//
// A Deliverer (Start) runs one goroutine per endpoint. Each reads the
// journal after its checkpoint (the last change delivered, or skipped by
// its filter), POSTs each change as an event, and saves the checkpoint
// (Store: DirStore in a data directory, MemoryStore, or package cluster's
// JetStream key-value store) after each page of changes and every 200 ms
// while a backlog drains, so that after a crash it repeats at most what it
// delivered in its last 200 ms, with the same event ids.
// An event answered 2xx within Options.Timeout (10 s) is delivered;
// anything else is tried again on the retry schedule (DefaultRetry:
// exponential backoff with full jitter, for up to 3 days), after which the
// endpoint is failing; 410 Gone disables it at once. Either keeps its
// checkpoint and resumes from it (Deliverer.Resume).
//
// Every request carries the headers Abandoned-Event-Id and
// Abandoned-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>">, a v1 for each of the endpoint's secrets while one is
// rotated. Receivers check it with Verify.
//
// Targets on loopback, private, link-local and other internal networks are
// refused unless Options.AllowPrivate: the check is made on the address
// each connection is actually made to, so that no name resolves its way
// inside.
//
// # Caveats
//
//   - Changes older than the engine's journal keeps
//     (basket.Options.ChangeRetention, 96 h in the server) are lost to an
//     endpoint that was away longer: the Deliverer records the loss (an
//     attempt with outcome lost, the metric
//     abandoned_webhook_lost_changes_total) and goes on from the oldest
//     change kept.
//   - A new endpoint gets the changes from its first start on, not the
//     journal's past.
//   - The list of attempts (Deliverer.Endpoints, DeliveriesHandler) is kept
//     in memory by the process that delivers.
//   - With a Lease (the nodes of a cluster), exactly one process delivers
//     at a time, except across clock skew between the lease's servers; the
//     one that takes over repeats what the other delivered and had not
//     saved yet.
package webhook
