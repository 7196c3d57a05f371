// Package plot draws the charts of the project's HTML reports as inline
// SVG: line charts of several series over time (LineChart), and bar
// charts of categories, one bar to each or a group of bars (BarChart).
//
// A chart's SVG stands alone: no script, no font, no stylesheet and no
// image from elsewhere, so that a report is one file that opens anywhere.
// Every chart has its title, axes with ticks and their units, a legend
// when it has several series, and the numbers on hover: each bar, and
// each x of a line chart, carries an SVG <title> with its values.
//
// It is the drawing code of the project's own reports (loadtest,
// simulate, campaign report), beside the engine rather than part of it.
//
// A chart is a plain struct; its SVG method returns the markup for an
// html/template page, WriteSVG writes it:
//
//	c := plot.LineChart{
//		Title:  "Operations per second",
//		X:      plot.Axis{Label: "time since start", Time: true},
//		Y:      plot.Axis{Label: "operations/s"},
//		Series: []plot.Series{{Name: "query", Points: pts}},
//	}
//	page.Throughput = c.SVG()
//
// # Caveats
//
// Text widths are estimated from the number of characters, not measured:
// the layout leaves room for labels of an 11-pixel sans-serif font.
package plot

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Point is a point of a line: a NaN Y leaves a gap in it.
type Point struct{ X, Y float64 }

// Series is one line of a LineChart.
type Series struct {
	// Name is the line's name, in the legend and the hover text.
	Name string
	// Colour is a CSS colour such as "#1f77b4". Default: Colour(i) for
	// the i-th series.
	Colour string
	// Dash draws the line dashed.
	Dash bool
	// Points are the line's points, in increasing X. A NaN Y, or one at
	// most 0 on a logarithmic axis, leaves a gap.
	Points []Point
}

// Bars is one series of a BarChart: a bar for each category.
type Bars struct {
	// Name is the series' name, in the legend and the hover text.
	Name string
	// Colour is a CSS colour. Default: Colour(i) for the i-th series.
	Colour string
	// Colours, if set, has a colour for each value, in place of Colour
	// (an empty one keeps it): a funnel's stages, say. Default: none.
	Colours []string
	// Values has one value for each of the chart's categories; a missing
	// or NaN one draws no bar.
	Values []float64
	// Labels, if set, has a text for each value, shown beside its bar
	// where there is room (always on a horizontal chart) and in its hover
	// text: "1,234 (12.0%)". Default: none.
	Labels []string
}

// Axis describes an axis of a chart.
type Axis struct {
	// Label is the axis's title, with the unit where the values have one:
	// "latency", "operations/s", "time since start".
	Label string
	// Format writes a value as the tick labels and hover texts show it.
	// Default: Duration on a Time axis, Number on another.
	Format func(float64) string
	// Log makes the axis logarithmic: ticks at powers of ten, values at
	// most 0 not drawn. Only the value axis of a LineChart may be.
	Log bool
	// Time says the values are seconds (elapsed, or since the Unix epoch):
	// ticks fall on round durations, such as 15 s, 5 min, 6 h or 1 day.
	Time bool
	// Step is the distance between ticks of a linear axis. Default: a
	// round one that gives about five ticks, or as many as the labels
	// have room for.
	Step float64
}

// palette holds the default colours of series, well apart from each
// other.
var palette = [...]string{
	"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
	"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
}

// Colour returns the i-th colour of the default palette (it repeats
// after ten), for pages that keep a series' colour across charts.
func Colour(i int) string {
	return palette[((i%len(palette))+len(palette))%len(palette)]
}

// Number writes v for a person: whole numbers above 100 with thousands
// separators ("12,345"), smaller ones with up to three significant
// figures ("12.5", "0.25").
func Number(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "–"
	case math.Abs(v) >= 100 || v == math.Trunc(v):
		return group(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	}
	s := strconv.FormatFloat(v, 'g', 3, 64)
	if strings.ContainsAny(s, "e") {
		s = strconv.FormatFloat(v, 'f', -1, 64)
	}
	return s
}

// group puts thousands separators in an integer's digits.
func group(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Percent writes a fraction as a percentage with up to one decimal:
// 0.125 is "12.5%", 0.5 is "50%".
func Percent(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return trimZeros(strconv.FormatFloat(100*v, 'f', 1, 64)) + "%"
}

// Duration writes v seconds as a duration with three significant figures
// at most: "950ns", "12.3µs", "1.5ms", "2s", "1m30s", "2h", "3d12h".
func Duration(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	if v < 0 {
		return "-" + Duration(-v)
	}
	if v == 0 {
		return "0s"
	}
	for _, u := range []struct {
		name string
		size float64
	}{{"ns", 1e-9}, {"µs", 1e-6}, {"ms", 1e-3}, {"s", 1}} {
		if x := v / u.size; u.name != "s" && x < 999.5 || u.name == "s" && x < 59.95 {
			return sig3(x) + u.name
		}
	}
	d := time.Duration(math.Round(v)) * time.Second
	var b strings.Builder
	if days := d / (24 * time.Hour); days > 0 {
		b.WriteString(strconv.FormatInt(int64(days), 10) + "d")
		d -= days * 24 * time.Hour
		d = d.Round(time.Hour) // a number of days shows hours, no finer
	}
	if h := d / time.Hour; h > 0 {
		b.WriteString(strconv.FormatInt(int64(h), 10) + "h")
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		b.WriteString(strconv.FormatInt(int64(m), 10) + "m")
		d -= m * time.Minute
	}
	if s := d / time.Second; s > 0 {
		b.WriteString(strconv.FormatInt(int64(s), 10) + "s")
	}
	return b.String()
}

// sig3 writes x, below 1000, with three significant figures, trailing
// zeros dropped.
func sig3(x float64) string {
	switch {
	case x >= 99.95:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x >= 9.995:
		return trimZeros(strconv.FormatFloat(x, 'f', 1, 64))
	}
	return trimZeros(strconv.FormatFloat(x, 'f', 2, 64))
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func (a *Axis) format(v float64) string {
	switch {
	case a.Format != nil:
		return a.Format(v)
	case a.Time:
		return Duration(v)
	}
	return Number(v)
}
