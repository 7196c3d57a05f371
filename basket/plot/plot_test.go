package plot

import (
	"bytes"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fixedCharts are charts of fixed content, one of each kind and shape.
func fixedCharts() map[string]interface{ WriteSVG(io.Writer) error } {
	var p50, p99, pmax, ops []Point
	for i := range 120 {
		x := float64(i + 2)
		p50 = append(p50, Point{x, 0.0008 + 0.0001*float64(i%7)})
		p99 = append(p99, Point{x, 0.003 + 0.0005*float64(i%11)})
		pmax = append(pmax, Point{x, 0.01 + 0.002*float64(i%13)})
		y := 1000 + 10*float64(i)
		if i >= 50 && i < 55 {
			y = math.NaN() // a gap
		}
		ops = append(ops, Point{x, y})
	}
	return map[string]interface{ WriteSVG(io.Writer) error }{
		"line-log": LineChart{
			Title: "query latency per second",
			X:     Axis{Label: "time since start", Time: true},
			Y:     Axis{Label: "latency", Log: true, Format: Duration},
			Series: []Series{
				{Name: "p50", Points: p50}, {Name: "p99", Points: p99}, {Name: "max", Points: pmax, Dash: true},
			},
		},
		"line-linear": LineChart{
			Title:  "Operations per second",
			X:      Axis{Label: "time since start", Time: true},
			Y:      Axis{Label: "operations/s"},
			Series: []Series{{Name: "query", Points: ops}, {Name: "errors", Colour: "#d62728", Points: []Point{{2, 0}, {60, 3}, {121, 0}}}},
		},
		"line-empty": LineChart{Title: "Nothing <yet> & more", X: Axis{Label: "day"}, Y: Axis{Label: "sent"}},
		"bars-vertical": BarChart{
			Title: "Baskets created by hour of day", Category: "hour of day (local time)",
			Value:      Axis{Label: "baskets"},
			Categories: []string{"00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20", "21", "22", "23"},
			Series: []Bars{{Name: "created", Values: []float64{
				120, 80, 40, 30, 25, 40, 90, 300, 700, 900, 1000, 1100, 1300, 1200, 1100, 1000, 1050, 1200, 1500, 1800, 1900, 1400, 800, 300}}},
		},
		"bars-turned": BarChart{
			Title: "Grouped, with long names", Width: 420,
			Value:      Axis{Label: "share", Format: Percent},
			Categories: []string{"newsletter-weekly", "social-paid", "direct", "search-organic"},
			Series: []Bars{
				{Name: "abandoned", Values: []float64{0.7, 0.5, 0.61, 0.4}},
				{Name: "contactable", Values: []float64{0.9, 0.3, math.NaN(), 0.2}},
			},
		},
		"bars-horizontal": BarChart{
			Title: "Funnel", Horizontal: true,
			Value:      Axis{Label: "baskets"},
			Categories: []string{"created", "contactable", "completed", "abandoned", "returned on their own"},
			Series: []Bars{{Name: "baskets", Values: []float64{24000, 9000, 7000, 17000, 2000},
				Labels: []string{"24,000", "9,000 · 37.5%", "7,000 · 29.2%", "17,000 · 70.8%", "2,000 · 11.8% of abandoned"}}},
		},
		"bars-horizontal-grouped": BarChart{
			Title: "By device", Horizontal: true, Category: "device",
			Value:      Axis{Label: "baskets"},
			Categories: []string{"mobile", "desktop", "tablet"},
			Series: []Bars{
				{Name: "created", Values: []float64{12000, 9000, 3000}},
				{Name: "completed", Values: []float64{3000, 3500, 500}},
				{Name: "abandoned", Values: []float64{9000, 5500, 2500}},
			},
		},
	}
}

// golden compares got with testdata/name.golden, or rewrites it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n%s", name, got)
	}
}

func TestChartsGolden(t *testing.T) {
	for name, c := range fixedCharts() {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := c.WriteSVG(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, name, b.Bytes())
		})
	}
}

