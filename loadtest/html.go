package loadtest

import (
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket/plot"
)

// xMax is where the percentile plot draws the max: 99.9999 %.
const xMax = 6.0

// kindColours are the colours of the kinds, the same in every chart.
var kindColours = map[string]string{
	"ingest": "#ff7f0e", "query": "#1f77b4", "walk": "#2ca02c", "feed": "#9467bd", "all": "#444444",
}

// The colours of the latencies over time, and of errors.
const (
	colourP50    = "#1f77b4"
	colourP99    = "#ff7f0e"
	colourMax    = "#d62728"
	colourErrors = "#d62728"
)

type htmlRow struct {
	Kind, Ops, Errors, Throughput         string
	P50, P90, P99, P999, P9999, Max       string
	SP50, SP90, SP99, SP999, SP9999, SMax string
	Extra                                 string
}

type htmlData struct {
	Header     []string
	Rows       []htmlRow
	Errors     []string
	Thresholds []string
	Search     []string
	// The charts: throughput and latency over time, latency by
	// percentile; empty when the run measured nothing.
	Throughput template.HTML
	OverTime   []template.HTML
	Width      string // of the intervals over time: "1 s", "4 s"
	Percentile template.HTML
}

// xOf places percentile p on the percentile plot's x axis:
// log10(1/(1-p)).
func xOf(p float64) float64 {
	if p >= 100 {
		return xMax
	}
	return min(xMax, math.Log10(1/(1-p/100)))
}

// percentileOf names the percentile at x of the percentile plot.
func percentileOf(x float64) string {
	if x >= xMax-1e-9 {
		return "max"
	}
	p := 100 * (1 - math.Pow(10, -x))
	return strings.TrimRight(strings.TrimRight(strconv.FormatFloat(p, 'f', 4, 64), "0"), ".") + "%"
}

// WriteHTML writes the report as a self-contained HTML page: the tables of
// the text report, throughput and latency second by second, and latency
// by percentile (from the intended start, solid; service time, dashed),
// as inline SVG charts without external assets.
func (rep *Report) WriteHTML(w io.Writer) error {
	var d htmlData
	var hdr strings.Builder
	if rep.Search != nil {
		var sb strings.Builder
		ew := &errWriter{w: &sb}
		onlySearch := Report{Search: rep.Search}
		_ = onlySearch.WriteText(ew)
		d.Search = strings.Split(strings.TrimRight(sb.String(), "\n"), "\n")
	}
	if r := rep.Result; r != nil {
		rep.writeHeader(&hdr)
		d.Header = strings.Split(strings.TrimRight(hdr.String(), "\n"), "\n")
		for _, k := range r.rows() {
			l, s := k.Latency, k.Service
			row := htmlRow{Kind: k.Kind, Ops: fmtNum(float64(k.Ops)), Errors: fmtNum(float64(k.Errors)), Throughput: fmtNum(k.Throughput),
				P50: fmtDur(l.P50), P90: fmtDur(l.P90), P99: fmtDur(l.P99), P999: fmtDur(l.P999), P9999: fmtDur(l.P9999), Max: fmtDur(l.Max),
				SP50: fmtDur(s.P50), SP90: fmtDur(s.P90), SP99: fmtDur(s.P99), SP999: fmtDur(s.P999), SP9999: fmtDur(s.P9999), SMax: fmtDur(s.Max)}
			switch {
			case k.Events > 0:
				row.Extra = fmtNum(float64(k.Events)) + " events, " + fmtNum(k.EventsPerSec) + "/s, " + fmtNum(float64(k.Recycled)) + " recycled"
			case k.Pages > 0:
				row.Extra = fmtNum(float64(k.Pages)) + " pages, " + fmtNum(float64(k.Items)) + " baskets"
			}
			d.Rows = append(d.Rows, row)
		}
		for _, e := range sortedKeys(r.Errors) {
			d.Errors = append(d.Errors, e+" ×"+fmtNum(float64(r.Errors[e])))
		}
		d.overTime(r)
		d.percentiles(r)
	}
	for _, o := range rep.Thresholds {
		d.Thresholds = append(d.Thresholds, o.String())
	}
	return htmlReport.Execute(w, &d)
}

// kindColour returns the colour of kind.
func kindColour(kind string) string {
	if c, ok := kindColours[kind]; ok {
		return c
	}
	return "#000000"
}

