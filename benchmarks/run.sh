#!/bin/sh
# run.sh runs the store benchmarks (the engine, BuntDB, SQLite, the raw
# B-tree floor, a sorted slice) in one go test run with -count, then prints
# benchstat's table (each store against the floor) and a table of medians and
# ratios: engine/floor, and how many times faster the engine is than SQLite
# and BuntDB.
#
# Usage: benchmarks/run.sh [output file]
# Environment: COUNT (default 6), BENCHTIME (default 500ms), BENCH (default
# ".", a -bench pattern), ABANDONED_BENCH_LARGE=1 for SQLite at 1e6 and for
# 1e7 baskets (BENCH='/n=1e[56]/' skips 1e7).
set -eu

cd "$(dirname "$0")/.."
COUNT=${COUNT:-6}
BENCHTIME=${BENCHTIME:-500ms}
BENCH=${BENCH:-.}
OUT=${1:-${TMPDIR:-/tmp}/abandoned-bench-$$.txt}

echo "# go test ./benchmarks -run '^\$' -bench '$BENCH' -benchmem -count $COUNT -benchtime $BENCHTIME" >&2
echo "# raw output: $OUT" >&2
go test ./benchmarks -run '^$' -bench "$BENCH" -benchmem -count "$COUNT" -benchtime "$BENCHTIME" -timeout 3h >"$OUT"

echo
echo "## benchstat -col /store (each column against the first, the raw B-tree floor)"
echo
go run golang.org/x/perf/cmd/benchstat@latest -col /store "$OUT"

echo
echo "## Medians of ns/op over $COUNT runs, and ratios"
echo
# engine/btree: the engine's cost over the floor (target <= 2 for pages).
# sqlite/engine, buntdb/engine: how many times faster the engine is.
awk '
function median(key,   n, i, j, v, a) {
	n = cnt[key]
	for (i = 1; i <= n; i++) a[i] = val[key, i]
	for (i = 2; i <= n; i++) { v = a[i]; for (j = i - 1; j >= 1 && a[j] > v; j--) a[j+1] = a[j]; a[j+1] = v }
	if (n % 2) return a[(n + 1) / 2]
	return (a[n / 2] + a[n / 2 + 1]) / 2
}
function human(ns) {
	if (ns == "") return "-"
	if (ns >= 1e9) return sprintf("%.2fs", ns / 1e9)
	if (ns >= 1e6) return sprintf("%.1fms", ns / 1e6)
	if (ns >= 1e3) return sprintf("%.1fµs", ns / 1e3)
	return sprintf("%.0fns", ns)
}
function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.1f×", a / b) }
/^Benchmark/ {
	name = $1
	sub(/^Benchmark/, "", name)
	sub(/-[0-9]+$/, "", name)
	store = name
	if (!sub(/\/store=[^\/]+/, "", name)) next
	sub(/.*\/store=/, "", store)
	sub(/\/.*/, "", store)
	for (i = 3; i < NF; i++) if ($(i+1) == "ns/op") {
		k = name SUBSEP store
		val[k, ++cnt[k]] = $i
		if (!(name in seen)) { seen[name] = 1; order[++nb] = name }
	}
}
END {
	printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", "benchmark", "btree (floor)", "engine", "buntdb", "sqlite", "slice", "engine/floor", "sqlite/engine", "buntdb/engine"
	print "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	split("btree engine buntdb sqlite slice", stores, " ")
	for (b = 1; b <= nb; b++) {
		name = order[b]
		for (s = 1; s <= 5; s++) {
			k = name SUBSEP stores[s]
			m[stores[s]] = (k in cnt) ? median(k) : ""
		}
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name,
			human(m["btree"]), human(m["engine"]), human(m["buntdb"]), human(m["sqlite"]), human(m["slice"]),
			ratio(m["engine"], m["btree"]), ratio(m["sqlite"], m["engine"]), ratio(m["buntdb"], m["engine"])
	}
}' "$OUT"
