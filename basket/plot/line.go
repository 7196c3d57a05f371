package plot

import (
	"cmp"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
)

// LineChart is a chart of lines over a common x axis, typically time.
type LineChart struct {
	// Title is written above the chart and is its accessible name.
	Title string
	// Width and Height are the chart's size in pixels. Default 760 × 300.
	Width, Height int
	// X is the horizontal axis; it spans the points' X from the least to
	// the greatest. Its Log is ignored.
	X Axis
	// Y is the vertical axis; a linear one starts at 0 (or below, for
	// negative values).
	Y Axis
	// Series are the lines, drawn in order, each in the legend.
	Series []Series
}

// markersUpTo is the most points a series may have to be drawn with a
// mark at each.
const markersUpTo = 60

// SVG returns the chart as an SVG element, for an html/template page.
func (c LineChart) SVG() template.HTML { return template.HTML(c.svg()) }

// WriteSVG writes the chart as an SVG document.
func (c LineChart) WriteSVG(w io.Writer) error {
	_, err := io.WriteString(w, c.svg())
	return err
}

func (c LineChart) svg() string {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 760
	}
	if h <= 0 {
		h = 300
	}
	var s svg
	s.begin(w, h, c.Title)

	top := 12.0
	if c.Title != "" {
		top = 34
	}
	y0, y1 := float64(h)-44, top // the plot's bottom and top
	var legend []legendEntry
	colours := make([]string, len(c.Series))
	for i, sr := range c.Series {
		colours[i] = cmp.Or(sr.Colour, Colour(i))
		if sr.Name != "" {
			legend = append(legend, legendEntry{name: sr.Name, colour: colours[i], dash: sr.Dash})
		}
	}

	// The domains.
	xlo, xhi := math.Inf(1), math.Inf(-1)
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for _, sr := range c.Series {
		for _, p := range sr.Points {
			if math.IsNaN(p.X) || math.IsInf(p.X, 0) {
				continue
			}
			xlo, xhi = min(xlo, p.X), max(xhi, p.X)
			if math.IsNaN(p.Y) || math.IsInf(p.Y, 0) || c.Y.Log && p.Y <= 0 {
				continue
			}
			ylo, yhi = min(ylo, p.Y), max(yhi, p.Y)
		}
	}
	if math.IsInf(xlo, 1) {
		xlo, xhi = 0, 1
	}
	empty := math.IsInf(ylo, 1)

	// The y axis, whose labels' width sets the left margin.
	ys := scale{a: y0, b: y1, log: c.Y.Log}
	var yticks []tick
	switch {
	case empty:
		ys.lo, ys.hi, ys.log = 0, 1, false
	case c.Y.Log:
		ys.lo, ys.hi = math.Floor(math.Log10(ylo)), math.Ceil(math.Log10(yhi))
		if ys.hi <= ys.lo {
			ys.hi = ys.lo + 1
		}
		yticks = logTicks(&c.Y, ys.lo, ys.hi)
	default:
		yticks, ys.lo, ys.hi = linearTicks(&c.Y, min(0, ylo), max(0, yhi), y0-y1, 5, 0, true)
	}
	labels := make([]string, len(yticks))
	for i, t := range yticks {
		labels[i] = t.label
	}
	x0 := 14 + maxTextW(labels) + 8
	if c.Y.Label != "" {
		x0 += 14
	}
	x1 := float64(w) - 16
	if len(legend) > 0 {
		x1 -= legendWidth(legend) + 8
	}
	x0, x1 = math.Round(x0), math.Round(x1)
	if xhi <= xlo {
		xlo, xhi = xlo-0.5, xhi+0.5
	}
	xs := scale{lo: xlo, hi: xhi, a: x0, b: x1}
	xticks, _, _ := linearTicks(&c.X, xlo, xhi, x1-x0, 6, 18, false)
	if last := xticks[len(xticks)-1]; len(legend) == 0 {
		// A tick's label at the end of the axis needs room.
		px, _ := xs.px(last.v)
		if over := px + textW(last.label)/2 + 4 - float64(w); over > 0 {
			x1 -= math.Ceil(over)
			xs.b = x1
			xticks, _, _ = linearTicks(&c.X, xlo, xhi, x1-x0, 6, 18, false)
		}
	}

	// Grid, axes and their labels.
	for _, t := range yticks {
		y, _ := ys.px(t.v)
		s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e6e6e6"/>`+"\n", f(x0), f(y), f(x1), f(y))
		s.text(x0-6, y+4, "end", t.label)
	}
	for _, t := range xticks {
		x, _ := xs.px(t.v)
		s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e6e6e6"/>`+"\n", f(x), f(y0), f(x), f(y1))
		s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333333"/>`+"\n", f(x), f(y0), f(x), f(y0+4))
		s.text(x, y0+16, "middle", t.label)
	}
	s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333333"/>`+"\n", f(x0), f(y0), f(x1), f(y0))
	s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333333"/>`+"\n", f(x0), f(y0), f(x0), f(y1))
	if c.X.Label != "" {
		s.text((x0+x1)/2, y0+34, "middle", c.X.Label)
	}
	if c.Y.Label != "" {
		s.printf(`<text transform="translate(14,%s) rotate(-90)" text-anchor="middle" fill="#333333">%s</text>`+"\n", f((y0+y1)/2), esc(c.Y.Label))
	}
	if empty {
		s.text((x0+x1)/2, (y0+y1)/2, "middle", "no data")
	}

	// The hover strips, one for each x (or every few of many), beneath
	// the lines, each titled with every series' value there.
	if !empty {
		c.hover(&s, &xs, y0, y1)
	}

	// The lines.
	s.b.WriteString(`<g fill="none" stroke-width="2" stroke-linejoin="round" pointer-events="none">` + "\n")
	for i, sr := range c.Series {
		var run []string
		flush := func() {
			if len(run) > 1 {
				s.printf(`<polyline stroke="%s"%s points="%s"/>`+"\n", esc(colours[i]), dashAttr(sr.Dash), strings.Join(run, " "))
			}
			run = run[:0]
		}
		for _, p := range sr.Points {
			x, okx := xs.px(p.X)
			y, oky := ys.px(p.Y)
			if !okx || !oky || empty {
				flush()
				continue
			}
			run = append(run, f(x)+","+f(y))
			if len(sr.Points) <= markersUpTo {
				s.printf(`<circle cx="%s" cy="%s" r="2.5" fill="%s" stroke="none"/>`+"\n", f(x), f(y), esc(colours[i]))
			}
		}
		flush()
	}
	s.b.WriteString("</g>\n")

	// The legend, to the right.
	for i, e := range legend {
		y := y1 + 6 + 18*float64(i)
		s.swatch(x1+12, y, e)
		s.text(x1+38, y+4, "start", e.name)
	}
	return s.end()
}

