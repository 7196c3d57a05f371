package console

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"html/template"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/campaign"
	"github.com/basketlab/abandoned/basket/plot"
	"github.com/basketlab/abandoned/basket/store"
)

// dashDays is how many days the daily chart covers, today included.
const dashDays = 30

// chartWidth is the width of the dashboard's charts: a laptop's page; a
// phone shows them scaled down.
const chartWidth = 960

// maxGroups is the most channels or devices a chart names; the rest are
// "other".
const maxGroups = 12

// The charts' colours, the same in each.
const (
	colourCreated   = "#1f77b4"
	colourAbandoned = "#d62728"
	colourRecovered = "#ff7f0e"
	colourCompleted = "#2ca02c"
)

// dashboard is a computed dashboard.
type dashboard struct {
	At        time.Time
	Stats     basket.Stats
	Read      int  // abandoned baskets read
	Cut       bool // more are abandoned than were read
	Since     time.Time
	Recovered int // of those read, recovered since they were abandoned
	Followed  int // of those read, followed up
	NoDevice  bool
	Funnel    template.HTML
	Days      template.HTML
	Channels  template.HTML
	Devices   template.HTML
}

// group counts the baskets of a channel or a device.
type group struct {
	name                 string
	abandoned, recovered int
}

func (c *Console) handleDashboard(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.dash.get(c.now(), c.opts.DashboardMaxAge, func() (*dashboard, error) {
		return c.computeDashboard(r.Context())
	})
	if err != nil {
		c.engineError(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "dashboard", s, d)
}

// computeDashboard reads the engine's counts (Stats) and up to
// DashboardScan abandoned baskets, the most recently created: its work is
// bounded whatever the engine holds.
func (c *Console) computeDashboard(ctx context.Context) (*dashboard, error) {
	now := c.now().UTC()
	st, err := c.eng.Stats(ctx)
	if err != nil {
		return nil, err
	}
	d := &dashboard{At: now, Stats: st}
	from, cut, err := c.scanStart(ctx, st.Abandoned)
	if err != nil {
		return nil, err
	}
	d.Cut, d.Since = cut, from

	today := now.Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -(dashDays - 1))
	dayOf := func(t time.Time) int {
		if t.IsZero() || t.Before(first) {
			return -1
		}
		return int(t.Sub(first) / (24 * time.Hour))
	}
	abandonedDay := make([]float64, dashDays)
	recoveredDay := make([]float64, dashDays)
	channels, devices := map[string]*group{}, map[string]*group{}
	count := func(m map[string]*group, name string, recovered bool) {
		g := m[name]
		if g == nil {
			g = &group{name: name}
			m[name] = g
		}
		g.abandoned++
		if recovered {
			g.recovered++
		}
	}
	q := basket.Query{Limit: basket.MaxLimit}
	if !from.IsZero() {
		q.CreatedAfter = from
	}
	anyDevice := false
	for {
		p, err := c.eng.AbandonedFunc(ctx, q, func(b *basket.Basket) {
			d.Read++
			if i := dayOf(b.AbandonedAt); i >= 0 && i < dashDays {
				abandonedDay[i]++
			}
			recovered := !b.RecoveredAt.IsZero()
			if recovered {
				d.Recovered++
				if i := dayOf(b.RecoveredAt); i >= 0 && i < dashDays {
					recoveredDay[i]++
				}
			}
			if !b.FollowedUpAt.IsZero() {
				d.Followed++
			}
			count(channels, cmp.Or(b.Tag(), "(none)"), recovered)
			dev := b.Tracking["device"]
			anyDevice = anyDevice || dev != ""
			count(devices, cmp.Or(dev, "(none)"), recovered)
		})
		if err != nil {
			return nil, err
		}
		if p.Cursor == "" || d.Read >= c.opts.DashboardScan {
			break
		}
		q = basket.Query{Cursor: p.Cursor, Limit: min(basket.MaxLimit, c.opts.DashboardScan-d.Read)}
	}

	days := plot.BarChart{Title: "Abandoned and recovered per day (last 30 days)", Height: 280, Width: chartWidth,
		Category: "day (UTC)", Value: plot.Axis{Label: "baskets"},
		Series: []plot.Bars{
			{Name: "abandoned (by the day it was)", Colour: colourAbandoned, Values: abandonedDay},
			{Name: "recovered (by the day its link was used)", Colour: colourRecovered, Values: recoveredDay},
		}}
	for i := range dashDays {
		days.Categories = append(days.Categories, first.AddDate(0, 0, i).Format("2 Jan"))
	}
	d.Days = chart(days.SVG())
	d.Channels = chart(groupChart("By channel (tracking.tag)", channels).SVG())
	if anyDevice {
		d.Devices = chart(groupChart("By device (tracking.device)", devices).SVG())
	} else {
		d.NoDevice = true
	}

	created := st.Open + st.Contactable + st.Completed
	pct := func(n int) string {
		if created == 0 {
			return plot.Number(float64(n))
		}
		return plot.Number(float64(n)) + " · " + plot.Percent(float64(n)/float64(created)) + " of created"
	}
	recoveredLabel := pct(d.Recovered)
	if d.Cut {
		recoveredLabel += " (of those read)"
	}
	funnel := plot.BarChart{Title: "Funnel: where the live baskets stand", Horizontal: true, Width: chartWidth,
		Value:      plot.Axis{Label: "baskets"},
		Categories: []string{"created", "contactable, not completed", "abandoned", "recovered, not completed yet", "completed"},
		Series: []plot.Bars{{Name: "baskets",
			Values:  []float64{float64(created), float64(st.Contactable), float64(st.Abandoned), float64(d.Recovered), float64(st.Completed)},
			Labels:  []string{plot.Number(float64(created)), pct(st.Contactable), pct(st.Abandoned), recoveredLabel, pct(st.Completed)},
			Colours: []string{colourCreated, colourCreated, colourAbandoned, colourRecovered, colourCompleted},
		}}}
	d.Funnel = chart(funnel.SVG())
	return d, nil
}