func TestChartsWellFormed(t *testing.T) {
	for name, c := range fixedCharts() {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := c.WriteSVG(&b); err != nil {
				t.Fatal(err)
			}
			if err := CheckSelfContained(b.String()); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestCheckSelfContained(t *testing.T) {
	for _, tt := range []struct {
		doc  string
		want string // in the error; "" for none
	}{
		{`<svg xmlns="http://www.w3.org/2000/svg"><title>a &amp; b</title></svg>`, ""},
		{`<svg xmlns="http://www.w3.org/2000/svg"><rect></svg>`, "well-formed"},
		{`<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>`, "script"},
		{`<svg xmlns="http://www.w3.org/2000/svg"><image href="https://example.com/a.png"/></svg>`, "https://"},
		{`<svg xmlns="http://www.w3.org/2000/svg"><a href="http://example.com/">x</a></svg>`, "http://"},
		{`<svg xmlns="http://www.w3.org/2000/svg"><style>@import url(x.css)</style></svg>`, "url("},
		{`<div></div>`, "no <svg"},
	} {
		err := CheckSelfContained(tt.doc)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckSelfContained(%q) = %v; want nil", tt.doc, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("CheckSelfContained(%q) = %v; want an error about %q", tt.doc, err, tt.want)
		}
	}
}

// TestHoverTitles: every x of a line chart has its values on hover, and
// every bar its own.
func TestHoverTitles(t *testing.T) {
	lc := LineChart{
		X: Axis{Time: true}, Y: Axis{Format: Duration},
		Series: []Series{
			{Name: "p50", Points: []Point{{1, 0.001}, {2, 0.002}, {3, math.NaN()}}},
			{Name: "p99", Points: []Point{{1, 0.005}, {3, 0.007}}},
		},
	}
	svg := string(lc.SVG())
	for _, want := range []string{
		"<title>1s\np50: 1ms\np99: 5ms</title>",
		"<title>2s\np50: 2ms</title>",
		"<title>3s\np99: 7ms</title>",
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("line chart lacks %q:\n%s", want, svg)
		}
	}
	bc := BarChart{Categories: []string{"a", "b"}, Series: []Bars{{Name: "n", Values: []float64{3, 1500}, Labels: []string{"", "1,500 (99%)"}}}}
	svg = string(bc.SVG())
	for _, want := range []string{"<title>a\nn: 3</title>", "<title>b\nn: 1,500 (99%)</title>"} {
		if !strings.Contains(svg, want) {
			t.Errorf("bar chart lacks %q:\n%s", want, svg)
		}
	}
}

// TestLineGaps: a NaN breaks a line in two; a value at most 0 on a log
// axis too.
func TestLineGaps(t *testing.T) {
	for _, tt := range []struct {
		log  bool
		ys   []float64
		want int // polylines
	}{
		{false, []float64{1, 2, 3, 4}, 1},
		{false, []float64{1, 2, math.NaN(), 4, 5}, 2},
		{false, []float64{1, math.NaN(), 3, math.NaN(), 5}, 0},
		{true, []float64{1, 2, 0, 4, 5}, 2},
		{false, []float64{1, 2, 0, 4, 5}, 1},
	} {
		var pts []Point
		for i, y := range tt.ys {
			pts = append(pts, Point{float64(i), y})
		}
		svg := string(LineChart{Y: Axis{Log: tt.log}, Series: []Series{{Points: pts}}}.SVG())
		if got := strings.Count(svg, "<polyline"); got != tt.want {
			t.Errorf("a line of %v (log %v) is drawn in %d pieces; want %d", tt.ys, tt.log, got, tt.want)
		}
	}
}

