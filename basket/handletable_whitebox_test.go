package basket

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestHandleTableModel runs random puts and deletes against a handleTable
// and a Go map beside it, and compares every key's handle, the count and
// the walk after each step. The key spaces make long runs of probes: few
// keys in one shard, keys whose low bits collide, and runs that wrap
// around a shard's end.
func TestHandleTableModel(t *testing.T) {
	spaces := []struct {
		name string
		key  func(r *rand.Rand) uint32
	}{
		{"any", func(r *rand.Rand) uint32 { return r.Uint32() }},
		{"one shard, 300 keys", func(r *rand.Rand) uint32 { return 0x5a<<24 | uint32(r.IntN(300)) }},
		{"low bits collide", func(r *rand.Rand) uint32 { return uint32(r.IntN(8))<<24 | uint32(r.IntN(64))<<12 | 7 }},
		{"at a shard's end", func(r *rand.Rand) uint32 { return 0x11<<24 | (0xffffff - uint32(r.IntN(40))) }},
		{"shards 0 and 255", func(r *rand.Rand) uint32 { return uint32(r.IntN(2))*0xff<<24 | uint32(r.IntN(500)) }},
	}
	for seed := range uint64(4) {
		for _, sp := range spaces {
			t.Run(fmt.Sprintf("%s/seed=%d", sp.name, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(seed, 99))
				tab := newHandleTable(int(seed) * 300)
				model := map[uint32]handle{}
				next := handle(1)
				for step := range 6000 {
					k := sp.key(r)
					switch op := r.IntN(10); {
					case op < 6:
						h := next
						next++
						got := tab.putNew(k, h)
						if old, ok := model[k]; ok {
							if got != old {
								t.Fatalf("step %d: putNew(%#x) of a held key = %d; want %d", step, k, got, old)
							}
						} else {
							if got != 0 {
								t.Fatalf("step %d: putNew(%#x) of a new key = %d; want 0", step, k, got)
							}
							model[k] = h
						}
					default:
						got := tab.delete(k)
						if got != model[k] {
							t.Fatalf("step %d: delete(%#x) = %d; want %d", step, k, got, model[k])
						}
						delete(model, k)
					}
					if step%97 == 0 || step > 5900 {
						checkHandleTable(t, &tab, model, sp.key, r)
					}
				}
				// Empty it, and it is empty.
				for k := range model {
					if tab.delete(k) == 0 {
						t.Fatalf("delete(%#x) of a held key = 0", k)
					}
				}
				checkHandleTable(t, &tab, map[uint32]handle{}, sp.key, r)
			})
		}
	}
}

func checkHandleTable(t *testing.T, tab *handleTable, model map[uint32]handle, key func(*rand.Rand) uint32, r *rand.Rand) {
	t.Helper()
	if tab.len() != len(model) {
		t.Fatalf("len() = %d; want %d", tab.len(), len(model))
	}
	for k, h := range model {
		if got := tab.get(k); got != h {
			t.Fatalf("get(%#x) = %d; want %d", k, got, h)
		}
	}
	for range 50 {
		if k := key(r); tab.get(k) != model[k] {
			t.Fatalf("get(%#x) = %d; want %d", k, tab.get(k), model[k])
		}
	}
	seen := 0
	tab.each(func(k uint32, h handle) {
		seen++
		if model[k] != h {
			t.Fatalf("each: %#x holds %d; want %d", k, h, model[k])
		}
	})
	if seen != len(model) {
		t.Fatalf("each walked %d keys; want %d", seen, len(model))
	}
	n := 0
	for i := range tab.shards {
		s := &tab.shards[i]
		used := 0
		for _, e := range s.slots {
			if handle(e) != 0 {
				used++
			}
		}
		if used != s.n || (len(s.slots) > 0 && s.n*4 > len(s.slots)*3) {
			t.Fatalf("shard %d: %d slots used of %d, counted %d", i, used, len(s.slots), s.n)
		}
		n += s.n
	}
	if n != tab.len() {
		t.Fatalf("shards hold %d keys; the table counts %d", n, tab.len())
	}
}

// TestHandleTableSized: a table made for n keys holds them without a
// shard growing.
func TestHandleTableSized(t *testing.T) {
	const n = 100_000
	tab := newHandleTable(n)
	sizes := make([]int, handleShards)
	for i := range tab.shards {
		sizes[i] = len(tab.shards[i].slots)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for i := range n {
		tab.putNew(r.Uint32(), handle(i+1))
	}
	for i := range tab.shards {
		if len(tab.shards[i].slots) != sizes[i] {
			t.Fatalf("shard %d grew from %d to %d slots for %d keys of the %d it was made for",
				i, sizes[i], len(tab.shards[i].slots), tab.len(), n)
		}
	}
}

// TestEmailIndexModel files and takes out handles of a few addresses at
// random (so that addresses go from one basket to several and back) in an
// emailIndex and in a map beside it: each address's handles agree, and
// the index's structure checks after every step.
func TestEmailIndexModel(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	x := newEmailIndex(0)
	model := map[string][]handle{}
	addrs := make([]string, 40)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("c%d@example.com", i)
	}
	next := handle(1)
	for step := range 20000 {
		a := addrs[r.IntN(len(addrs))]
		if hs := model[a]; len(hs) > 0 && r.IntN(2) == 0 {
			h := hs[r.IntN(len(hs))]
			x.remove(a, h)
			model[a] = slices.DeleteFunc(hs, func(o handle) bool { return o == h })
		} else {
			x.add(a, next)
			model[a] = append(model[a], next)
			next++
		}
		x.remove(a, next+1000) // never filed: changes nothing
		var fails []string
		n := x.check(func(f string, args ...any) { fails = append(fails, fmt.Sprintf(f, args...)) })
		if len(fails) > 0 {
			t.Fatalf("step %d: %v", step, fails)
		}
		total := 0
		for _, b := range addrs {
			var buf [1]handle
			got := slices.Sorted(slices.Values(x.handles(x.key(b), &buf)))
			want := slices.Sorted(slices.Values(model[b]))
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: %s holds %v; want %v", step, b, got, want)
			}
			for _, h := range want {
				if !x.has(b, h) {
					t.Fatalf("step %d: has(%s, %d) = false", step, b, h)
				}
			}
			total += len(want)
		}
		if n != total {
			t.Fatalf("step %d: check counts %d handles; the model %d", step, n, total)
		}
	}
}