// scanStart returns where the dashboard's scan starts: the zero time to
// read every abandoned basket, or, when more than DashboardScan are, an
// exclusive created bound that leaves at most that many, the most
// recently created, found by bisection with exact counts (each O(log n)).
func (c *Console) scanStart(ctx context.Context, abandoned int) (time.Time, bool, error) {
	limit := c.opts.DashboardScan
	if abandoned <= limit {
		return time.Time{}, false, nil
	}
	countAfter := func(t time.Time) (int, error) {
		p, err := c.eng.Abandoned(ctx, basket.Query{CreatedAfter: t, Limit: 1, Count: true})
		return p.Total, err
	}
	oldest, err := c.eng.Abandoned(ctx, basket.Query{Limit: 1})
	if err != nil || len(oldest.Items) == 0 {
		return time.Time{}, false, err
	}
	lo := oldest.Items[0].Created.UnixMilli() - 1 // count(after lo) > limit
	hi := c.now().UnixMilli() + 1                 // count(after hi) ≤ limit, or nearly
	for lo+1 < hi {
		mid := lo + (hi-lo)/2
		n, err := countAfter(time.UnixMilli(mid))
		if err != nil {
			return time.Time{}, false, err
		}
		if n > limit {
			lo = mid
		} else {
			hi = mid
		}
	}
	return time.UnixMilli(hi).UTC(), true, nil
}

