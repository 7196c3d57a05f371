// Package benchmarks compares the basket engine with the stores a Go
// developer would pick instead, on the operations the query API serves: a
// page of abandoned baskets after a random (created, id) position, a full
// cursor walk, and the ingest of one basket.
//
// Every store implements Store over the same population (see Population):
//
//   - EngineStore: the basket engine itself (basket.Engine), paged by its
//     signed cursors, baskets materialised with their recovery links.
//   - BuntStore: BuntDB in memory (":memory:"), JSON values under an ordered
//     index on (created, id), paged by an ascending range from a pivot.
//   - SQLiteStore: SQLite through modernc.org/sqlite (pure Go), WAL mode, a
//     partial index on (created, id) WHERE abandoned, keyset pagination with
//     prepared statements, rows materialised from JSON into structs, inserts
//     batched in transactions.
//   - PostgresStore (build tag postgres): PostgreSQL through pgx/v5 over a
//     unix socket, the same table, partial index and keyset query as
//     SQLite's, rows decoded from the same JSON; a server of its own that
//     the tests and benchmarks start (StartPostgres: initdb in a temporary
//     directory, as an unprivileged user when run as root) and stop.
//   - RedisStore (build tag redis): Redis through go-redis/v9 over a unix
//     socket, a sorted set by created and a hash per basket, a page as one
//     Lua script; a redis-server of its own (StartRedis) that persists
//     nothing, as the engine and BuntDB here keep everything in memory.
//   - BTreeStore: a raw tidwall/btree of (created, id, *basket) under a
//     sync.RWMutex: the floor that the engine's overhead is measured from.
//   - SliceStore: a sorted slice and a binary search: the correctness floor.
//
// The benchmarks run them side by side in one go test run, so that their
// ratios, not their absolute figures, are what is compared:
//
//	go -C benchmarks test . -run '^$' -bench . -benchmem
//	benchmarks/run.sh    # -count 6, then a table of medians and ratios
//	TAGS=postgres,redis benchmarks/run.sh    # and PostgreSQL and Redis
//
// The tags need the servers' binaries (apt-get install postgresql
// redis-server); without them a test or benchmark under the tag fails and
// says so.
//
// Populations are 1e5 and 1e6 baskets, except SQLite, which runs at 1e5
// only: loading it with 1e6 baskets took about two minutes on a shared
// 2-core machine (PostgreSQL and Redis load 1e6 in 20 to 35 s).
// ABANDONED_BENCH_LARGE=1 adds SQLite at 1e6 and 1e7 baskets for every
// store (many GiB of memory and long loads). The tests (without -bench)
// check on small populations that every store returns the same pages and
// walks as SliceStore; go -C benchmarks test -tags postgres,redis . adds the
// servers' stores.
//
// The package is a module of its own (benchmarks/go.mod, which replaces
// the engine's module with the tree it sits in), so that the databases'
// drivers never enter the module graph of a program that embeds the
// engine. From the repository's root, go -C benchmarks runs the go command
// in it; go test ./... at the root leaves it out.
//
// # Caveats
//
//   - Every basket of a population is abandoned: the partial index and the
//     engine's abandoned index hold the same rows as the tables.
//   - The engine has no bulk loader; it is loaded through Apply in batches.
//   - Ingest grows a population by the baskets it inserts; the benchmark
//     removes them again with the timer stopped.
//   - SQLite, PostgreSQL and Redis batch inserts 1,000 at a time (one
//     transaction; for the servers one round trip); the engine and BuntDB
//     commit each basket on its own.
//   - The servers run on the same cores as the benchmark: on a loaded
//     machine every round trip waits for the scheduler as well.
package benchmarks
