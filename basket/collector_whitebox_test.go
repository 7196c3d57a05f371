package basket

import (
	"bytes"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"testing"
	"testing/iotest"
)

// gcPercent returns the collector's percentage, setting it back at once.
func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// withPercent runs the test with the collector's percentage at p, and sets
// back the one found after it.
func withPercent(t *testing.T, p int) {
	was := debug.SetGCPercent(p)
	t.Cleanup(func() { debug.SetGCPercent(was) })
}

// TestCollectorHoldModel: loads holding the collector in any order, some
// outgrowing their allowance, leave it off exactly while a hold lasts that
// none outgrew since the first began, and set back the percentage found
// before once the last ends (a model beside the holds, random operations).
func TestCollectorHoldModel(t *testing.T) {
	const was = 57
	withPercent(t, was)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var holds []*collectorHold
		var ended []bool
		live, off := 0, false // the model
		for step := range 30 {
			switch op := rng.IntN(4); {
			case op == 0 || live == 0:
				h := holdCollector(0)
				if rng.IntN(3) == 0 {
					h.limit = 0 // outgrows its allowance at its first check
				} else {
					h.limit = math.MaxUint64
				}
				holds, ended = append(holds, h), append(ended, false)
				if live == 0 {
					off = true
				}
				live++
			case op == 1:
				i := rng.IntN(len(holds))
				holds[i].check()
				if !ended[i] && holds[i].limit == 0 {
					off = false
				}
			default:
				i := rng.IntN(len(holds))
				holds[i].end() // a second end does nothing
				if !ended[i] {
					ended[i] = true
					live--
					if live == 0 {
						off = false
					}
				}
			}
			want := was
			if off {
				want = -1
			}
			if got := gcPercent(); got != want {
				t.Fatalf("round %d, step %d: %d loads hold the collector, and its percentage is %d; want %d", round, step, live, got, want)
			}
		}
		for _, h := range holds {
			h.end()
		}
		if got := gcPercent(); got != was {
			t.Fatalf("round %d: every hold ended, and the percentage is %d; want %d", round, got, was)
		}
	}
}

// TestCollectorHoldAllowance: a hold outgrows its allowance only once the
// heap has grown past it.
func TestCollectorHoldAllowance(t *testing.T) {
	withPercent(t, 80)
	// A collection, swept to the end, first: with the collector off the
	// heap's objects then only grow, and no sweep of earlier tests'
	// garbage can shrink them between the holds and their checks.
	runtime.GC()
	h := holdCollector(1 << 40)
	defer h.end()
	keep := make([]byte, 8<<20)
	h.check()
	if got := gcPercent(); got != -1 {
		t.Fatalf("8 MiB into an allowance of 1 TiB, the percentage is %d; want -1", got)
	}
	h2 := holdCollector(1 << 20)
	defer h2.end()
	keep = append(keep, make([]byte, 8<<20)...)
	h2.check()
	if got := gcPercent(); got != 80 {
		t.Fatalf("8 MiB into an allowance of 1 MiB, the percentage is %d; want 80", got)
	}
	_ = keep[len(keep)-1]
}

// percentReader reads r a byte at a time, and counts the reads made
// while the collector was off.
type percentReader struct {
	r   io.Reader
	off int
}

func (p *percentReader) Read(b []byte) (int, error) {
	if gcPercent() == -1 {
		p.off++
	}
	return iotest.OneByteReader(p.r).Read(b)
}

// TestLoadSnapshotCollector: a snapshot's load turns the collector off
// while it reads the records, and sets it back after, whether the
// snapshot loads or is refused half read.
func TestLoadSnapshotCollector(t *testing.T) {
	withPercent(t, 63)
	e, opts := variedEngine(t, 1, 40)
	snap := snapshotOf(t, e)
	for _, n := range []int{len(snap), len(snap) / 2, len(snap) - 1} {
		e2, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		r := &percentReader{r: bytes.NewReader(snap[:n])}
		err = e2.loadSnapshot(r)
		if (err == nil) != (n == len(snap)) {
			t.Fatalf("loading %d bytes of %d: %v", n, len(snap), err)
		}
		if r.off < n/2 {
			t.Fatalf("loading %d bytes of %d, %d reads were made with the collector off; want most", n, len(snap), r.off)
		}
		if got := gcPercent(); got != 63 {
			t.Fatalf("after loading %d bytes of %d (%v), the percentage is %d; want 63", n, len(snap), err, got)
		}
		if collector.holds != 0 {
			t.Fatalf("after loading %d bytes of %d, %d holds are left", n, len(snap), collector.holds)
		}
	}
}