// groupChart charts groups by abandoned baskets, the largest first, with
// those recovered beside them.
func groupChart(title string, m map[string]*group) plot.BarChart {
	gs := make([]*group, 0, len(m))
	for _, g := range m {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b *group) int {
		return cmp.Or(cmp.Compare(b.abandoned, a.abandoned), strings.Compare(a.name, b.name))
	})
	if len(gs) > maxGroups {
		other := &group{name: "other"}
		for _, g := range gs[maxGroups-1:] {
			other.abandoned += g.abandoned
			other.recovered += g.recovered
		}
		gs = append(gs[:maxGroups-1], other)
	}
	ch := plot.BarChart{Title: title, Horizontal: true, Width: chartWidth, Value: plot.Axis{Label: "abandoned baskets"},
		Series: []plot.Bars{{Name: "abandoned", Colour: colourAbandoned}, {Name: "of them recovered", Colour: colourRecovered}}}
	for _, g := range gs {
		ch.Categories = append(ch.Categories, g.name)
		ch.Series[0].Values = append(ch.Series[0].Values, float64(g.abandoned))
		ch.Series[0].Labels = append(ch.Series[0].Labels, plot.Number(float64(g.abandoned)))
		ch.Series[1].Values = append(ch.Series[1].Values, float64(g.recovered))
		rate := ""
		if g.abandoned > 0 {
			rate = " · " + plot.Percent(float64(g.recovered)/float64(g.abandoned))
		}
		ch.Series[1].Labels = append(ch.Series[1].Labels, plot.Number(float64(g.recovered))+rate)
	}
	return ch
}

// The campaign page.

type campaignPage struct {
	At      time.Time
	Report  template.HTML // the body of the campaign's own HTML report
	Message string        // why there is no report
}

func (c *Console) handleCampaign(w http.ResponseWriter, r *http.Request, s *session) {
	if c.opts.CampaignDir == "" {
		c.fail(w, r, s, http.StatusNotFound, "No campaign is attached to this console: start the server with -console-campaign and the campaign's state directory.")
		return
	}
	p, err := c.report.get(c.now(), c.opts.DashboardMaxAge, c.readCampaign)
	if err != nil {
		c.log.ErrorContext(r.Context(), "console: campaign report", "err", err.Error())
		c.fail(w, r, s, http.StatusInternalServerError, "The campaign's report could not be read; the server's log says why.")
		return
	}
	c.render(w, r, http.StatusOK, "campaign", s, p)
}

// readCampaign reads the campaign's report from its state directory and
// renders it with the campaign's own HTML report. A campaign that is
// running holds its directory: the page says so.
func (c *Console) readCampaign() (*campaignPage, error) {
	p := &campaignPage{At: c.now()}
	dir := c.opts.CampaignDir
	if _, err := os.Stat(dir); err != nil {
		p.Message = "The campaign has no state yet: it has not run."
		return p, nil
	}
	rep, err := campaign.ReadReport(dir, c.opts.Campaign)
	switch {
	case errors.Is(err, store.ErrLocked):
		p.Message = "The campaign is running: it holds its state, and its report shows here once it stops (abandoned campaign run prints it then too)."
		return p, nil
	case err != nil:
		return nil, err
	}
	var buf bytes.Buffer
	if err := rep.WriteHTML(&buf); err != nil {
		return nil, err
	}
	p.Report = reportBody(buf.String())
	return p, nil
}

// reportBody returns the body of the campaign's HTML report (escaped by
// its own html/template), without its inline styles, which the console's
// policy forbids and its stylesheet replaces.
func reportBody(doc string) template.HTML {
	if i := strings.Index(doc, "<body>"); i >= 0 {
		doc = doc[i+len("<body>"):]
	}
	if i := strings.LastIndex(doc, "</body>"); i >= 0 {
		doc = doc[:i]
	}
	for {
		i := strings.Index(doc, "<style>")
		if i < 0 {
			break
		}
		j := strings.Index(doc[i:], "</style>")
		if j < 0 {
			doc = doc[:i]
			break
		}
		doc = doc[:i] + doc[i+j+len("</style>"):]
	}
	return template.HTML(doc) // the campaign report's own escaped output
}
