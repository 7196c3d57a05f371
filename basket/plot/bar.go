package plot

import (
	"cmp"
	"html/template"
	"io"
	"math"
)

// BarChart is a chart of bars, one for each category, or a group of them
// (one of each series) for each category.
type BarChart struct {
	// Title is written above the chart and is its accessible name.
	Title string
	// Width and Height are the chart's size in pixels. Default: 760 wide;
	// 300 high, or on a horizontal chart as high as its bars need.
	Width, Height int
	// Categories name the bars, or the groups of bars, in order.
	Categories []string
	// Category is the title of the categories' axis: "hour of day".
	// Default none.
	Category string
	// Value is the axis of the bars' values, linear from 0. Its Log is
	// ignored.
	Value Axis
	// Series are the bars: with one, a bar for each category; with
	// several, a group for each, and a legend.
	Series []Bars
	// Horizontal draws the bars from the left, the categories one under
	// the other: long names stay readable.
	Horizontal bool
}

// SVG returns the chart as an SVG element, for an html/template page.
func (c BarChart) SVG() template.HTML { return template.HTML(c.svg()) }

// WriteSVG writes the chart as an SVG document.
func (c BarChart) WriteSVG(w io.Writer) error {
	_, err := io.WriteString(w, c.svg())
	return err
}

// bar is one bar, placed.
type bar struct {
	series, cat int
	v           float64
	label       string
	colour      string
}

func (c BarChart) svg() string {
	w := c.Width
	if w <= 0 {
		w = 760
	}
	n, ns := len(c.Categories), len(c.Series)
	colours := make([]string, ns)
	var legend []legendEntry
	for i, b := range c.Series {
		colours[i] = cmp.Or(b.Colour, Colour(i))
		if ns > 1 {
			legend = append(legend, legendEntry{name: b.Name, colour: colours[i], bar: true})
		}
	}
	lo, hi := 0.0, 0.0
	var bars []bar
	for i, b := range c.Series {
		for j := range n {
			if j >= len(b.Values) || math.IsNaN(b.Values[j]) || math.IsInf(b.Values[j], 0) {
				continue
			}
			v := b.Values[j]
			lo, hi = min(lo, v), max(hi, v)
			br := bar{series: i, cat: j, v: v, colour: colours[i]}
			if j < len(b.Colours) && b.Colours[j] != "" {
				br.colour = b.Colours[j]
			}
			if j < len(b.Labels) {
				br.label = b.Labels[j]
			}
			bars = append(bars, br)
		}
	}

	// The rows of the legend, under the title.
	top := 12.0
	if c.Title != "" {
		top = 34
	}
	type placed struct {
		x, y float64
		e    legendEntry
	}
	var legendAt []placed
	if len(legend) > 0 {
		x := 10.0
		for _, e := range legend {
			ew := 20 + textW(e.name) + 16
			if x > 10 && x+ew > float64(w)-10 {
				x, top = 10, top+18
			}
			legendAt = append(legendAt, placed{x, top + 4, e})
			x += ew
		}
		top += 22
	}
	if c.Horizontal && c.Category != "" {
		top += 16
	}

	h := c.Height
	rowH := 22.0
	if ns > 1 {
		rowH = 15*float64(ns) + 10
	}
	if c.Horizontal && h <= 0 {
		h = int(math.Ceil(top + float64(max(n, 1))*rowH + 44))
	}
	if h <= 0 {
		h = 300
	}
	var s svg
	s.begin(w, h, c.Title)
	for _, p := range legendAt {
		s.swatch(p.x, p.y, p.e)
		s.text(p.x+20, p.y+4, "start", p.e.name)
	}
	catW := maxTextW(c.Categories)

	if c.Horizontal {
		c.horizontal(&s, w, h, top, catW, lo, hi, bars)
	} else {
		c.vertical(&s, w, h, top, catW, lo, hi, bars)
	}
	if n == 0 || len(bars) == 0 {
		s.text(float64(w)/2, float64(h)/2, "middle", "no data")
	}
	return s.end()
}

// hoverText is a bar's title: its category, series and value.
func (c *BarChart) hoverText(b bar) string {
	t := c.Categories[b.cat] + "\n"
	if name := c.Series[b.series].Name; name != "" {
		t += name + ": "
	}
	if b.label != "" {
		return t + b.label
	}
	return t + c.Value.format(b.v)
}

