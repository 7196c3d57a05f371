package basket

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// rankTree returns an abandoned index of the entries of the created times
// cs, each with its own id, the entries in order, and the slots that name
// their records.
func rankTree(rng *rand.Rand, cs []int64) (*abTree, []aentry, *slots) {
	s := new(slots)
	tr := newAbTree(s)
	for i, c := range cs {
		// Ids of a few letters, so that equal created times get ids that
		// sort in no particular order of insertion.
		id := fmt.Sprintf("b%c%d", 'a'+rng.IntN(26), i)
		tr.set(aentry{c, s.add(&record{id: id, created: c})})
	}
	var all []aentry
	tr.each(func(e aentry) bool { all = append(all, e); return true })
	return tr, all, s
}

// entryKey returns e's key.
func entryKey(s *slots, e aentry) ckey { return ckey{e.created, s.id(e.h)} }

// linearRank is the oracle: the entries less than k, counted one by one.
func linearRank(s *slots, all []aentry, k ckey) int {
	n := 0
	for _, e := range all {
		if ckeyLess(entryKey(s, e), k) {
			n++
		}
	}
	return n
}

// rankDists are the distributions of created times the tests draw from:
// even, a few values repeated many times, clusters, skews, and the
// tree-wide extremes of int64.
var rankDists = []struct {
	name string
	gen  func(rng *rand.Rand, n int) []int64
}{
	{"uniform", func(rng *rand.Rand, n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = 1_700_000_000_000 + rng.Int64N(14*24*3600*1000)
		}
		return out
	}},
	{"daily", func(rng *rand.Rand, n int) []int64 {
		// Busy days and quiet nights: the density of created times
		// varies fivefold over each day (by rejection sampling).
		const day = 24 * 3600 * 1000
		out := make([]int64, n)
		for i := range out {
			for {
				c := rng.Int64N(14 * day)
				if rng.Float64()*6 < 1+5*(0.5+0.5*math.Sin(2*math.Pi*float64(c%day)/day)) {
					out[i] = 1_700_000_000_000 + c
					break
				}
			}
		}
		return out
	}},
	{"bursts", func(rng *rand.Rand, n int) []int64 {
		// Half the baskets in twenty one-minute bursts (a campaign's
		// emails going out), half spread over the fortnight.
		const day = 24 * 3600 * 1000
		bursts := make([]int64, 20)
		for i := range bursts {
			bursts[i] = rng.Int64N(14 * day)
		}
		out := make([]int64, n)
		for i := range out {
			c := rng.Int64N(14 * day)
			if rng.IntN(2) == 0 {
				c = bursts[rng.IntN(len(bursts))] + rng.Int64N(60_000)
			}
			out[i] = 1_700_000_000_000 + c
		}
		return out
	}},
	{"few values", func(rng *rand.Rand, n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(rng.IntN(5)) * 1000
		}
		return out
	}},
	{"one value", func(rng *rand.Rand, n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = 42
		}
		return out
	}},
	{"ties", func(rng *rand.Rand, n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = rng.Int64N(int64(n/4 + 1))
		}
		return out
	}},
	{"clusters", func(rng *rand.Rand, n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(rng.IntN(3))*1_000_000_000 + rng.Int64N(100)
		}
		return out
	}},
	{"exponential", func(rng *rand.Rand, n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(math.Exp(rng.Float64() * 40))
		}
		return out
	}},
	{"powers", func(rng *rand.Rand, n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(1) << rng.IntN(62)
		}
		return out
	}},
	{"extremes", func(rng *rand.Rand, n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			switch rng.IntN(3) {
			case 0:
				out[i] = math.MinInt64 + rng.Int64N(10)
			case 1:
				out[i] = math.MaxInt64 - rng.Int64N(10)
			default:
				out[i] = rng.Int64()
			}
		}
		return out
	}},
}

