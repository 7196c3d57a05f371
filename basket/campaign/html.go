package campaign

import (
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/basketlab/abandoned/basket/plot"
)

// describe says what a reason means, in a few plain words, for the HTML
// report.
func (r Reason) describe() string {
	switch r {
	case ReasonCompleted:
		return "the basket was bought; its sequence ends"
	case ReasonOrderedSince:
		return "the customer ordered another basket since; the sequence ends"
	case ReasonDeduplicated:
		return "a newer basket of the same customer was written about instead, or the customer had a message within the one-message window (then it waits)"
	case ReasonSuppressed:
		return "the address unsubscribed or bounced; the sequence ends"
	case ReasonNoConsent:
		return "no marketing consent, in consented-only mode"
	case ReasonQuietHours:
		return "night where the customer is: sent when the quiet hours end"
	case ReasonExpired:
		return "the basket expired or is gone, or the last step came too late"
	case ReasonOvertaken:
		return "a later step was already due (a backlog, or a campaign that was stopped): only the latest went"
	case ReasonHoldout:
		return "the customer is in the holdout group, sent nothing, to measure what the messages change"
	}
	return ""
}

// Colours of the HTML report's charts, the same in each.
const (
	colourSent      = "#1f77b4"
	colourClicked   = "#ff7f0e"
	colourRecovered = "#2ca02c"
	colourHoldout   = "#7f7f7f"
)

type htmlStep struct {
	Name, After                            string
	Sent, Failed, InDoubt, Opened          string
	Clicked, Recovered, ClickRate, RecRate string
}

type htmlReason struct {
	Code, Meaning     string
	Skipped, Deferred string
}

type htmlGroup struct {
	Name, Baskets, Recovered, Rate string
}

type htmlData struct {
	R                                      *Report
	Activated, At, Window                  string
	SentWord                               string
	TookIn, Messaged, Completed, Recovered string
	RecoveredRate                          string
	Steps                                  []htmlStep
	Reasons                                []htmlReason
	StepsChart                             template.HTML
	Holdout                                *Report
	HoldoutShare                           string
	Groups                                 []htmlGroup
	Difference, StdErr, Interval           string
	HoldoutChart                           template.HTML
}

