package benchmarks

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// Epoch is the end of the populations' created range and the engine's fixed
// clock: with the default TTL of 14 days no basket expires.
var Epoch = time.Date(2024, 3, 27, 12, 0, 0, 0, time.UTC)

// Spread is the span of created times before Epoch.
const Spread = 14*24*time.Hour - time.Hour

// catalogue is a news publisher's handful of offers, one product each; the
// baskets share these slices as an engine shares interned strings.
var catalogue = func() [][]basket.OrderItem {
	offers := []struct{ name, product, code string }{
		{"The Offer", "Digital All Access", "SKU-00000001"},
		{"Weekend Print and Digital", "Weekend Print", "SKU-00000002"},
		{"Student Digital", "Digital Basic", "SKU-00000003"},
		{"Puzzles", "Crosswords and Puzzles", "SKU-00000004"},
		{"Cooking", "Cooking", "SKU-00000005"},
		{"Annual All Access", "Digital All Access", "SKU-00000006"},
	}
	out := make([][]basket.OrderItem, len(offers))
	for i, o := range offers {
		out[i] = []basket.OrderItem{{
			Name:     o.name,
			Path:     "/offers2/" + o.name,
			Products: []basket.Product{{Path: "/products/" + o.product, ProductCode: o.code}},
		}}
	}
	return out
}()

var (
	firstNames = []string{"ann", "bob", "chloe", "dev", "emma", "farid", "grace", "hugo"}
	domains    = []string{"example.com", "mail.example.org", "news.example.net"}
)

// Generator makes typical abandoned baskets (one offer, one SSO identity,
// an email), deterministically for its seed.
type Generator struct {
	rng    *rand.Rand
	label  string
	spread int64 // ms
	seq    int
}

// NewGenerator returns a generator of baskets created within spread before
// Epoch. label goes into every email, so that generators with different
// labels never share an email; ids are random and do not collide in
// practice.
func NewGenerator(seed uint64, label string, spread time.Duration) *Generator {
	return &Generator{
		rng:    rand.New(rand.NewPCG(seed, 0xba5ce7)),
		label:  label,
		spread: max(1, spread.Milliseconds()),
	}
}

func (g *Generator) uuid() string {
	a, c := g.rng.Uint64(), g.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, a>>16&0xffff, a&0xffff, c>>48, c&0xffffffffffff)
}

// Next returns a new basket.
func (g *Generator) Next() basket.Basket {
	g.seq++
	return basket.Basket{
		ID:      "basket-" + g.uuid(),
		Created: time.UnixMilli(Epoch.UnixMilli() - g.rng.Int64N(g.spread)).UTC(),
		CustomerDetails: basket.CustomerDetails{
			Email: fmt.Sprintf("%s.%s%d@%s", firstNames[g.seq%len(firstNames)], g.label, g.seq, domains[g.seq%len(domains)]),
		},
		OrderItems: catalogue[g.rng.IntN(len(catalogue))],
		Identities: []basket.Identity{{Sub: g.uuid(), Iss: "https://issuer.domain", Service: "salesforce", Type: "account"}},
		Entry:      "/checkout",
	}
}

// Population returns n baskets of NewGenerator(seed, "", Spread).
func Population(n int, seed uint64) []basket.Basket {
	g := NewGenerator(seed, "", Spread)
	out := make([]basket.Basket, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}
