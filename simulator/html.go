package simulator

import (
	"cmp"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/basketlab/abandoned/basket/plot"
)

// The colours of the funnel's stages, the same in every chart.
const (
	colourCreated   = "#1f77b4"
	colourCompleted = "#2ca02c"
	colourAbandoned = "#d62728"
	colourTarget    = "#aaaaaa"
)

// maxDayBars is the longest period whose days the page charts one by one.
const maxDayBars = 92

type htmlSim struct {
	Header   []string
	Charts   []template.HTML
	Campaign []string
	Engine   string
}

// WriteHTML writes the report as a self-contained HTML page: the funnel,
// baskets by hour of day and by day, the funnel by channel, device and
// sign-in, the reasons of abandonment and the campaign's reminders, as
// inline SVG charts without external assets. Hovering a bar shows its
// numbers.
func (r *Report) WriteHTML(w io.Writer) error {
	d := htmlSim{Header: r.headerLines()}
	f, t := r.Funnel, r.Targets

	// The funnel.
	stages := []string{"created", "contactable", "completed", "abandoned", "abandoned, contactable", "returned on their own"}
	values := []int64{f.Created, f.Contactable, f.Completed, f.Abandoned, f.AbandonedContactable, f.Returned}
	labels := []string{num(f.Created),
		num(f.Contactable) + " · " + pct(ratio(f.Contactable, f.Created)) + " of created",
		num(f.Completed) + " · " + pct(ratio(f.Completed, f.Created)) + " of created",
		num(f.Abandoned) + " · " + pct(f.AbandonmentRate) + " of created (target " + pct(t.AbandonRate) + ")",
		num(f.AbandonedContactable) + " · " + pct(f.ShareContactable) + " of abandoned (target " + pct(t.ShareContactable) + ")",
		num(f.Returned) + " · " + pct(f.ReturnRate) + " of abandoned (target " + pct(t.ReturnRate) + ")",
	}
	colours := []string{colourCreated, colourCreated, colourCompleted, colourAbandoned, colourAbandoned, colourCompleted}
	if r.Campaign != nil {
		stages = append(stages, "recovered by reminders")
		values = append(values, f.Recovered)
		labels = append(labels, num(f.Recovered)+" · "+pct(ratio(f.Recovered, f.Abandoned))+" of abandoned")
		colours = append(colours, colourCompleted)
	}
	bars := plot.Bars{Name: "baskets", Labels: labels, Colours: colours}
	for _, v := range values {
		bars.Values = append(bars.Values, float64(v))
	}
	d.chart(plot.BarChart{Title: "Funnel", Horizontal: true, Value: plot.Axis{Label: "baskets"}, Categories: stages, Series: []plot.Bars{bars}})

	// Hours of the day, beside the scenario's shape.
	hours := plot.BarChart{
		Title: "Baskets created by hour of day", Category: "hour of day (local time)", Value: plot.Axis{Label: "baskets"},
		Series: []plot.Bars{{Name: "created", Colour: colourCreated}, {Name: "the scenario's shape", Colour: colourTarget}},
	}
	for h, n := range r.CreatedByHour {
		hours.Categories = append(hours.Categories, fmt.Sprintf("%02d", h))
		hours.Series[0].Values = append(hours.Series[0].Values, float64(n))
		hours.Series[1].Values = append(hours.Series[1].Values, t.HourShare[h]*float64(f.Created))
	}
	hours.Series[1].Labels = make([]string, 24)
	for h := range 24 {
		hours.Series[1].Labels[h] = num(int64(math.Round(hours.Series[1].Values[h]))) + " (" + pct(t.HourShare[h]) + " of the day)"
	}
	d.chart(hours)

	// Days.
	if n := len(r.CreatedByDay); n > 1 && n <= maxDayBars {
		days := plot.BarChart{Title: "Baskets created by day", Height: 240, Value: plot.Axis{Label: "baskets"},
			Series: []plot.Bars{{Name: "created", Colour: colourCreated}}}
		for i, c := range r.CreatedByDay {
			days.Categories = append(days.Categories, r.Start.AddDate(0, 0, i).Format("Mon 2 Jan"))
			days.Series[0].Values = append(days.Series[0].Values, float64(c))
		}
		d.chart(days)
	}

	// Groups.
	d.chart(groupChart("By channel", "channel", r.ByChannel, sortedByCreated(r.ByChannel)))
	d.chart(groupChart("By device", "device", r.ByDevice, sortedByCreated(r.ByDevice)))
	d.chart(groupChart("By sign-in", "sign-in", r.ByAuth, []string{"sso", "anonymous"}))

	// Reasons.
	if len(r.Reasons) > 0 {
		reasons := slices.Collect(func(yield func(string) bool) {
			for k := range r.Reasons {
				if !yield(k) {
					return
				}
			}
		})
		slices.SortFunc(reasons, func(a, b string) int { return cmp.Or(cmp.Compare(r.Reasons[b], r.Reasons[a]), cmp.Compare(a, b)) })
		rc := plot.BarChart{Title: "Reasons of abandonment", Horizontal: true, Value: plot.Axis{Label: "abandoned baskets"},
			Categories: reasons, Series: []plot.Bars{{Name: "abandoned", Colour: colourAbandoned}}}
		for _, k := range reasons {
			rc.Series[0].Values = append(rc.Series[0].Values, float64(r.Reasons[k]))
			rc.Series[0].Labels = append(rc.Series[0].Labels, num(r.Reasons[k])+" · "+pct(ratio(r.Reasons[k], f.Abandoned)))
		}
		d.chart(rc)
	}

	// The campaign.
	if c := r.Campaign; c != nil {
		steps := []string{"sent", "opened", "clicked", "purchased", "undeliverable", "clicks on dead links", "clicks after buying"}
		vals := []int64{c.Sent, c.Opened, c.Clicked, c.Purchased, c.Undeliverable, c.DeadLinks, c.AlreadyBought}
		labs := []string{num(c.Sent), num(c.Opened) + " · " + pct(ratio(c.Opened, c.Sent)) + " of sent",
			num(c.Clicked) + " · " + pct(ratio(c.Clicked, c.Sent)) + " of sent",
			num(c.Purchased) + " · " + pct(ratio(c.Purchased, c.Clicked)) + " of clicks",
			num(c.Undeliverable), num(c.DeadLinks), num(c.AlreadyBought)}
		rc := plot.BarChart{Title: "Reminders", Horizontal: true, Value: plot.Axis{Label: "messages"},
			Categories: steps, Series: []plot.Bars{{Name: "messages", Colour: colourCreated, Labels: labs}}}
		for _, v := range vals {
			rc.Series[0].Values = append(rc.Series[0].Values, float64(v))
		}
		d.chart(rc)
		d.Campaign = []string{
			fmt.Sprintf("Withheld from the control group: %s messages.", num(c.Withheld)),
			fmt.Sprintf("Abandoned, contactable baskets bought later: %s of %s (%s) outside the control group, %s of %s (%s) in it: an uplift of %+.1f points.",
				num(c.Treatment.Converted), num(c.Treatment.Abandoned), pct(c.Treatment.Rate),
				num(c.Control.Converted), num(c.Control.Abandoned), pct(c.Control.Rate), 100*c.Uplift),
		}
	}
	if e := r.Engine; e != nil {
		d.Engine = fmt.Sprintf("The engine now holds %s abandoned baskets (%s contactable), %s open, %s completed, %s expired and %s erased.",
			num(int64(e.Abandoned)), num(int64(e.Contactable)), num(int64(e.Open)), num(int64(e.Completed)),
			num(int64(e.Expired)), num(int64(e.Erased)))
	}
	return simHTML.Execute(w, &d)
}

