package basket

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tidwall/btree"
)

// rankTree returns an abandoned tree of the entries of the created times
// cs, each with its own id, the entries in order, and the slots that name
// their records.
func rankTree(rng *rand.Rand, cs []int64) (*btree.BTreeG[aentry], []aentry, *slots) {
	s := new(slots)
	tr := newAbandonedTree(s)
	for i, c := range cs {
		// Ids of a few letters, so that equal created times get ids that
		// sort in no particular order of insertion.
		id := fmt.Sprintf("b%c%d", 'a'+rng.IntN(26), i)
		tr.Set(aentry{c, s.add(&record{id: id, created: c})})
	}
	var all []aentry
	tr.Scan(func(e aentry) bool { all = append(all, e); return true })
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
// even, a few values repeated many times, clusters, a skew that defeats
// interpolation, and the tree-wide extremes of int64.
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

// TestRankOracle compares rank, and the count of a created range from two
// ranks, with linear counts over random trees. (Counts read the count
// trees now; rank places a cursor whose basket has gone.)
func TestRankOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	sizes := []int{0, 1, 2, 3, 5, 64, 127, 128, 129, 130, 200, 1000, 10_000}
	for _, d := range rankDists {
		for _, n := range sizes {
			tr, all, s := rankTree(rng, d.gen(rng, n))
			keys := rankProbeKeys(rng, s, all)
			for _, k := range keys {
				if got, want := rank(tr, s, k), linearRank(s, all, k); got != want {
					t.Fatalf("%s n=%d: rank(%d, %q) = %d; want %d", d.name, len(all), k.created, k.id, got, want)
				}
			}
			// Created ranges (after, before) as count computes them.
			for range 30 {
				a, b := keys[rng.IntN(len(keys))].created, keys[rng.IntN(len(keys))].created
				if a == math.MaxInt64 {
					a--
				}
				lo := rank(tr, s, ckey{created: a + 1})
				hi := rank(tr, s, ckey{created: b})
				want := 0
				for _, e := range all {
					if e.created > a && e.created < b {
						want++
					}
				}
				if got := max(0, hi-lo); got != want {
					t.Fatalf("%s n=%d: count of (%d, %d) = %d; want %d", d.name, len(all), a, b, got, want)
				}
			}
		}
	}
}

// TestRankAfterDeletes checks rank over trees whose nodes were thinned by
// deletes, the abandoned index's life as baskets are recovered.
func TestRankAfterDeletes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for _, d := range rankDists {
		tr, all, s := rankTree(rng, d.gen(rng, 10_000))
		for i := 0; i < 7_500; i++ {
			tr.DeleteAt(rng.IntN(tr.Len()))
		}
		all = all[:0]
		tr.Scan(func(e aentry) bool { all = append(all, e); return true })
		for _, k := range rankProbeKeys(rng, s, all) {
			if got, want := rank(tr, s, k), linearRank(s, all, k); got != want {
				t.Fatalf("%s n=%d: rank(%d, %q) = %d; want %d", d.name, len(all), k.created, k.id, got, want)
			}
		}
	}
}

// TestRankProbes checks rank's number of positional probes: few on evenly
// spread created times, and at most rankBudget more than a bisection's on
// every distribution.
func TestRankProbes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1e4, 1e5} {
		for _, d := range rankDists {
			if n > 1e4 && d.name != "uniform" && d.name != "daily" {
				continue // the bound holds at 1e4; 1e5 is for the means
			}
			tr, all, s := rankTree(rng, d.gen(rng, n))
			logn := bits.Len(uint(n))
			// The probes are counted for keys without ids, a created
			// range's bounds; keys with ids are checked for the worst case.
			worst, total, keys, plain := 0, 0, rankProbeKeys(rng, s, all), 0
			for _, k := range keys {
				r, probes := rankSearch(tr, s, k)
				if want, _ := slices.BinarySearchFunc(all, k, func(e aentry, k ckey) int {
					if ckeyLess(entryKey(s, e), k) {
						return -1
					}
					return 1
				}); r != want {
					t.Fatalf("%s n=%d: rank(%d, %q) = %d; want %d", d.name, n, k.created, k.id, r, want)
				}
				if limit := rankBudget + logn + 1; probes > limit {
					t.Errorf("%s n=%d: rank(%d, %q) took %d probes; want at most %d", d.name, n, k.created, k.id, probes, limit)
				}
				if k.id == "" {
					worst = max(worst, probes)
					total += probes
					plain++
				}
			}
			mean := float64(total) / float64(plain)
			t.Logf("%-12s n=%-8d probes without ids: mean %.1f, worst %d (log2 n = %d)", d.name, n, mean, worst, logn)
			if d.name == "uniform" && (worst > 12 || mean > 7) {
				t.Errorf("uniform n=%d: ranks took %.1f probes on average, %d at worst; want at most 7 and 12", n, mean, worst)
			}
			if d.name == "daily" && (worst > 16 || mean > 10) {
				t.Errorf("daily n=%d: ranks took %.1f probes on average, %d at worst; want at most 10 and 16", n, mean, worst)
			}
		}
	}
}

// bisectRank is the rank of before: a bisection over GetAt.
func bisectRank(tr *btree.BTreeG[aentry], s *slots, k ckey) int {
	lo, hi := 0, tr.Len()
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		e, _ := tr.GetAt(mid)
		if ckeyLess(entryKey(s, e), k) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// BenchmarkRank measures rank of a random created time in trees of evenly
// spread created times, against the bisection it replaced.
//
//	go test ./basket -run '^$' -bench 'Rank$' -benchmem
func BenchmarkRank(b *testing.B) {
	for _, n := range []int{1e5, 1e6} {
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		tr, all, s := rankTree(rng, rankDists[0].gen(rng, n))
		ks := make([]ckey, 1<<12)
		for i := range ks {
			ks[i] = ckey{created: all[0].created + rng.Int64N(all[n-1].created-all[0].created)}
		}
		for _, impl := range []struct {
			name string
			rank func(*btree.BTreeG[aentry], *slots, ckey) int
		}{{"interpolation", rank}, {"bisection", bisectRank}} {
			b.Run(fmt.Sprintf("n=%d/%s", n, impl.name), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if r := impl.rank(tr, s, ks[i%len(ks)]); r < 0 || r > n {
						b.Fatal(r)
					}
				}
			})
		}
	}
}