// hover draws the hover strips of the chart.
func (c *LineChart) hover(s *svg, xs *scale, y0, y1 float64) {
	var all []float64
	values := make([]map[float64]float64, len(c.Series))
	for i, sr := range c.Series {
		values[i] = make(map[float64]float64, len(sr.Points))
		for _, p := range sr.Points {
			if _, ok := values[i][p.X]; !ok && !math.IsNaN(p.X) && !math.IsInf(p.X, 0) {
				values[i][p.X] = p.Y
				all = append(all, p.X)
			}
		}
	}
	slices.Sort(all)
	all = slices.Compact(all)
	// Strips at least 3 pixels wide: every k-th x of many.
	if most := int((xs.b - xs.a) / 3); len(all) > most && most > 0 {
		k := (len(all) + most - 1) / most
		var kept []float64
		for i := 0; i < len(all); i += k {
			kept = append(kept, all[i])
		}
		all = kept
	}
	s.b.WriteString(`<g fill="#000000" fill-opacity="0">` + "\n")
	for i, x := range all {
		px, _ := xs.px(x)
		left, right := xs.a, xs.b
		if i > 0 {
			prev, _ := xs.px(all[i-1])
			left = (prev + px) / 2
		}
		if i+1 < len(all) {
			next, _ := xs.px(all[i+1])
			right = (px + next) / 2
		}
		var t strings.Builder
		t.WriteString(c.X.format(x))
		for j, sr := range c.Series {
			v, ok := values[j][x]
			if !ok || math.IsNaN(v) {
				continue
			}
			t.WriteString("\n")
			if sr.Name != "" {
				t.WriteString(sr.Name + ": ")
			}
			t.WriteString(c.Y.format(v))
		}
		s.printf(`<rect class="hover" x="%s" y="%s" width="%s" height="%s"><title>%s</title></rect>`+"\n",
			f(left), f(y1), f(right-left), f(y0-y1), esc(t.String()))
	}
	s.b.WriteString("</g>\n")
}
