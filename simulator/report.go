package simulator

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/basketlab/abandoned/basket"
)

// Report is the funnel of a run.
type Report struct {
	Seed        uint64    `json:"seed"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"` // the virtual time the run reached
	Days        int       `json:"days"`
	Rate        float64   `json:"rate"`  // baskets per average hour
	Drain       Duration  `json:"drain"` // Options.Drain
	Interrupted bool      `json:"interrupted"`

	Events       int64            `json:"events"`
	EventsByType map[string]int64 `json:"eventsByType"`
	Customers    int64            `json:"customers"`
	Erasures     int64            `json:"erasures"`
	// InCheckout counts checkout sessions still running when the run
	// stopped.
	InCheckout int64 `json:"inCheckout"`

	Funnel    Funnel            `json:"funnel"`
	ByAuth    map[string]Funnel `json:"byAuth"` // "sso", "anonymous"
	ByDevice  map[string]Funnel `json:"byDevice"`
	ByChannel map[string]Funnel `json:"byChannel"`
	// Reasons counts abandonments by reason label.
	Reasons map[string]int64 `json:"reasons"`
	// CreatedByHour counts baskets created in each hour of the day, in
	// the scenario's time zone.
	CreatedByHour [24]int64 `json:"createdByHour"`
	// CreatedByDay counts baskets created on each day of the period.
	CreatedByDay []int64 `json:"createdByDay"`

	Targets  Targets         `json:"targets"`
	Campaign *CampaignReport `json:"campaign,omitempty"`
	// Engine is the state of the engine fed in process, when the caller
	// adds it (AddEngine).
	Engine *EngineState `json:"engine,omitempty"`
}

// Funnel counts baskets through the checkout.
type Funnel struct {
	Created     int64 `json:"created"`
	Contactable int64 `json:"contactable"` // became contactable (an email or an identity)
	Completed   int64 `json:"completed"`   // ordered, in the checkout or later
	// Abandoned counts baskets whose checkout session ended without an
	// order; AbandonedContactable those of them that were contactable,
	// which the abandoned API lists.
	Abandoned            int64 `json:"abandoned"`
	AbandonedContactable int64 `json:"abandonedContactable"`
	Returned             int64 `json:"returned"`  // abandoned, then the customer came back on their own
	Recovered            int64 `json:"recovered"` // abandoned, then bought after a reminder

	AbandonmentRate  float64 `json:"abandonmentRate"`  // Abandoned / Created
	ShareContactable float64 `json:"shareContactable"` // AbandonedContactable / Abandoned
	ReturnRate       float64 `json:"returnRate"`       // Returned / Abandoned
}

// CampaignReport is what a campaign did and what it changed.
type CampaignReport struct {
	Sent          int64   `json:"sent"`
	SentByStep    []int64 `json:"sentByStep"`
	Withheld      int64   `json:"withheld"` // to the control group
	Undeliverable int64   `json:"undeliverable"`
	Opened        int64   `json:"opened"`
	Clicked       int64   `json:"clicked"`
	Purchased     int64   `json:"purchased"`
	DeadLinks     int64   `json:"deadLinks"`     // clicks on links the engine refused
	AlreadyBought int64   `json:"alreadyBought"` // clicks on baskets already completed
	// Treatment and Control compare abandoned, contactable baskets of
	// customers outside and inside the control group: how many were
	// bought later, by any path.
	Treatment Conversion `json:"treatment"`
	Control   Conversion `json:"control"`
	// Uplift is Treatment.Rate - Control.Rate.
	Uplift float64 `json:"uplift"`
}

// Conversion counts abandoned, contactable baskets bought later.
type Conversion struct {
	Abandoned int64   `json:"abandoned"`
	Converted int64   `json:"converted"`
	Rate      float64 `json:"rate"`
}

// EngineState is a summary of an engine's contents.
type EngineState struct {
	Open        int `json:"open"`
	Contactable int `json:"contactable"`
	Abandoned   int `json:"abandoned"`
	Completed   int `json:"completed"`
	Expired     int `json:"expired"`
	Erased      int `json:"erased"`
}