func (d *htmlSim) chart(c plot.BarChart) { d.Charts = append(d.Charts, c.SVG()) }

// groupChart charts the funnel of each group: baskets created, completed
// and abandoned.
func groupChart(title, category string, m map[string]Funnel, order []string) plot.BarChart {
	c := plot.BarChart{Title: title, Category: category, Horizontal: true, Value: plot.Axis{Label: "baskets"}, Categories: order,
		Series: []plot.Bars{
			{Name: "created", Colour: colourCreated},
			{Name: "completed", Colour: colourCompleted},
			{Name: "abandoned", Colour: colourAbandoned},
		}}
	var total int64
	for _, g := range m {
		total += g.Created
	}
	for _, k := range order {
		g := m[k]
		c.Series[0].Values = append(c.Series[0].Values, float64(g.Created))
		c.Series[0].Labels = append(c.Series[0].Labels, num(g.Created)+" · "+pct(ratio(g.Created, total))+" of all")
		c.Series[1].Values = append(c.Series[1].Values, float64(g.Completed))
		c.Series[1].Labels = append(c.Series[1].Labels, num(g.Completed)+" · "+pct(ratio(g.Completed, g.Created))+" of created")
		c.Series[2].Values = append(c.Series[2].Values, float64(g.Abandoned))
		c.Series[2].Labels = append(c.Series[2].Labels, num(g.Abandoned)+" · "+pct(g.AbandonmentRate)+" of created, "+pct(g.ShareContactable)+" of them contactable")
	}
	return c
}

// headerLines says what was simulated, as the text report's first lines.
func (r *Report) headerLines() []string {
	var b strings.Builder
	fmt.Fprintf(&b, "Simulated %s to %s UTC (%d days", r.Start.Format("2006-01-02 15:04"), r.End.Format("2006-01-02 15:04"), r.Days)
	if r.Drain > 0 {
		fmt.Fprintf(&b, " + %v drain", r.Drain.D())
	}
	fmt.Fprintf(&b, "), seed %d, %s baskets in an average hour", r.Seed, num(int64(r.Rate)))
	if r.Interrupted {
		b.WriteString(" — interrupted")
	}
	lines := []string{b.String()}
	second := fmt.Sprintf("%s events, %s customers (%.2f baskets each)", num(r.Events), num(r.Customers), ratio(r.Funnel.Created, r.Customers))
	if r.InCheckout > 0 {
		second += fmt.Sprintf(", %s still in checkout at the end", num(r.InCheckout))
	}
	lines = append(lines, second)
	if r.Drain == 0 {
		lines = append(lines, "Returns count up to 30 days after an abandonment; this run stopped at the end of its period, before most of them.")
	}
	return lines
}

var simHTML = template.Must(template.New("simulate").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>abandoned simulate report</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
figure { margin: 1.5em 0; }
</style>
</head>
<body>
<h1>Simulated checkout traffic</h1>
<p>{{range .Header}}{{.}}<br>
{{end}}</p>
<p>Hover over a bar for its numbers.</p>
{{- range .Charts}}
<figure>{{.}}</figure>
{{- end}}
{{- range .Campaign}}
<p>{{.}}</p>
{{- end}}
{{- if .Engine}}
<p>{{.Engine}}</p>
{{- end}}
</body>
</html>
`))
