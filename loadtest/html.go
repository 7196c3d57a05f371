package loadtest

import (
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// The plot's geometry, in SVG units.
const (
	plotW, plotH                         = 760, 380
	padLeft, padRight, padTop, padBottom = 70, 150, 20, 45
	xMax                                 = 6.0 // 99.9999th percentile; the max is drawn there
)

// kindColours are the series' colours.
var kindColours = map[string]string{
	"ingest": "#d62728", "query": "#1f77b4", "walk": "#2ca02c", "feed": "#9467bd", "all": "#444444",
}

type htmlTick struct {
	Pos   string // x or y, in SVG units
	Label string
}

type htmlSeries struct {
	Label   string
	Colour  string
	Dash    bool
	Points  string // "x,y x,y …"
	LegendY string
}

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
	Plot       bool
	W, H       int
	X0, X1     int
	Y0, Y1     int
	XTicks     []htmlTick
	YTicks     []htmlTick
	Series     []htmlSeries
	LegendX    int
	LegendX2   int
}

// xOf places percentile p on the plot's x axis: log10(1/(1-p)).
func xOf(p float64) float64 {
	if p >= 100 {
		return xMax
	}
	return min(xMax, math.Log10(1/(1-p/100)))
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// WriteHTML writes the report as a self-contained HTML page: the tables of
// the text report and an inline SVG plot of latency by percentile (from
// the intended start, solid; service time, dashed), without external
// assets.
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
		d.plot(r)
	}
	for _, o := range rep.Thresholds {
		d.Thresholds = append(d.Thresholds, o.String())
	}
	return htmlReport.Execute(w, &d)
}

// plot lays out the latency-by-percentile plot of r.
func (d *htmlData) plot(r *Result) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, k := range r.Kinds {
		for _, s := range []Summary{k.Latency, k.Service} {
			for _, v := range s.Curve {
				if v > 0 {
					lo = min(lo, math.Log10(float64(v)))
					hi = max(hi, math.Log10(float64(v)))
				}
			}
		}
	}
	if math.IsInf(lo, 1) {
		return
	}
	lo, hi = math.Floor(lo), math.Ceil(hi)
	if hi <= lo {
		hi = lo + 1
	}
	d.Plot = true
	d.W, d.H = plotW, plotH
	d.X0, d.X1 = padLeft, plotW-padRight
	d.Y0, d.Y1 = plotH-padBottom, padTop
	xs := func(x float64) float64 { return padLeft + x/xMax*float64(d.X1-d.X0) }
	ys := func(v time.Duration) float64 {
		l := lo
		if v > 0 {
			l = math.Log10(float64(v))
		}
		return float64(d.Y0) - (l-lo)/(hi-lo)*float64(d.Y0-d.Y1)
	}
	for i, label := range []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "max"} {
		d.XTicks = append(d.XTicks, htmlTick{Pos: f1(xs(float64(i))), Label: label})
	}
	for e := lo; e <= hi; e++ {
		v := time.Duration(math.Pow(10, e))
		d.YTicks = append(d.YTicks, htmlTick{Pos: f1(ys(v)), Label: fmtDur(v)})
	}
	d.LegendX, d.LegendX2 = d.X1+12, d.X1+32
	n := 0
	for _, k := range r.Kinds {
		for _, svc := range []bool{false, true} {
			s, label := k.Latency, k.Kind+" latency"
			if svc {
				s, label = k.Service, k.Kind+" service"
			}
			if len(s.Curve) == 0 {
				continue
			}
			var pts []string
			for i, v := range s.Curve {
				pts = append(pts, f1(xs(xOf(CurvePercentiles[i])))+","+f1(ys(v)))
			}
			colour := kindColours[k.Kind]
			if colour == "" {
				colour = "#000000"
			}
			d.Series = append(d.Series, htmlSeries{Label: label, Colour: colour, Dash: svc,
				Points: strings.Join(pts, " "), LegendY: strconv.Itoa(padTop + 10 + 18*n)})
			n++
		}
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
svg text { font: 11px sans-serif; fill: #333; }
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
{{- if .Plot}}
<h2>Latency by percentile</h2>
<svg xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="latency by percentile">
<rect x="0" y="0" width="{{.W}}" height="{{.H}}" fill="#ffffff"/>
{{- $d := .}}
{{- range .XTicks}}
<line x1="{{.Pos}}" y1="{{$d.Y0}}" x2="{{.Pos}}" y2="{{$d.Y1}}" stroke="#e4e4e4"/>
<text x="{{.Pos}}" y="{{$d.Y0}}" dy="16" text-anchor="middle">{{.Label}}</text>
{{- end}}
{{- range .YTicks}}
<line x1="{{$d.X0}}" y1="{{.Pos}}" x2="{{$d.X1}}" y2="{{.Pos}}" stroke="#e4e4e4"/>
<text x="{{$d.X0}}" y="{{.Pos}}" dx="-6" dy="4" text-anchor="end">{{.Label}}</text>
{{- end}}
<line x1="{{.X0}}" y1="{{.Y0}}" x2="{{.X1}}" y2="{{.Y0}}" stroke="#333"/>
<line x1="{{.X0}}" y1="{{.Y0}}" x2="{{.X0}}" y2="{{.Y1}}" stroke="#333"/>
<text x="{{.X1}}" y="{{.Y0}}" dy="34" text-anchor="end">percentile</text>
{{- range .Series}}
<polyline fill="none" stroke="{{.Colour}}" stroke-width="2"{{if .Dash}} stroke-dasharray="5,4"{{end}} points="{{.Points}}"/>
<line x1="{{$d.LegendX}}" y1="{{.LegendY}}" x2="{{$d.LegendX2}}" y2="{{.LegendY}}" stroke="{{.Colour}}" stroke-width="2"{{if .Dash}} stroke-dasharray="5,4"{{end}}/>
<text x="{{$d.LegendX}}" y="{{.LegendY}}" dx="26" dy="4">{{.Label}}</text>
{{- end}}
</svg>
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
