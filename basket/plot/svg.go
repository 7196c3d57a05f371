package plot

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The text's sizes, in SVG units: the font of labels and titles, and an
// estimate of a character's width in it (generous, for digits and most
// letters of a sans-serif font).
const (
	fontSize  = 11
	titleSize = 13
	charW     = 6.4
)

// textW estimates the width of s in the labels' font.
func textW(s string) float64 { return charW * float64(utf8.RuneCountInString(s)) }

// maxTextW is the widest of ss.
func maxTextW(ss []string) float64 {
	w := 0.0
	for _, s := range ss {
		w = max(w, textW(s))
	}
	return w
}

// svg builds an SVG document.
type svg struct{ b strings.Builder }

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

func esc(s string) string { return escaper.Replace(s) }

// f writes a coordinate with one decimal at most.
func f(v float64) string { return trimZeros(strconv.FormatFloat(v, 'f', 1, 64)) }

// begin opens the document: its size, title and white background.
func (s *svg) begin(w, h int, title string) {
	s.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" font-family="sans-serif" font-size="%d">`+"\n",
		w, h, w, h, fontSize)
	if title != "" {
		s.printf("<title>%s</title>\n", esc(title))
	}
	s.b.WriteString("<style>.hover:hover{fill-opacity:0.08}</style>\n")
	s.printf(`<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", w, h)
	if title != "" {
		s.printf(`<text x="%d" y="18" font-size="%d" font-weight="bold" fill="#222222">%s</text>`+"\n", 10, titleSize, esc(title))
	}
}

func (s *svg) end() string {
	s.b.WriteString("</svg>\n")
	return s.b.String()
}

// printf writes to the document as fmt.Fprintf does.
func (s *svg) printf(format string, args ...any) { fmt.Fprintf(&s.b, format, args...) }

// text writes a label at x, y, anchored at "start", "middle" or "end".
func (s *svg) text(x, y float64, anchor, label string) {
	s.printf(`<text x="%s" y="%s" text-anchor="%s" fill="#333333">%s</text>`+"\n", f(x), f(y), anchor, esc(label))
}

// scale maps values of an axis onto pixels: lo onto a, hi onto b.
type scale struct {
	lo, hi float64 // in log10 on a logarithmic axis
	log    bool
	a, b   float64
}

// px returns the pixel of v, and false if v cannot be drawn.
func (sc *scale) px(v float64) (float64, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	if sc.log {
		if v <= 0 {
			return 0, false
		}
		v = math.Log10(v)
	}
	return sc.a + (v-sc.lo)/(sc.hi-sc.lo)*(sc.b-sc.a), true
}

// tick is a tick of an axis: its value and its label.
type tick struct {
	v     float64
	label string
}

// niceStep returns the smallest of 1, 2 or 5 times a power of ten that
// is at least raw.
func niceStep(raw float64) float64 {
	if !(raw > 0) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*p >= raw*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// timeSteps are the round durations of a Time axis's ticks, in seconds.
var timeSteps = []float64{
	1, 2, 5, 10, 15, 30,
	60, 2 * 60, 5 * 60, 10 * 60, 15 * 60, 30 * 60,
	3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600,
	86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400,
}

// roundStep returns the round step at least raw: a round duration on a
// Time axis, else 1, 2 or 5 times a power of ten.
func roundStep(raw float64, time bool) float64 {
	if !time || raw < 1 {
		return niceStep(raw)
	}
	if i, _ := slices.BinarySearch(timeSteps, raw*(1-1e-9)); i < len(timeSteps) {
		return timeSteps[i]
	}
	const weeks = 7 * 86400
	return niceStep(raw/weeks) * weeks
}

// linearTicks returns the ticks of a linear axis over [lo, hi] of length
// pixels: every step (the axis's, or a round one giving about want
// ticks), and no more than the labels have room for, each needing its
// width plus gap (0: labels stacked, each needing 18 pixels). With wide,
// the axis widens to whole steps and the ticks reach its ends; the
// widened bounds are returned.
func linearTicks(a *Axis, lo, hi, length float64, want int, gap float64, wide bool) ([]tick, float64, float64) {
	if !(hi > lo) {
		hi = lo + 1
	}
	step := a.Step
	if !(step > 0) {
		step = roundStep((hi-lo)/float64(want), a.Time)
	}
	for range 64 {
		glo, ghi := lo, hi
		if wide {
			glo, ghi = math.Floor(lo/step+1e-9)*step, math.Ceil(hi/step-1e-9)*step
		}
		var ts []tick
		first := math.Ceil(glo/step - 1e-9)
		for i := first; i*step <= ghi+step*1e-9; i++ {
			v := i * step
			if v == 0 {
				v = 0 // not -0
			}
			ts = append(ts, tick{v, a.format(v)})
			if len(ts) > 1000 {
				break
			}
		}
		need := 18.0
		if gap > 0 {
			need = 0
			for _, t := range ts {
				need = max(need, textW(t.label)+gap)
			}
		}
		if len(ts) <= 1 || length/float64(len(ts)-1) >= need || len(ts) <= 2 {
			return ts, glo, ghi
		}
		step = roundStep(step*1.0001, a.Time)
		if step <= 0 || math.IsInf(step, 0) {
			break
		}
	}
	return []tick{{lo, a.format(lo)}, {hi, a.format(hi)}}, lo, hi
}

// logTicks returns the ticks of a logarithmic axis over the powers of ten
// lo to hi (exponents): every power, every other one or fewer over many,
// with 2 and 5 between them over one or two.
func logTicks(a *Axis, lo, hi float64) []tick {
	var ts []tick
	every := max(1, math.Ceil((hi-lo)/6))
	for e := lo; e <= hi+1e-9; e += every {
		v := math.Pow(10, e)
		ts = append(ts, tick{v, a.format(v)})
		if hi-lo <= 2 && e < hi-1e-9 {
			ts = append(ts, tick{2 * v, a.format(2 * v)}, tick{5 * v, a.format(5 * v)})
		}
	}
	return ts
}

// legendEntry is an entry of a legend.
type legendEntry struct {
	name, colour string
	dash, bar    bool
}

// swatch draws an entry's mark at x, y (its left middle).
func (s *svg) swatch(x, y float64, e legendEntry) {
	if e.bar {
		s.printf(`<rect x="%s" y="%s" width="14" height="10" fill="%s"/>`+"\n", f(x), f(y-5), esc(e.colour))
		return
	}
	s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"%s/>`+"\n", f(x), f(y), f(x+20), f(y), esc(e.colour), dashAttr(e.dash))
}

func dashAttr(dash bool) string {
	if dash {
		return ` stroke-dasharray="6,4"`
	}
	return ""
}

// legendWidth is the width a vertical legend of es takes.
func legendWidth(es []legendEntry) float64 {
	w := 0.0
	for _, e := range es {
		w = max(w, 26+textW(e.name))
	}
	return w
}