// vertical draws the bars upwards, the categories along the bottom.
func (c *BarChart) vertical(s *svg, w, h int, top, catW, lo, hi float64, bars []bar) {
	n, ns := len(c.Categories), max(len(c.Series), 1)
	// The bottom margin holds the categories' names, turned if they are
	// too wide for their slots, and the axis's title.
	ylabels := func(y0 float64) []tick {
		ts, _, _ := linearTicks(&c.Value, lo, hi, y0-top, 5, 0, true)
		return ts
	}
	x0 := 14.0 + 8
	if c.Value.Label != "" {
		x0 += 14
	}
	tickLabels := func(ts []tick) []string {
		ls := make([]string, len(ts))
		for i, t := range ts {
			ls[i] = t.label
		}
		return ls
	}
	x0 = math.Round(x0 + maxTextW(tickLabels(ylabels(float64(h)-44))))
	x1 := float64(w) - 16
	slot := (x1 - x0) / float64(max(n, 1))
	turned := catW+6 > slot
	every := 1
	bottom := 24.0
	if turned {
		bottom = 14 + 0.65*catW
		every = int(math.Ceil(16 / slot))
	}
	if c.Category != "" {
		bottom += 16
	}
	y0 := math.Round(float64(h) - bottom)
	yticks, ylo, yhi := linearTicks(&c.Value, lo, hi, y0-top, 5, 0, true)
	ys := scale{lo: ylo, hi: yhi, a: y0, b: top}

	for _, t := range yticks {
		y, _ := ys.px(t.v)
		s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e6e6e6"/>`+"\n", f(x0), f(y), f(x1), f(y))
		s.text(x0-6, y+4, "end", t.label)
	}
	for j, cat := range c.Categories {
		if j%every != 0 {
			continue
		}
		x := x0 + slot*(float64(j)+0.5)
		if turned {
			s.printf(`<text transform="translate(%s,%s) rotate(-40)" text-anchor="end" fill="#333333">%s</text>`+"\n", f(x+3), f(y0+12), esc(cat))
		} else {
			s.text(x, y0+16, "middle", cat)
		}
	}
	if c.Category != "" {
		s.text((x0+x1)/2, float64(h)-8, "middle", c.Category)
	}
	if c.Value.Label != "" {
		s.printf(`<text transform="translate(14,%s) rotate(-90)" text-anchor="middle" fill="#333333">%s</text>`+"\n", f((y0+top)/2), esc(c.Value.Label))
	}
	group := slot * 0.8
	if ns == 1 {
		group = slot * 0.7
	}
	bw := group / float64(ns)
	zero, _ := ys.px(0)
	for _, b := range bars {
		x := x0 + slot*float64(b.cat) + (slot-group)/2 + bw*float64(b.series)
		y, _ := ys.px(b.v)
		s.printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`+"\n",
			f(x), f(min(y, zero)), f(max(bw-1, 1)), f(math.Abs(zero-y)), esc(b.colour), esc(c.hoverText(b)))
		if b.label != "" && textW(b.label)+2 <= bw {
			s.text(x+bw/2, min(y, zero)-4, "middle", b.label)
		}
	}
	s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333333"/>`+"\n", f(x0), f(zero), f(x1), f(zero))
	s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333333"/>`+"\n", f(x0), f(y0), f(x0), f(top))
}

// horizontal draws the bars rightwards, the categories down the left.
func (c *BarChart) horizontal(s *svg, w, h int, top, catW, lo, hi float64, bars []bar) {
	n, ns := len(c.Categories), max(len(c.Series), 1)
	x0 := math.Round(10 + catW + 8)
	right := float64(w) - 8 // where text must end
	x1 := float64(w) - 16
	y0 := float64(h) - 44
	rowH := (y0 - top) / float64(max(n, 1))
	xticks, xlo, xhi := linearTicks(&c.Value, lo, hi, x1-x0, 6, 18, true)
	// Narrow the axis until each bar's label fits after its end, and the
	// last tick's label, centred on the axis's end; but not below a third
	// of the width.
	for range 4 {
		fit := right - textW(xticks[len(xticks)-1].label)/2
		for _, b := range bars {
			if b.label == "" {
				continue
			}
			if frac := (max(b.v, 0) - xlo) / (xhi - xlo); frac > 0 {
				fit = min(fit, x0+(right-4-textW(b.label)-x0)/frac)
			}
		}
		fit = math.Floor(max(fit, x0+(float64(w)-16-x0)/3))
		if fit >= x1 {
			break
		}
		x1 = fit
		xticks, xlo, xhi = linearTicks(&c.Value, lo, hi, x1-x0, 6, 18, true)
	}
	xs := scale{lo: xlo, hi: xhi, a: x0, b: x1}

	for _, t := range xticks {
		x, _ := xs.px(t.v)
		s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e6e6e6"/>`+"\n", f(x), f(y0), f(x), f(top))
		s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333333"/>`+"\n", f(x), f(y0), f(x), f(y0+4))
		s.text(x, y0+16, "middle", t.label)
	}
	s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333333"/>`+"\n", f(x0), f(y0), f(x1), f(y0))
	if c.Value.Label != "" {
		s.text((x0+x1)/2, y0+34, "middle", c.Value.Label)
	}
	if c.Category != "" {
		s.text(x0-8, top-6, "end", c.Category)
	}
	for j, cat := range c.Categories {
		s.text(x0-8, top+rowH*(float64(j)+0.5)+4, "end", cat)
	}
	barH := min(16, (rowH-6)/float64(ns))
	zero, _ := xs.px(0)
	for _, b := range bars {
		y := top + rowH*float64(b.cat) + (rowH-barH*float64(ns))/2 + barH*float64(b.series)
		x, _ := xs.px(b.v)
		s.printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`+"\n",
			f(min(x, zero)), f(y), f(math.Abs(x-zero)), f(max(barH-1, 1)), esc(b.colour), esc(c.hoverText(b)))
		if b.label != "" {
			s.text(max(x, zero)+4, y+barH/2+3.5, "start", b.label)
		}
	}
	s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333333"/>`+"\n", f(zero), f(y0), f(zero), f(top))
}
