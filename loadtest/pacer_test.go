package loadtest

import (
	"errors"
	"math"
	"testing"
	"time"
)

// near reports whether two durations are within tol of each other.
func near(a, b, tol time.Duration) bool {
	d := a - b
	return d >= -tol && d <= tol
}

func TestPacerDue(t *testing.T) {
	const tol = time.Microsecond
	tests := []struct {
		name  string
		p     Pacer
		n     uint64
		want  time.Duration
		never bool
	}{
		{"constant first", Constant{1000}, 0, 0, false},
		{"constant 1000/s", Constant{1000}, 1, time.Millisecond, false},
		{"constant 1000/s, 5000th", Constant{1000}, 5000, 5 * time.Second, false},
		{"constant 3/s", Constant{3}, 1, time.Second / 3, false},
		{"constant 0 stops", Constant{0}, 0, 0, true},
		// From 0 to 100/s over 1 s: 50·t² started by t.
		{"ramp up first", Ramp{0, 100, time.Second}, 0, 0, false},
		{"ramp up 2nd", Ramp{0, 100, time.Second}, 2, 200 * time.Millisecond, false},
		{"ramp up 50th", Ramp{0, 100, time.Second}, 50, time.Second, false},
		{"ramp up then steady", Ramp{0, 100, time.Second}, 150, 2 * time.Second, false},
		// From 100/s to 0 over 2 s: 100 started in all.
		{"ramp down 75th", Ramp{100, 0, 2 * time.Second}, 75, time.Second, false},
		{"ramp down ends", Ramp{100, 0, 2 * time.Second}, 101, 0, true},
		{"ramp flat", Ramp{10, 10, time.Second}, 25, 2500 * time.Millisecond, false},
		// Sine 100 ± 100/s over 2 s: 200 per period; half a period has
		// 100 + 200/π.
		{"sine first", Sine{100, 100, 2 * time.Second}, 0, 0, false},
		{"sine period", Sine{100, 100, 2 * time.Second}, 200, 2 * time.Second, false},
		{"sine two periods", Sine{100, 100, 2 * time.Second}, 400, 4 * time.Second, false},
		{"sine no amplitude", Sine{50, 0, time.Second}, 25, 500 * time.Millisecond, false},
		{"sine zero stops", Sine{0, 0, time.Second}, 1, 0, true},
		// Diurnal, a day of 24 s averaging 100/s: 2400 per day.
		{"diurnal first", Diurnal{100, 24 * time.Second, "retail"}, 0, 0, false},
		{"diurnal day", Diurnal{100, 24 * time.Second, "retail"}, 2400, 24 * time.Second, false},
		{"diurnal two days", Diurnal{100, 24 * time.Second, "news"}, 4800, 48 * time.Second, false},
		{"diurnal zero stops", Diurnal{0, 24 * time.Second, "retail"}, 1, 0, true},
		{"diurnal unknown profile stops", Diurnal{100, 24 * time.Second, "nope"}, 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.p.Due(tt.n)
			if ok == tt.never {
				t.Fatalf("%v.Due(%d) ok = %v; want %v", tt.p, tt.n, ok, !tt.never)
			}
			if ok && !near(got, tt.want, tol) {
				t.Errorf("%v.Due(%d) = %v; want %v", tt.p, tt.n, got, tt.want)
			}
		})
	}
}

// retailMean is the mean of the retail profile's hourly levels: they sum
// to 23.32.
const retailMean = 23.32 / 24

// count returns how many operations p starts in [0, d), by Due.
func count(p Pacer, d time.Duration) uint64 {
	var n uint64
	for {
		at, ok := p.Due(n)
		if !ok || at >= d {
			return n
		}
		n++
	}
}

func TestPacerShapes(t *testing.T) {
	tests := []struct {
		name     string
		p        Pacer
		from, to time.Duration
		want     float64 // operations started in [from, to)
	}{
		{"constant", Constant{200}, 0, 3 * time.Second, 600},
		{"ramp: mean of the ends", Ramp{100, 300, 2 * time.Second}, 0, 2 * time.Second, 400},
		{"ramp: steady after", Ramp{100, 300, 2 * time.Second}, 2 * time.Second, 4 * time.Second, 600},
		// Rising half of a sine: 100·1 + 50·(1/π)·2… = 100 + 100/π per
		// second of a 2 s period.
		{"sine rising half", Sine{100, 50, 2 * time.Second}, 0, time.Second, 100 + 100/math.Pi},
		{"sine falling half", Sine{100, 50, 2 * time.Second}, time.Second, 2 * time.Second, 100 - 100/math.Pi},
		// Retail: the night (4-5 am, 0.20-0.22) is far below the afternoon
		// (1-2 pm, 1.50-1.45).
		{"diurnal night", Diurnal{1000, 24 * time.Second, "retail"}, 4 * time.Second, 5 * time.Second, 1000 * 0.21 / retailMean},
		{"diurnal afternoon", Diurnal{1000, 24 * time.Second, "retail"}, 13 * time.Second, 14 * time.Second, 1000 * 1.475 / retailMean},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := float64(count(tt.p, tt.to)) - float64(count(tt.p, tt.from))
			if math.Abs(got-tt.want) > 1.5 {
				t.Errorf("%v started %v in [%v, %v); want %.1f", tt.p, got, tt.from, tt.to, tt.want)
			}
		})
	}
}