// WriteHTML writes the report as one self-contained HTML page: the
// figures of the text report, with the meaning of each reason, and inline
// SVG charts (messages sent, clicked and recovered by step; the recovered
// share of those mailed against the holdout's), without script, font or
// any file from elsewhere.
func (rep *Report) WriteHTML(w io.Writer) error {
	d := htmlData{R: rep, SentWord: "sent", Window: shortDuration(rep.AttributionWindow.String())}
	if rep.DryRun {
		d.SentWord = "would send"
	}
	if !rep.ActivatedAt.IsZero() {
		d.Activated = rep.ActivatedAt.Format(time.RFC3339)
	}
	if !rep.At.IsZero() {
		d.At = rep.At.Format(time.RFC3339)
	}
	num := func(v int64) string { return plot.Number(float64(v)) }
	d.TookIn, d.Messaged, d.Completed, d.Recovered = num(rep.TookIn), num(rep.Messaged), num(rep.Completed), num(rep.Total.Recovered)
	if rep.Messaged > 0 {
		d.RecoveredRate = plot.Percent(float64(rep.Total.Recovered) / float64(rep.Messaged))
	}
	row := func(name string, s StepReport) htmlStep {
		opened := "–"
		if s.Opened > 0 {
			opened = num(s.Opened)
		}
		after := ""
		if s.After != "" {
			after = "+" + shortDuration(s.After)
		}
		return htmlStep{Name: name, After: after, Sent: num(s.Sent + s.WouldSend), Failed: num(s.Failed), InDoubt: num(s.InDoubt),
			Opened: opened, Clicked: num(s.Clicked), Recovered: num(s.Recovered),
			ClickRate: plot.Percent(s.ClickRate), RecRate: plot.Percent(s.RecoveryRate)}
	}
	chart := plot.BarChart{Title: "Messages by step", Category: "step (time after the abandonment)",
		Value: plot.Axis{Label: "baskets"}}
	sent := plot.Bars{Name: d.SentWord, Colour: colourSent}
	clicked := plot.Bars{Name: "clicked", Colour: colourClicked}
	recovered := plot.Bars{Name: "recovered", Colour: colourRecovered}
	for _, s := range rep.Steps {
		r := row(fmt.Sprint(s.Step), s)
		d.Steps = append(d.Steps, r)
		chart.Categories = append(chart.Categories, fmt.Sprintf("step %d (%s)", s.Step, r.After))
		sent.Values = append(sent.Values, float64(s.Sent+s.WouldSend))
		clicked.Values = append(clicked.Values, float64(s.Clicked))
		recovered.Values = append(recovered.Values, float64(s.Recovered))
	}
	d.Steps = append(d.Steps, row("all", rep.Total))
	if len(rep.Steps) > 0 {
		chart.Series = []plot.Bars{sent, clicked, recovered}
		d.StepsChart = chart.SVG()
	}
	for _, r := range Reasons {
		hr := htmlReason{Code: string(r), Meaning: r.describe(), Skipped: num(rep.Skipped[r]), Deferred: "–"}
		if r == ReasonQuietHours || r == ReasonDeduplicated {
			hr.Deferred = num(rep.Deferred[r])
		}
		d.Reasons = append(d.Reasons, hr)
	}
	if h := rep.Holdout; h != nil {
		d.Holdout = rep
		d.HoldoutShare = formatShare(h.Share)
		g := func(name string, x GroupReport) htmlGroup {
			return htmlGroup{Name: name, Baskets: num(x.Baskets), Recovered: num(x.Recovered), Rate: plot.Percent(x.Rate)}
		}
		d.Groups = []htmlGroup{g("mailed", h.Mailed), g("held out", h.Holdout)}
		if lo, hi, ok := h.Interval(); ok {
			d.Difference = fmt.Sprintf("%+.1f points", 100*h.Difference)
			d.StdErr = fmt.Sprintf("%.1f points", 100*h.StdErr)
			d.Interval = fmt.Sprintf("%+.1f to %+.1f points", 100*lo, 100*hi)
		}
		label := func(x GroupReport) string {
			return fmt.Sprintf("%s (%s of %s)", plot.Percent(x.Rate), num(x.Recovered), num(x.Baskets))
		}
		hc := plot.BarChart{Title: "Recovered share: mailed against held out", Horizontal: true,
			Categories: []string{"mailed", "held out"},
			Value:      plot.Axis{Label: "baskets recovered", Format: plot.Percent},
			Series: []plot.Bars{{Name: "recovered", Colours: []string{colourRecovered, colourHoldout},
				Values: []float64{h.Mailed.Rate, h.Holdout.Rate}, Labels: []string{label(h.Mailed), label(h.Holdout)}}}}
		d.HoldoutChart = hc.SVG()
	}
	return htmlReportTemplate.Execute(w, &d)
}

var htmlReportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Campaign {{.R.Campaign}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; max-width: 60em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 2px 10px; text-align: right; border-bottom: 1px solid #ddd; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
td.text { text-align: left; }
tr.total td { font-weight: bold; }
.note { color: #555; }
.warn { color: #b00; font-weight: bold; }
figure { margin: 1em 0; }
</style>
</head>
<body>
<h1>Campaign {{.R.Campaign}}</h1>
<p>{{if .Activated}}Activated {{.Activated}} at feed position {{.R.Watermark}}, read up to {{.R.Checkpoint}}.{{else}}Not activated yet.{{end}}
{{- if .At}} As of {{.At}}.{{end}}</p>
{{- if .R.DryRun}}
<p class="warn">Dry run: nothing was sent. “Would send” counts the messages a real run would have sent.</p>
{{- end}}
<table>
<tr><td>abandonments taken in</td><td>{{.TookIn}}</td></tr>
<tr><td>baskets {{if .R.DryRun}}that would have been {{end}}messaged</td><td>{{.Messaged}}</td></tr>
<tr><td>of them completed, by any path</td><td>{{.Completed}}</td></tr>
<tr><td>recovered by the campaign</td><td>{{.Recovered}}{{if .RecoveredRate}} ({{.RecoveredRate}}){{end}}</td></tr>
<tr><td>sequences running</td><td>{{.R.Running}}</td></tr>
<tr><td>baskets watched</td><td>{{.R.Watched}}</td></tr>
<tr><td>addresses on the campaign's suppression list</td><td>{{.R.Suppressed}}</td></tr>
</table>
<p class="note">A basket counts as recovered when it is completed within {{.Window}} after a click on a message's link; it is credited to the step whose message came last before the click.</p>

<h2>By step</h2>
<table>
<tr><th>step</th><th>after</th><th>{{.SentWord}}</th><th>failed</th><th>in doubt</th><th>opened</th><th>clicked</th><th>recovered</th><th>click rate</th><th>recovery rate</th></tr>
{{- range .Steps}}
<tr{{if eq .Name "all"}} class="total"{{end}}><td>{{.Name}}</td><td>{{.After}}</td><td>{{.Sent}}</td><td>{{.Failed}}</td><td>{{.InDoubt}}</td><td>{{.Opened}}</td><td>{{.Clicked}}</td><td>{{.Recovered}}</td><td>{{.ClickRate}}</td><td>{{.RecRate}}</td></tr>
{{- end}}
</table>
<p class="note">Rates are of the messages sent. Opens are known only where the sender reports them.</p>
{{- if .StepsChart}}
<figure>{{.StepsChart}}</figure>
{{- end}}
{{- if .Holdout}}

<h2>Holdout</h2>
<p>A share of {{.HoldoutShare}} of the customers is sent nothing, and followed like the others. Here a basket counts as recovered when it is completed, by any path, within {{.Window}} after its first message, or after the moment its first message would have been sent: both groups are measured alike.</p>
<table>
<tr><th>group</th><th>baskets</th><th>recovered</th><th>share</th></tr>
{{- range .Groups}}
<tr><td>{{.Name}}</td><td>{{.Baskets}}</td><td>{{.Recovered}}</td><td>{{.Rate}}</td></tr>
{{- end}}
</table>
{{- if .Difference}}
<p>Difference (mailed minus held out): <strong>{{.Difference}}</strong>, standard error {{.StdErr}}; 95% interval {{.Interval}}.</p>
{{- else}}
<p class="note">The difference is known once both groups have baskets.</p>
{{- end}}
<figure>{{.HoldoutChart}}</figure>
{{- end}}

<h2>Skipped and deferred</h2>
<table>
<tr><th>reason</th><th>meaning</th><th>skipped</th><th>deferred</th></tr>
{{- range .Reasons}}
<tr><td>{{.Code}}</td><td class="text">{{.Meaning}}</td><td>{{.Skipped}}</td><td>{{.Deferred}}</td></tr>
{{- end}}
</table>
<p class="note">A skipped step is not sent; a deferred one waits and is counted once per step and reason.</p>
{{- if .R.InDoubt}}

<h2>In doubt</h2>
<p class="warn">{{len .R.InDoubt}} message(s) may or may not have been delivered (a crash after the point of no return): never sent again, for an operator to look at.</p>
<table>
<tr><th>basket</th><th>step</th><th>key</th></tr>
{{- range .R.InDoubt}}
<tr><td>{{.BasketID}}</td><td>{{.Step}}</td><td>{{.Key}}</td></tr>
{{- end}}
</table>
{{- end}}
</body>
</html>
`))
