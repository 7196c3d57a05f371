#!/bin/sh
# run.sh runs the store benchmarks (the engine, BuntDB, SQLite, the raw
# B-tree floor, a sorted slice, and with TAGS=postgres,redis PostgreSQL and
# Redis on servers the benchmarks start) in one go test run with -count,
# then prints benchstat's table (each store against the floor) and one table
# of medians and every ratio: engine/floor, and how many times faster the
# engine is than each baseline, with the targets for pages in its last row.
#
# Usage: benchmarks/run.sh [output file]
# Environment: COUNT (default 6), BENCHTIME (default 500ms), BENCH (default
# ".", a -bench pattern), TAGS (default none; postgres,redis adds those
# stores: apt-get install postgresql redis-server), ABANDONED_BENCH_LARGE=1
# for SQLite at 1e6 and for 1e7 baskets (BENCH='/n=1e[56]/' skips 1e7).
set -eu

COUNT=${COUNT:-6}
BENCHTIME=${BENCHTIME:-500ms}
BENCH=${BENCH:-.}
TAGS=${TAGS:-}
OUT=${1:-${TMPDIR:-/tmp}/abandoned-bench-$$.txt}
case $OUT in /*) ;; *) OUT="$PWD/$OUT" ;; esac
cd "$(dirname "$0")" # the benchmarks are a module of their own

echo "# go -C benchmarks test -tags '$TAGS' . -run '^\$' -bench '$BENCH' -benchmem -count $COUNT -benchtime $BENCHTIME" >&2
echo "# raw output: $OUT" >&2
echo "# load average before: $(cat /proc/loadavg 2>/dev/null || echo unknown)" >&2
go test -tags "$TAGS" . -run '^$' -bench "$BENCH" -benchmem -count "$COUNT" -benchtime "$BENCHTIME" -timeout 3h >"$OUT"
echo "# load average after: $(cat /proc/loadavg 2>/dev/null || echo unknown)" >&2

echo
echo "## benchstat -col /store (each column against the first, the raw B-tree floor)"
echo
go run golang.org/x/perf/cmd/benchstat@latest -col /store "$OUT"

echo
echo "## Medians of ns/op over $COUNT runs, and ratios"
echo
# engine/floor: the engine's cost over the raw B-tree's.
# <store>/engine: how many times faster the engine is than that store.
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
	split("btree engine buntdb sqlite postgres redis slice", stores, " ")
	split("sqlite buntdb postgres redis", base, " ")
	printf "| benchmark | btree (floor) | engine | buntdb | sqlite | postgres | redis | slice | engine/floor"
	for (j = 1; j <= 4; j++) printf " | %s/engine", base[j]
	print " |"
	print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for (b = 1; b <= nb; b++) {
		name = order[b]
		for (s = 1; s <= 7; s++) {
			k = name SUBSEP stores[s]
			m[stores[s]] = (k in cnt) ? median(k) : ""
		}
		printf "| %s", name
		for (s = 1; s <= 7; s++) printf " | %s", human(m[stores[s]])
		printf " | %s", ratio(m["engine"], m["btree"])
		for (j = 1; j <= 4; j++) printf " | %s", ratio(m[base[j]], m["engine"])
		print " |"
	}
	# The targets for a page of 10 or 100 at 1e6 and 1e7 baskets.
	print "| target, Page rows | | | | | | | | ≤ 1.5× | ≥ 20× | ≥ 10× | ≥ 30× | none |"
}' "$OUT"