// rankProbeKeys returns keys to rank in a tree of the entries all: every
// created time present, its neighbours, the ends and beyond them, random
// times, and keys with ids that fall between equal created times.
func rankProbeKeys(rng *rand.Rand, s *slots, all []aentry) []ckey {
	keys := []ckey{
		{created: math.MinInt64}, {created: math.MaxInt64},
		{created: math.MinInt64, id: "a"}, {created: math.MaxInt64, id: "\xff"},
		{created: 0}, {created: rng.Int64()}, {created: -rng.Int64()},
	}
	if len(all) > 0 {
		first, last := all[0].created, all[len(all)-1].created
		keys = append(keys,
			ckey{created: first}, ckey{created: last}, ckey{created: last + 1},
			ckey{created: first - 1}, ckey{created: first - 1000}, ckey{created: last + 1000})
	}
	for range 40 {
		if len(all) == 0 {
			break
		}
		e := all[rng.IntN(len(all))]
		keys = append(keys,
			ckey{created: e.created}, ckey{created: e.created + 1}, ckey{created: e.created - 1},
			entryKey(s, e), ckey{created: e.created, id: s.id(e.h) + "\x00"}, ckey{created: e.created, id: "bm"})
	}
	for range 20 {
		if len(all) < 2 {
			break
		}
		a, b := all[rng.IntN(len(all))].created, all[rng.IntN(len(all))].created
		keys = append(keys, ckey{created: a/2 + b/2})
	}
	return keys
}

// TestRankOracle compares the index's rank, the count of a created range
// from two ranks, and a page's walk from a key with linear counts and
// sorted entries, over random trees of created times that repeat, bunch and
// reach the extremes.
func TestRankOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	sizes := []int{0, 1, 2, 3, 5, 64, 83, 84, 85, 127, 128, 129, 130, 200, 1000, 10_000}
	for _, d := range rankDists {
		for _, n := range sizes {
			tr, all, s := rankTree(rng, d.gen(rng, n))
			checkRanks(t, fmt.Sprintf("%s n=%d", d.name, n), rng, tr, all, s)
		}
	}
}

// checkRanks checks tr, whose entries are all, at keys around them.
func checkRanks(t *testing.T, name string, rng *rand.Rand, tr *abTree, all []aentry, s *slots) {
	t.Helper()
	keys := rankProbeKeys(rng, s, all)
	for _, k := range keys {
		want := linearRank(s, all, k)
		if got := tr.rank(k); got != want {
			t.Fatalf("%s: rank(%d, %q) = %d; want %d", name, k.created, k.id, got, want)
		}
		var page []aentry
		tr.ascend(k, func(e aentry) bool { page = append(page, e); return len(page) < 10 })
		if w := all[want:min(want+10, len(all))]; !slices.Equal(page, w) {
			t.Fatalf("%s: the page from (%d, %q) = %v; want %v", name, k.created, k.id, page, w)
		}
	}
	// Created ranges (after, before) as count computes them.
	for range 30 {
		a, b := keys[rng.IntN(len(keys))].created, keys[rng.IntN(len(keys))].created
		if a == math.MaxInt64 {
			a--
		}
		lo, hi := tr.less(a+1), tr.less(b)
		if lo2, hi2 := tr.less2(a+1, b); lo2 != lo || hi2 != hi {
			t.Fatalf("%s: less2(%d, %d) = %d, %d; less gives %d, %d", name, a+1, b, lo2, hi2, lo, hi)
		}
		want := 0
		for _, e := range all {
			if e.created > a && e.created < b {
				want++
			}
		}
		if got := max(0, hi-lo); got != want {
			t.Fatalf("%s: count of (%d, %d) = %d; want %d", name, a, b, got, want)
		}
	}
}

// TestRankAfterDeletes checks ranks and walks over trees whose nodes were
// thinned by deletes, the abandoned index's life as baskets are recovered.
func TestRankAfterDeletes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for _, d := range rankDists {
		tr, all, s := rankTree(rng, d.gen(rng, 10_000))
		for range 7_500 {
			i := rng.IntN(len(all))
			if !tr.delete(all[i]) {
				t.Fatalf("%s: delete(%v) of an entry held = false", d.name, all[i])
			}
			all = slices.Delete(all, i, i+1)
		}
		tr.check(func(format string, args ...any) { t.Fatalf(d.name+": "+format, args...) })
		checkRanks(t, d.name+" thinned", rng, tr, all, s)
	}
}
