package cluster_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/basketlab/abandoned/basket/cluster"
)

// TestPlaceAll: whatever the members and environments, every environment
// is placed on min(n, members) distinct members, no member holds more than
// its share, and the same inputs give the same placement.
func TestPlaceAll(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for c := range 2000 {
		nm, ne, n := 1+r.IntN(8), r.IntN(20), 1+r.IntN(4)
		var members []cluster.Member
		for i := range nm {
			members = append(members, cluster.Member{ID: fmt.Sprintf("127_0_0_1_%d", 40000+r.IntN(20000)+i), URL: "u"})
		}
		var aliases []string
		for i := range ne {
			aliases = append(aliases, fmt.Sprintf("env-%d-%d", c, i))
		}
		got := cluster.PlaceAll(aliases, members, n)
		want := min(n, nm)
		share := (want*ne + nm - 1) / nm
		load := map[string]int{}
		for _, a := range aliases {
			ms := got[a]
			if len(ms) != want {
				t.Fatalf("case %d: %s on %d members; want %d", c, a, len(ms), want)
			}
			seen := map[string]bool{}
			for _, m := range ms {
				if seen[m.ID] {
					t.Fatalf("case %d: %s twice on %s", c, a, m.ID)
				}
				seen[m.ID] = true
				load[m.ID]++
			}
		}
		for id, l := range load {
			if l > share {
				t.Fatalf("case %d (%d members, %d environments, %d replicas): %s holds %d; its share is %d", c, nm, ne, n, id, l, share)
			}
		}
		again := cluster.PlaceAll(aliases, members, n)
		for _, a := range aliases {
			for i := range again[a] {
				if again[a][i] != got[a][i] {
					t.Fatalf("case %d: the same inputs gave another placement", c)
				}
			}
		}
	}
}
