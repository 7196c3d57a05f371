package simulator

import (
	"math"
	"math/bits"
	"math/rand/v2"
)

// Streams of random numbers. Every customer, journey and reminder draws from
// its own PCG stream, derived from the seed and its index, so that what
// happens to one does not depend on how the others interleave.
const (
	streamArrivals uint64 = iota + 1
	streamCustomer
	streamJourney
	streamReminder
)

// rng is a PCG stream with the few draws the simulator needs. Its methods
// are written out rather than taken from rand.Rand so that a journey can
// embed its stream by value, without an allocation.
type rng struct{ pcg rand.PCG }

// splitmix64 scrambles x; it turns consecutive indexes into unrelated seeds.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// seed sets r to the stream of index idx of the given kind, for seed.
func (r *rng) seed(seed, stream, idx uint64) {
	a := splitmix64(seed ^ splitmix64(stream))
	b := splitmix64(a ^ splitmix64(idx+stream<<56))
	r.pcg.Seed(a, b)
}

func newRNG(seed, stream, idx uint64) *rng {
	r := &rng{}
	r.seed(seed, stream, idx)
	return r
}

func (r *rng) uint64() uint64 { return r.pcg.Uint64() }

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.pcg.Uint64()>>11) * 0x1p-53 }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// intn returns a number in [0, n); n > 0.
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.pcg.Uint64(), uint64(n))
	return int(hi)
}

// exp returns an exponentially distributed number with mean 1.
func (r *rng) exp() float64 { return -math.Log(1 - r.float()) }

// norm returns a standard normal number (Box-Muller).
func (r *rng) norm() float64 {
	u := 1 - r.float() // (0, 1]
	v := r.float()
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*v)
}

// logNormal returns a log-normal number with the given median and sigma.
func (r *rng) logNormal(median, sigma float64) float64 {
	return median * math.Exp(sigma*r.norm())
}

// pick returns an index drawn from cumulative weights cum (increasing, the
// last being the total).
func (r *rng) pick(cum []float64) int {
	x := r.float() * cum[len(cum)-1]
	lo, hi := 0, len(cum)-1
	for lo < hi {
		m := (lo + hi) / 2
		if cum[m] > x {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}
