// Package loadtest loads the abandoned-basket engine with realistic traffic
// and measures its latency: one harness, two targets, so that the
// difference between them is the cost of HTTP.
//
// A Target is either the engine in process (EngineTarget: function calls)
// or the HTTP API (HTTPTarget: a keep-alive client over loopback, against a
// Server the load tester starts itself or against any server's URL). A
// Workload, built from the simulator, preloads a population of baskets
// (Preload) and holds batches of fresh simulated events; a run mixes four
// kinds of operations (Mix): ingest of a batch, a page query after a random
// createdAfter, a walk of a query's every page through its cursors, and a
// poll of the abandonment feed from a shared checkpoint.
//
// # Models
//
// In the open model (the default) a Pacer starts operations on schedule —
// a Constant rate, a linear Ramp, a Sine, or the Diurnal shape of checkout
// traffic compressed into a short day — whatever the target's speed. Each
// operation's latency counts from its intended start, so a stall of the
// target shows in the latency of every operation that was due during it
// (no coordinated omission); the service time from each operation's actual
// start is kept beside it, for comparison. At most Options.Workers
// operations are in flight: an operation due while every worker is busy
// starts late, and the run counts it (Result.Late); one still waiting at
// the end never starts (Result.Unstarted). In the closed model (a nil
// Pacer) Options.Workers workers loop, each starting an operation when its
// previous one ends.
//
// Every worker records into HDR histograms of its own
// (github.com/HdrHistogram/hdrhistogram-go, 1 ns to 1 h, three significant
// figures), merged at the end. Operations intended during the warm-up run
// but are not recorded. A Result holds, per kind and overall, p50, p90,
// p99, p99.9, p99.99 and max, throughput, and errors counted by kind; and
// the same second by second (KindResult.Series: throughput, errors, p50,
// p99 and max of the operations that finished in each second), from a
// small histogram of each second that a worker hands over once a second.
// Every run is bounded by Options.Duration; cancelling its context stops
// it early and still returns the result so far.
//
// Search finds the highest constant rate whose p99 stays under a target,
// in a bounded number of runs. Thresholds (ParseThreshold, such as
// "query:p99<2ms") check a result and set the load tester's exit code:
// ExitOK, ExitError, ExitUsage, ExitThreshold, ExitInterrupted and
// ExitNoRate. A Report writes it all as text, JSON or a self-contained HTML
// page with SVG charts of throughput and latency over time and of latency
// by percentile.
//
// # Caveats
//
//   - The pacer sleeps on a Go timer until 1.5 ms before each start, then
//     (on Linux) on the kernel's high-resolution timers, which wake some
//     50-100 µs late; latency from the intended start includes that
//     lateness. Elsewhere Go timers may add up to a millisecond.
//   - Ingest batches are generated and, for HTTP, encoded as NDJSON before
//     the run: the client's cost of an ingest is sending, not encoding.
//     Batches hold whole baskets, so they may be sent in any order. Once
//     every batch was sent, they are sent again with their baskets renamed
//     (counted apart as KindResult.Recycled). Erasures are left out.
//   - The HTTP client counts the baskets of a page by scanning the answer,
//     without decoding it.
//   - The engine behind an external server must keep baskets forever
//     (abandoned serve -ttl 0), for the simulated times are in the past.
package loadtest