// AddEngine records the state of the engine the run fed.
func (r *Report) AddEngine(st basket.Stats) {
	r.Engine = &EngineState{
		Open: st.Open, Contactable: st.Contactable, Abandoned: st.Abandoned,
		Completed: st.Completed, Expired: st.Expired, Erased: st.Erased,
	}
}

// Funnel fields counted per group.
const (
	fCreated = iota
	fContactable
	fCompleted
	fAbandoned
	fAbandonedC
	fReturned
	fRecovered
	nFields
)

type counts [nFields]int64

// tally counts what happens during a run.
type tally struct {
	m        *model
	total    counts
	auth     [2]counts // anonymous, sso
	device   []counts
	channel  []counts
	reasons  []int64
	byHour   [24]int64
	byDay    []int64
	events   int64
	byType   [9]int64
	erasures int64
	conv     [2]Conversion // treatment, control
	camp     CampaignReport
}

func newTally(m *model, sc *Scenario) *tally {
	return &tally{
		m:       m,
		device:  make([]counts, len(m.devices)),
		channel: make([]counts, len(m.tags)),
		reasons: make([]int64, len(m.reasons)),
		byDay:   make([]int64, sc.Days),
	}
}

func (t *tally) add(j *journey, f int) {
	t.total[f]++
	t.auth[b2i(j.cust.sso)][f]++
	t.device[j.device][f]++
	t.channel[j.tag][f]++
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (t *tally) created(j *journey, at, start int64) {
	t.add(j, fCreated)
	var h int
	if t.m.loc == time.UTC {
		h = int(at % (24 * msPerHour) / msPerHour)
	} else {
		h = time.UnixMilli(at).In(t.m.loc).Hour()
	}
	t.byHour[h]++
	if d := (at - start) / (24 * msPerHour); d >= 0 && d < int64(len(t.byDay)) {
		t.byDay[d]++
	}
}

func (t *tally) reason(j *journey) {
	if j.reason >= 0 {
		t.reasons[j.reason]++
	}
}

func (t *tally) abandonedContactable(j *journey) { t.conv[b2i(j.cust.control)].Abandoned++ }

func (t *tally) converted(j *journey) { t.conv[b2i(j.cust.control)].Converted++ }

func (t *tally) sent(step int) {
	t.camp.Sent++
	i := max(step, 1) - 1
	if i < 100 {
		for len(t.camp.SentByStep) <= i {
			t.camp.SentByStep = append(t.camp.SentByStep, 0)
		}
		t.camp.SentByStep[i]++
	}
}

var eventTypes = [...]basket.EventType{
	basket.EventCreated, basket.EventItemsChanged, basket.EventIdentified, basket.EventEmailCaptured,
	basket.EventCustomerDetailsChanged, basket.EventCompleted, basket.EventRecovered, basket.EventErased,
}

func (t *tally) event(typ basket.EventType) {
	t.events++
	for i, e := range eventTypes {
		if e == typ {
			t.byType[i]++
			return
		}
	}
	t.byType[len(eventTypes)]++
}

func (c *counts) funnel() Funnel {
	f := Funnel{
		Created: c[fCreated], Contactable: c[fContactable], Completed: c[fCompleted],
		Abandoned: c[fAbandoned], AbandonedContactable: c[fAbandonedC],
		Returned: c[fReturned], Recovered: c[fRecovered],
	}
	f.AbandonmentRate = ratio(f.Abandoned, f.Created)
	f.ShareContactable = ratio(f.AbandonedContactable, f.Abandoned)
	f.ReturnRate = ratio(f.Returned, f.Abandoned)
	return f
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// report builds the report of a run that reached end.
func (t *tally) report(s *Simulator, end int64) *Report {
	m := t.m
	r := &Report{
		Seed: s.seed, Start: msTime(m.start), End: msTime(end), Days: s.sc.Days, Rate: s.sc.Rate,
		Drain: Duration(s.opts.Drain), Events: t.events, EventsByType: map[string]int64{},
		Customers: int64(s.nCustomers), Erasures: t.erasures, InCheckout: s.inCheckout,
		Funnel:   t.total.funnel(),
		ByAuth:   map[string]Funnel{"anonymous": t.auth[0].funnel(), "sso": t.auth[1].funnel()},
		ByDevice: map[string]Funnel{}, ByChannel: map[string]Funnel{}, Reasons: map[string]int64{},
		CreatedByHour: t.byHour, CreatedByDay: slices.Clone(t.byDay),
	}
	for i, e := range eventTypes {
		r.EventsByType[string(e)] = t.byType[i]
	}
	for i, d := range m.devices {
		r.ByDevice[d] = t.device[i].funnel()
	}
	for i, c := range m.tags {
		r.ByChannel[c] = t.channel[i].funnel()
	}
	for i, n := range m.reasons {
		r.Reasons[n] = t.reasons[i]
	}
	r.Targets, _ = s.sc.Targets()
	if s.opts.Campaign != nil {
		c := t.camp
		c.SentByStep = slices.Clone(c.SentByStep)
		if c.SentByStep == nil {
			c.SentByStep = []int64{}
		}
		c.Treatment, c.Control = t.conv[0], t.conv[1]
		c.Treatment.Rate = ratio(c.Treatment.Converted, c.Treatment.Abandoned)
		c.Control.Rate = ratio(c.Control.Converted, c.Control.Abandoned)
		c.Uplift = c.Treatment.Rate - c.Control.Rate
		r.Campaign = &c
	}
	return r
}

// WriteText writes the report as text tables.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	end := r.End.Format("2006-01-02 15:04")
	fmt.Fprintf(&b, "Simulated %s to %s UTC (%d days", r.Start.Format("2006-01-02 15:04"), end, r.Days)
	if r.Drain > 0 {
		fmt.Fprintf(&b, " + %v drain", r.Drain.D())
	}
	fmt.Fprintf(&b, "), seed %d, %s baskets in an average hour", r.Seed, num(int64(r.Rate)))
	if r.Interrupted {
		b.WriteString(" — interrupted")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "%s events, %s customers (%.2f baskets each)", num(r.Events), num(r.Customers),
		ratio(r.Funnel.Created, r.Customers))
	if r.InCheckout > 0 {
		fmt.Fprintf(&b, ", %s still in checkout at the end", num(r.InCheckout))
	}
	b.WriteString("\n\n")

	f, t := r.Funnel, r.Targets
	ret := pct(t.ReturnRate)
	if r.Drain == 0 {
		ret += "*"
	}
	tb := table{{"funnel", "baskets", "rate", "", "target"},
		{"created", num(f.Created), "", "", ""},
		{"contactable", num(f.Contactable), pct(ratio(f.Contactable, f.Created)), "of created", ""},
		{"completed", num(f.Completed), pct(ratio(f.Completed, f.Created)), "of created", ""},
		{"abandoned", num(f.Abandoned), pct(f.AbandonmentRate), "of created", pct(t.AbandonRate)},
		{"  contactable", num(f.AbandonedContactable), pct(f.ShareContactable), "of abandoned", pct(t.ShareContactable)},
		{"  returned on their own", num(f.Returned), pct(f.ReturnRate), "of abandoned", ret},
	}
	if r.Campaign != nil {
		tb = append(tb, []string{"  recovered by reminders", num(f.Recovered), pct(ratio(f.Recovered, f.Abandoned)), "of abandoned", ""})
	}
	tb.write(&b)
	if r.Drain == 0 {
		b.WriteString("* counts returns up to 30 days later; this run stops at the end of its period (see -drain)\n")
	}

	groups := func(title string, m map[string]Funnel, order []string) {
		b.WriteString("\n")
		tb := table{{"by " + title, "created", "share", "contactable", "completed", "abandoned", "abandonment", "contactable of abandoned"}}
		for _, k := range order {
			g := m[k]
			tb = append(tb, []string{k, num(g.Created), pct(ratio(g.Created, f.Created)),
				num(g.Contactable), num(g.Completed), num(g.Abandoned), pct(g.AbandonmentRate), pct(g.ShareContactable)})
		}
		tb.write(&b)
	}
	groups("auth", r.ByAuth, []string{"sso", "anonymous"})
	groups("device", r.ByDevice, sortedByCreated(r.ByDevice))
	groups("channel", r.ByChannel, sortedByCreated(r.ByChannel))

	b.WriteString("\nabandonment reasons: ")
	reasons := make([]string, 0, len(r.Reasons))
	for k := range r.Reasons {
		reasons = append(reasons, k)
	}
	slices.SortFunc(reasons, func(a, c string) int { return cmp.Or(cmp.Compare(r.Reasons[c], r.Reasons[a]), cmp.Compare(a, c)) })
	for i, k := range reasons {
		if i > 0 {
			b.WriteString(" · ")
		}
		fmt.Fprintf(&b, "%s %s", k, pct(ratio(r.Reasons[k], f.Abandoned)))
	}
	b.WriteString("\n")

	b.WriteString("\nbaskets created by hour of day (local time):\n")
	var peak int64
	for _, n := range r.CreatedByHour {
		peak = max(peak, n)
	}
	for h, n := range r.CreatedByHour {
		bar := 0
		if peak > 0 {
			bar = int(40 * n / peak)
		}
		fmt.Fprintf(&b, "  %02d  %-40s %s\n", h, strings.Repeat("▇", bar), num(n))
	}

	if c := r.Campaign; c != nil {
		b.WriteString("\n")
		tb := table{{"reminders", "messages", "rate", ""},
			{"sent", num(c.Sent), "", ""},
			{"withheld (control group)", num(c.Withheld), "", ""},
			{"opened", num(c.Opened), pct(ratio(c.Opened, c.Sent)), "of sent"},
			{"clicked", num(c.Clicked), pct(ratio(c.Clicked, c.Sent)), "of sent"},
			{"purchased", num(c.Purchased), pct(ratio(c.Purchased, c.Clicked)), "of clicks"},
			{"undeliverable", num(c.Undeliverable), "", ""},
			{"clicks on dead links", num(c.DeadLinks), "", ""},
			{"clicks after buying", num(c.AlreadyBought), "", ""},
		}
		tb.write(&b)
		b.WriteString("\n")
		tb = table{{"abandoned, contactable baskets", "baskets", "bought later", "rate"},
			{"treatment", num(c.Treatment.Abandoned), num(c.Treatment.Converted), pct(c.Treatment.Rate)},
			{"control group", num(c.Control.Abandoned), num(c.Control.Converted), pct(c.Control.Rate)},
		}
		tb.write(&b)
		fmt.Fprintf(&b, "uplift: %+.1f points\n", 100*c.Uplift)
	}
	if e := r.Engine; e != nil {
		fmt.Fprintf(&b, "\nengine now: %s abandoned · %s contactable · %s open · %s completed · %s expired · %s erased\n",
			num(int64(e.Abandoned)), num(int64(e.Contactable)), num(int64(e.Open)), num(int64(e.Completed)),
			num(int64(e.Expired)), num(int64(e.Erased)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sortedByCreated(m map[string]Funnel) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b string) int { return cmp.Or(cmp.Compare(m[b].Created, m[a].Created), cmp.Compare(a, b)) })
	return ks
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// num formats n with thousands separators.
func num(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// table is rows of cells: the first column left-aligned, the others
// right-aligned, two spaces apart.
type table [][]string

func (t table) write(b *strings.Builder) {
	var w []int
	for _, row := range t {
		for i, c := range row {
			if i >= len(w) {
				w = append(w, 0)
			}
			w[i] = max(w[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range t {
		var line strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", w[i]-utf8.RuneCountInString(c))
			switch {
			case i == 0:
				line.WriteString(c + pad)
			default:
				line.WriteString("  " + pad + c)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}