// TestTicks: ticks are round, within the room their labels need.
func TestTicks(t *testing.T) {
	labels := func(ts []tick) string {
		var ls []string
		for _, t := range ts {
			ls = append(ls, t.label)
		}
		return strings.Join(ls, " ")
	}
	for _, tt := range []struct {
		name   string
		a      Axis
		lo, hi float64
		length float64
		want   string
	}{
		{"counts", Axis{}, 0, 1234, 250, "0 500 1,000 1,500"},
		{"fractions", Axis{Format: Percent}, 0, 0.73, 250, "0% 20% 40% 60% 80%"},
		{"seconds", Axis{Time: true}, 0, 100, 600, "0s 30s 1m 1m30s 2m"},
		{"minutes", Axis{Time: true}, 0, 3600, 600, "0s 15m 30m 45m 1h"},
		{"narrow", Axis{Time: true}, 0, 3600, 120, "0s 30m 1h"},
		{"days", Axis{Time: true, Step: 86400}, 0, 3 * 86400, 600, "0s 1d 2d 3d"},
	} {
		gap := 18.0
		if tt.name == "counts" || tt.name == "fractions" {
			gap = 0
		}
		ts, _, _ := linearTicks(&tt.a, tt.lo, tt.hi, tt.length, 5, gap, true)
		if got := labels(ts); got != tt.want {
			t.Errorf("%s: ticks of [%v, %v] = %q; want %q", tt.name, tt.lo, tt.hi, got, tt.want)
		}
	}
	a := Axis{Format: Duration}
	if got, want := labels(logTicks(&a, -4, -2)), "100µs 200µs 500µs 1ms 2ms 5ms 10ms"; got != want {
		t.Errorf("log ticks over 2 decades = %q; want %q", got, want)
	}
	if got, want := labels(logTicks(&a, -7, 2)), "100ns 10µs 1ms 100ms 10s"; got != want {
		t.Errorf("log ticks over 9 decades = %q; want %q", got, want)
	}
}

func TestFormats(t *testing.T) {
	for _, tt := range []struct {
		f    func(float64) string
		v    float64
		want string
	}{
		{Number, 0, "0"}, {Number, 12.5, "12.5"}, {Number, 0.25, "0.25"}, {Number, 0.000123, "0.000123"},
		{Number, 999.7, "1,000"}, {Number, 1234567, "1,234,567"}, {Number, -4200, "-4,200"}, {Number, math.NaN(), "–"},
		{Percent, 0.125, "12.5%"}, {Percent, 0.5, "50%"}, {Percent, 1, "100%"},
		{Duration, 0, "0s"}, {Duration, 950e-9, "950ns"}, {Duration, 12.34e-6, "12.3µs"}, {Duration, 0.0015, "1.5ms"},
		{Duration, 0.9996, "1s"}, {Duration, 2, "2s"}, {Duration, 59.5, "59.5s"}, {Duration, 90, "1m30s"},
		{Duration, 7200, "2h"}, {Duration, 3*86400 + 12*3600, "3d12h"}, {Duration, -0.002, "-2ms"},
	} {
		if got := tt.f(tt.v); got != tt.want {
			t.Errorf("format(%v) = %q; want %q", tt.v, got, tt.want)
		}
	}
}

func TestColour(t *testing.T) {
	if Colour(0) != Colour(10) || Colour(-1) != Colour(9) || Colour(0) == Colour(1) {
		t.Errorf("Colour(0), (10), (-1), (9), (1) = %s %s %s %s %s; want a palette of ten", Colour(0), Colour(10), Colour(-1), Colour(9), Colour(1))
	}
}

// TestBarColours: a bar's own colour overrides its series'.
func TestBarColours(t *testing.T) {
	c := BarChart{Categories: []string{"a", "b", "c"}, Series: []Bars{{Colour: "#111111", Values: []float64{1, 2, 3}, Colours: []string{"#222222", ""}}}}
	svg := string(c.SVG())
	for colour, want := range map[string]int{"#111111": 2, "#222222": 1} {
		if got := strings.Count(svg, `fill="`+colour+`"`); got != want {
			t.Errorf("%d bars of %s; want %d:\n%s", got, colour, want, svg)
		}
	}
}
