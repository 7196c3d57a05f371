// Package cluster makes engines on several nodes one cluster: their shared,
// replicated log is a NATS JetStream stream (Log, a basket.Log), and each
// node can run its own embedded NATS server (StartServer), so that no node
// is a single point of failure and reads scale past one process.
//
// Every node applies the same stream, in order, into its own engine; a
// write on any node is acknowledged once a quorum of the stream's replicas
// has stored it (an embedded server fsyncs every write) and the node has
// applied it. Consensus, election and membership are JetStream's: this
// package writes none of its own.
//
// # Caveats
//
//   - A stand-alone NATS server fsyncs every two minutes by default; a
//     cluster of such servers can lose acknowledged writes when all of its
//     machines lose power at once. Run it with sync_interval: always (see the
//     operator's guide).
//   - A node replays the stream from its start when it starts: the stream
//     is not trimmed yet, and start-up takes as long as the replay.
package cluster