func TestPacerRate(t *testing.T) {
	tests := []struct {
		p    Pacer
		at   time.Duration
		want float64
	}{
		{Constant{42}, time.Hour, 42},
		{Ramp{100, 300, 2 * time.Second}, 0, 100},
		{Ramp{100, 300, 2 * time.Second}, time.Second, 200},
		{Ramp{100, 300, 2 * time.Second}, time.Minute, 300},
		{Sine{100, 50, 4 * time.Second}, 0, 100},
		{Sine{100, 50, 4 * time.Second}, time.Second, 150},
		{Sine{100, 50, 4 * time.Second}, 3 * time.Second, 50},
		{Diurnal{1000, 24 * time.Second, "retail"}, 4 * time.Second, 1000 * 0.20 / retailMean},
		{Diurnal{1000, 24 * time.Second, "retail"}, 4500 * time.Millisecond, 1000 * 0.21 / retailMean},
		{Diurnal{1000, 24 * time.Second, "retail"}, 28 * time.Second, 1000 * 0.20 / retailMean},
	}
	for _, tt := range tests {
		t.Run(tt.p.String()+"@"+tt.at.String(), func(t *testing.T) {
			if got := tt.p.Rate(tt.at); math.Abs(got-tt.want) > 1e-6*tt.want+1e-9 {
				t.Errorf("%v.Rate(%v) = %v; want %v", tt.p, tt.at, got, tt.want)
			}
		})
	}
}

// TestPacerMonotone checks that every pacer's schedule never goes back in
// time and that Due inverts the count of operations.
func TestPacerMonotone(t *testing.T) {
	for _, p := range []Pacer{
		Constant{1234.5}, Ramp{10, 5000, 3 * time.Second}, Ramp{5000, 10, 3 * time.Second},
		Sine{1000, 1000, time.Second}, Sine{1000, 300, 700 * time.Millisecond},
		Diurnal{3000, 2400 * time.Millisecond, "retail"}, Diurnal{3000, time.Second, "news"},
	} {
		t.Run(p.String(), func(t *testing.T) {
			prev := time.Duration(-1)
			for n := uint64(0); n < 20_000; n++ {
				at, ok := p.Due(n)
				if !ok {
					t.Fatalf("%v.Due(%d) never", p, n)
				}
				if at < prev {
					t.Fatalf("%v.Due(%d) = %v, before Due(%d) = %v", p, n, at, n-1, prev)
				}
				prev = at
			}
		})
	}
}

func TestPace(t *testing.T) {
	tests := []struct {
		name     string
		p        Pacer
		elapsed  time.Duration
		hits     uint64
		wait     time.Duration
		wantStop bool
	}{
		{"first at once", Constant{10}, 0, 0, 0, false},
		{"ahead: wait", Constant{10}, 50 * time.Millisecond, 1, 50 * time.Millisecond, false},
		{"on time", Constant{10}, 100 * time.Millisecond, 1, 0, false},
		{"behind: at once", Constant{10}, time.Second, 2, 0, false},
		{"zero rate stops", Constant{0}, 0, 0, 0, true},
		{"ramp ahead", Ramp{0, 100, time.Second}, 100 * time.Millisecond, 2, 100 * time.Millisecond, false},
		{"ramp to zero ends", Ramp{100, 0, 2 * time.Second}, 5 * time.Second, 101, 0, true},
		{"sine ahead", Sine{100, 100, 2 * time.Second}, time.Second, 200, time.Second, false},
		{"diurnal ahead", Diurnal{100, 24 * time.Second, "retail"}, 0, 2400, 24 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wait, stop := tt.p.Pace(tt.elapsed, tt.hits)
			if stop != tt.wantStop || !near(wait, tt.wait, time.Microsecond) {
				t.Errorf("%v.Pace(%v, %d) = %v, %v; want %v, %v", tt.p, tt.elapsed, tt.hits, wait, stop, tt.wait, tt.wantStop)
			}
		})
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want Pacer
	}{
		{"1000", Constant{1000}},
		{"0", Constant{0}},
		{"2.5", Constant{2.5}},
		{"1000/s", Constant{1000}},
		{"500/100ms", Constant{5000}},
		{"60/m", Constant{1}},
		{"3600/1h", Constant{1}},
		{"constant:7", Constant{7}},
		{"ramp:100:2000:30s", Ramp{100, 2000, 30 * time.Second}},
		{"ramp:10/ms:0:1m", Ramp{10000, 0, time.Minute}},
		{"sine:1000:500:1m", Sine{1000, 500, time.Minute}},
		{"sine:1000:1000:10s", Sine{1000, 1000, 10 * time.Second}},
		{"diurnal:2000:24s", Diurnal{2000, 24 * time.Second, "retail"}},
		{"diurnal:2000:24s:news", Diurnal{2000, 24 * time.Second, "news"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if err != nil {
				t.Fatalf("ParseRate(%q) error %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseRate(%q) = %#v; want %#v", tt.in, got, tt.want)
			}
			back, err := ParseRate(got.String())
			if err != nil || back != got {
				t.Errorf("ParseRate(%q) = %#v, %v; want %#v", got.String(), back, err, got)
			}
		})
	}
	for _, in := range []string{
		"", "fast", "-1", "NaN", "Inf", "1e10", "10/0s", "10/-1s", "10/x",
		"ramp:1:2", "ramp:1:2:0s", "ramp:a:2:1s", "ramp:1:2:1s:4",
		"sine:100:200:1s", "sine:100:50", "sine:100:50:-1s",
		"diurnal:100", "diurnal:100:0s", "diurnal:100:24s:shop", "diurnal:100:24s:retail:x",
		"square:1:2", "constant:", "constant:1:2",
	} {
		t.Run("bad "+in, func(t *testing.T) {
			if p, err := ParseRate(in); !errors.Is(err, ErrBadRate) {
				t.Errorf("ParseRate(%q) = %v, %v; want ErrBadRate", in, p, err)
			}
		})
	}
}