// overTime draws the throughput of every kind and the errors, and each
// kind's latency, second by second.
func (d *htmlData) overTime(r *Result) {
	if len(r.All.Series) == 0 {
		return
	}
	width := time.Second // of a series of one interval, maybe cut short
	if ss := r.All.Series; len(ss) > 1 {
		width = ss[1].At - ss[0].At
	}
	d.Width = plot.Duration(width.Seconds())
	timeAxis := plot.Axis{Label: "time since the start of the run", Time: true}
	tc := plot.LineChart{
		Title: "Throughput",
		X:     timeAxis,
		Y:     plot.Axis{Label: "operations/s"},
	}
	for _, k := range r.Kinds {
		var pts []plot.Point
		for _, iv := range k.Series {
			pts = append(pts, plot.Point{X: iv.At.Seconds(), Y: iv.Throughput})
		}
		tc.Series = append(tc.Series, plot.Series{Name: k.Kind, Colour: kindColour(k.Kind), Points: pts})
	}
	var errs []plot.Point
	for _, iv := range r.All.Series {
		errs = append(errs, plot.Point{X: iv.At.Seconds(), Y: float64(iv.Errors) / iv.Length.Seconds()})
	}
	tc.Series = append(tc.Series, plot.Series{Name: "errors", Colour: colourErrors, Dash: true, Points: errs})
	d.Throughput = tc.SVG()

	for _, k := range r.Kinds {
		lc := plot.LineChart{
			Title: k.Kind + " latency",
			X:     timeAxis,
			Y:     plot.Axis{Label: "latency (log scale)", Log: true, Format: plot.Duration},
		}
		var p50, p99, top []plot.Point
		for _, iv := range k.Series {
			x := iv.At.Seconds()
			if iv.Ops == 0 {
				gap := plot.Point{X: x, Y: math.NaN()}
				p50, p99, top = append(p50, gap), append(p99, gap), append(top, gap)
				continue
			}
			p50 = append(p50, plot.Point{X: x, Y: iv.P50.Seconds()})
			p99 = append(p99, plot.Point{X: x, Y: iv.P99.Seconds()})
			top = append(top, plot.Point{X: x, Y: iv.Max.Seconds()})
		}
		lc.Series = []plot.Series{
			{Name: "p50", Colour: colourP50, Points: p50},
			{Name: "p99", Colour: colourP99, Points: p99},
			{Name: "max", Colour: colourMax, Points: top},
		}
		d.OverTime = append(d.OverTime, lc.SVG())
	}
}

// percentiles draws latency by percentile: each kind's latency from the
// intended start, solid, and its service time, dashed.
func (d *htmlData) percentiles(r *Result) {
	c := plot.LineChart{
		Title:  "Latency by percentile",
		Height: 380,
		X:      plot.Axis{Label: "percentile", Step: 1, Format: percentileOf},
		Y:      plot.Axis{Label: "latency (log scale)", Log: true, Format: plot.Duration},
	}
	for _, k := range r.Kinds {
		for _, svc := range []bool{false, true} {
			s, label := k.Latency, k.Kind+" latency"
			if svc {
				s, label = k.Service, k.Kind+" service"
			}
			if len(s.Curve) == 0 {
				continue
			}
			var pts []plot.Point
			for i, v := range s.Curve {
				pts = append(pts, plot.Point{X: xOf(CurvePercentiles[i]), Y: v.Seconds()})
			}
			c.Series = append(c.Series, plot.Series{Name: label, Colour: kindColour(k.Kind), Dash: svc, Points: pts})
		}
	}
	if len(c.Series) > 0 {
		d.Percentile = c.SVG()
	}
}

var htmlReport = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>abandoned loadtest report</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 2px 10px; text-align: right; border-bottom: 1px solid #ddd; }
th:first-child, td:first-child { text-align: left; }
pre { background: #f6f6f6; padding: 0.5em; }
.fail { color: #b00; font-weight: bold; }
figure { margin: 1em 0; }
</style>
</head>
<body>
<h1>Load test</h1>
{{- if .Search}}
<h2>Search</h2>
<pre>{{range .Search}}{{.}}
{{end}}</pre>
{{- end}}
{{- if .Header}}
<p>{{range .Header}}{{.}}<br>
{{end}}</p>
<table>
<tr><th>latency</th><th>ops</th><th>errors</th><th>ops/s</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>p99.99</th><th>max</th></tr>
{{- range .Rows}}
<tr><td>{{.Kind}}</td><td>{{.Ops}}</td><td>{{.Errors}}</td><td>{{.Throughput}}</td><td>{{.P50}}</td><td>{{.P90}}</td><td>{{.P99}}</td><td>{{.P999}}</td><td>{{.P9999}}</td><td>{{.Max}}</td></tr>
{{- end}}
</table>
<p>Service time, from each operation's actual start (blind to waiting):</p>
<table>
<tr><th>service</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>p99.99</th><th>max</th><th></th></tr>
{{- range .Rows}}
<tr><td>{{.Kind}}</td><td>{{.SP50}}</td><td>{{.SP90}}</td><td>{{.SP99}}</td><td>{{.SP999}}</td><td>{{.SP9999}}</td><td>{{.SMax}}</td><td>{{.Extra}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- if .Errors}}
<p class="fail">Errors: {{range $i, $e := .Errors}}{{if $i}}, {{end}}{{$e}}{{end}}</p>
{{- end}}
{{- if .Throughput}}
<h2>Over time</h2>
<p>Each point is {{.Width}} of the measured run: the operations that finished in it, and their latency from the intended start. Hover over a chart for its numbers.</p>
<figure>{{.Throughput}}</figure>
{{- range .OverTime}}
<figure>{{.}}</figure>
{{- end}}
{{- end}}
{{- if .Percentile}}
<h2>Latency by percentile</h2>
<figure>{{.Percentile}}</figure>
<p>Solid: latency from each operation's intended start. Dashed: service time from its actual start.</p>
{{- end}}
{{- if .Thresholds}}
<h2>Thresholds</h2>
<ul>
{{- range .Thresholds}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
</body>
</html>
`))
