package loadtest

import (
	"strings"
	"testing"
	"time"
	"unicode"
)

// FuzzParseRate checks that every rate ParseRate accepts prints back to
// itself and gives a schedule that never goes back in time.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"1000", "500/100ms", "ramp:100:2000:30s", "sine:1000:500:1m", "diurnal:2000:24s:news", "constant:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseRate(s)
		if err != nil {
			return
		}
		back, err := ParseRate(p.String())
		if err != nil || back != p {
			t.Fatalf("ParseRate(%q) = %#v; ParseRate(%q) = %#v, %v", s, p, p.String(), back, err)
		}
		prev := time.Duration(-1)
		for _, n := range []uint64{0, 1, 2, 10, 1000, 1 << 20} {
			at, ok := p.Due(n)
			if !ok {
				break
			}
			if at < prev {
				t.Fatalf("%v: Due(%d) = %v before an earlier operation's %v", p, n, at, prev)
			}
			prev = at
			if wait, stop := p.Pace(at, n); stop || wait != 0 {
				t.Fatalf("%v.Pace(%v, %d) = %v, %v; want 0, false at its own due time", p, at, n, wait, stop)
			}
		}
		if r := p.Rate(time.Second); r < 0 || r != r {
			t.Fatalf("%v.Rate(1s) = %v", p, r)
		}
	})
}

// FuzzParseThreshold checks that every threshold ParseThreshold accepts
// prints back to itself, without white space, and reads the same with
// spaces around its parts.
func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{"query:p99<2ms", "p99.9<=10ms", "ingest:events/s>=200000", "error-rate<0.1%", "late<1",
		"p99 < 2ms", " query : p99 <= 10ms ", "errors < = 1", "p99 < 2 ms"} {
		f.Add(s)
	}
	r := fixedResult()
	f.Fuzz(func(t *testing.T, s string) {
		th, err := ParseThreshold(s)
		if err != nil {
			return
		}
		back, err := ParseThreshold(th.String())
		if err != nil || back != th {
			t.Fatalf("ParseThreshold(%q) = %+v; ParseThreshold(%q) = %+v, %v", s, th, th.String(), back, err)
		}
		if strings.ContainsFunc(th.String(), unicode.IsSpace) {
			t.Fatalf("ParseThreshold(%q).String() = %q; want no white space", s, th.String())
		}
		_, value, _ := strings.Cut(th.String(), th.Op)
		spaced := " " + th.Metric + " " + th.Op + " " + value + " "
		if th.Kind != "all" {
			spaced = " " + th.Kind + " :" + spaced
		}
		if back, err := ParseThreshold(spaced); err != nil || back != th {
			t.Fatalf("ParseThreshold(%q) = %+v, %v; want %+v, as without the spaces", spaced, back, err, th)
		}
		_ = th.Check(r).String()
	})
}

// FuzzParseMix checks that every mix ParseMix accepts prints back to
// itself and picks only kinds of positive weight.
func FuzzParseMix(f *testing.F) {
	for _, s := range []string{"query=80,feed=10,ingest=5,walk=5", "ingest=1", "walk=0.5,query=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMix(s)
		if err != nil {
			return
		}
		back, err := ParseMix(m.String())
		if err != nil || back != m {
			t.Fatalf("ParseMix(%q) = %v; ParseMix(%q) = %v, %v", s, m, m.String(), back, err)
		}
		for _, u := range []float64{0, 0.25, 0.5, 0.999999} {
			if k := m.pick(u); m[k] <= 0 {
				t.Fatalf("%v.pick(%v) = %v, of weight 0", m, u, k)
			}
		}
	})
}
