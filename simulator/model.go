package simulator

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// model is a validated scenario compiled for sampling: cumulative weights,
// shared event payloads and durations in milliseconds.
type model struct {
	start, end int64 // unix ms
	loc        *time.Location
	ratePerMS  float64 // baskets per ms in an average hour
	hourly     [24]float64
	hourlyMax  float64
	weekday    [7]float64 // Monday first
	monthEnd   float64
	peaks      map[int]float64 // yyyymmdd → multiplier

	offerCum []float64
	items    [][]basket.OrderItem // one single-item list per offer, shared by events
	alts     [][]int              // offers an items change may switch to
	promoCum []float64            // running sums of promo shares
	promos   []map[string]any     // customFields per promo code
	entry    string

	tagCum     []float64
	tags       []string
	deviceCum  []float64
	devices    []string
	completion []float64             // chance to complete, per device
	tracking   [][]map[string]string // [tag][device]
	retTag     int                   // the tag of returning customers' new baskets
	reasonCum  []float64
	reasons    []string

	sso, leave, itemsChanged, detailsTyped, repeat float64
	pool                                           int

	completeMed, completeSig float64 // ms
	abandonMed, abandonSig   float64
	emailMed, emailSig       float64
	loginMed, loginSig       float64

	retShare, retMed, retSig, retCap float64
	retSame, retSameDevice           float64
	retSameWithin                    int64

	eraseShare, eraseMed, eraseSig float64

	open, click, purchase, openMed, clickMed float64
	stepFactors                              []float64
	control                                  float64

	iss, service, idType string
	domains              []string
	ttl                  int64 // ms; 0 forever
}

const msPerHour = int64(time.Hour / time.Millisecond)

func ms(d Duration) float64 { return float64(d.D().Milliseconds()) }

// compile validates sc and builds its model.
func compile(sc *Scenario) (*model, error) {
	m := &model{}
	if y := sc.Start.UTC().Year(); y < 2000 || y > 9000 {
		return nil, problem("start", "year %d is not from 2000 to 9000", y)
	}
	if sc.Days < 1 || sc.Days > 3660 {
		return nil, problem("days", "%d is not from 1 to 3660", sc.Days)
	}
	m.start = sc.Start.UnixMilli()
	m.end = m.start + int64(sc.Days)*24*msPerHour
	if !(sc.Rate > 0 && sc.Rate <= 1e8) {
		return nil, problem("rate", "%s is not a number of baskets per hour above 0 and at most 1e8", fmtNum(sc.Rate))
	}
	m.ratePerMS = sc.Rate / float64(msPerHour)
	switch sc.TimeZone {
	case "", "UTC":
		m.loc = time.UTC
	default:
		loc, err := time.LoadLocation(sc.TimeZone)
		if err != nil {
			return nil, problem("timeZone", "unknown time zone %q", truncate(sc.TimeZone))
		}
		m.loc = loc
	}

	// Calendar shape.
	var hourly [24]float64
	if sc.Hourly != nil {
		if len(sc.Hourly) != 24 {
			return nil, problem("hourly", "has %d values, want 24", len(sc.Hourly))
		}
		copy(hourly[:], sc.Hourly)
	} else {
		p, ok := hourProfiles[sc.HourProfile]
		if !ok {
			return nil, problem("hourProfile", "%q is not one of %s", truncate(sc.HourProfile), joinKeys(hourProfiles))
		}
		hourly = p
	}
	sum := 0.0
	for h, v := range hourly {
		if !(v >= 0 && v <= 100) {
			return nil, problem(fmt.Sprintf("hourly[%d]", h), "%s is not from 0 to 100", fmtNum(v))
		}
		sum += v
	}
	if sum == 0 {
		return nil, problem("hourly", "all 24 multipliers are 0")
	}
	for h, v := range hourly {
		m.hourly[h] = v * 24 / sum
		m.hourlyMax = max(m.hourlyMax, m.hourly[h])
	}
	if len(sc.Weekday) != 7 {
		return nil, problem("weekday", "has %d values, want 7 (Monday first)", len(sc.Weekday))
	}
	for i, v := range sc.Weekday {
		if !(v >= 0 && v <= 100) {
			return nil, problem(fmt.Sprintf("weekday[%d]", i), "%s is not from 0 to 100", fmtNum(v))
		}
		m.weekday[i] = v
	}
	if !(sc.MonthEnd >= 0 && sc.MonthEnd <= 100) {
		return nil, problem("monthEnd", "%s is not from 0 to 100", fmtNum(sc.MonthEnd))
	}
	m.monthEnd = sc.MonthEnd
	m.peaks = make(map[int]float64, len(sc.PeakDays))
	for i, p := range sc.PeakDays {
		f := fmt.Sprintf("peakDays[%d]", i)
		d, err := time.Parse(time.DateOnly, p.Date)
		if err != nil {
			return nil, problem(f+".date", "%q is not a date YYYY-MM-DD", truncate(p.Date))
		}
		if !(p.Multiplier >= 0 && p.Multiplier <= 100) {
			return nil, problem(f+".multiplier", "%s is not from 0 to 100", fmtNum(p.Multiplier))
		}
		k := dateKey(d)
		if _, dup := m.peaks[k]; dup {
			return nil, problem(f+".date", "%s appears twice", p.Date)
		}
		m.peaks[k] = p.Multiplier
	}

	// Catalogue.
	var err error
	if m.offerCum, err = cumulative("offers", len(sc.Offers), func(i int) float64 { return sc.Offers[i].Weight }); err != nil {
		return nil, err
	}
	paths := map[string]bool{}
	for i, o := range sc.Offers {
		f := fmt.Sprintf("offers[%d]", i)
		if err := checkText(f+".name", o.Name, true); err != nil {
			return nil, err
		}
		if err := checkText(f+".path", o.Path, true); err != nil {
			return nil, err
		}
		if paths[o.Path] {
			return nil, problem(f+".path", "%q appears twice", truncate(o.Path))
		}
		paths[o.Path] = true
		if len(o.Products) > basket.MaxProducts {
			return nil, problem(f+".products", "more than %d", basket.MaxProducts)
		}
		for j, p := range o.Products {
			if err := checkText(fmt.Sprintf("%s.products[%d].path", f, j), p.Path, true); err != nil {
				return nil, err
			}
			if err := checkText(fmt.Sprintf("%s.products[%d].productCode", f, j), p.ProductCode, false); err != nil {
				return nil, err
			}
		}
		if err := checkText(f+".family", o.Family, false); err != nil {
			return nil, err
		}
		products := append([]basket.Product{}, o.Products...)
		if products == nil {
			products = []basket.Product{}
		}
		m.items = append(m.items, []basket.OrderItem{{Name: o.Name, Path: o.Path, Products: products}})
	}
	m.alts = make([][]int, len(sc.Offers))
	for i, o := range sc.Offers {
		var same, other []int
		for j, p := range sc.Offers {
			switch {
			case j == i:
			case o.Family != "" && p.Family == o.Family:
				same = append(same, j)
			default:
				other = append(other, j)
			}
		}
		if len(same) > 0 {
			m.alts[i] = same
		} else {
			m.alts[i] = other
		}
	}
	total := 0.0
	for i, p := range sc.PromoCodes {
		f := fmt.Sprintf("promoCodes[%d]", i)
		if err := checkText(f+".code", p.Code, true); err != nil {
			return nil, err
		}
		if err := checkProb(f+".share", p.Share); err != nil {
			return nil, err
		}
		total += p.Share
		m.promoCum = append(m.promoCum, total)
		m.promos = append(m.promos, map[string]any{"promoCode": p.Code})
	}
	if total > 1+1e-9 {
		return nil, problem("promoCodes", "shares sum to %s, above 1", fmtNum(total))
	}
	if err := checkText("entry", sc.Entry, false); err != nil {
		return nil, err
	}
	m.entry = sc.Entry

	if err := checkNames("channels", weightedNames(sc.Channels)); err != nil {
		return nil, err
	}
	if m.tagCum, err = cumulative("channels", len(sc.Channels), func(i int) float64 { return sc.Channels[i].Weight }); err != nil {
		return nil, err
	}
	m.tags = weightedNames(sc.Channels)
	dn := make([]string, len(sc.Devices))
	for i, d := range sc.Devices {
		dn[i] = d.Name
	}
	if err := checkNames("devices", dn); err != nil {
		return nil, err
	}
	if m.deviceCum, err = cumulative("devices", len(sc.Devices), func(i int) float64 { return sc.Devices[i].Share }); err != nil {
		return nil, err
	}
	m.devices = dn
	if err := checkText("selfReturn.tag", sc.SelfReturn.Tag, true); err != nil {
		return nil, err
	}
	m.retTag = slices.Index(m.tags, sc.SelfReturn.Tag)
	if m.retTag < 0 {
		m.retTag = len(m.tags)
		m.tags = append(m.tags, sc.SelfReturn.Tag)
	}
	if len(m.tags) > 255 {
		return nil, problem("channels", "more than 254")
	}
	if len(dn) > 255 {
		return nil, problem("devices", "more than 255")
	}
	m.tracking = make([][]map[string]string, len(m.tags))
	for t, tag := range m.tags {
		m.tracking[t] = make([]map[string]string, len(dn))
		for d, dev := range dn {
			m.tracking[t][d] = map[string]string{"tag": tag, "device": dev}
		}
	}
	if err := checkNames("reasons", weightedNames(sc.Reasons)); err != nil {
		return nil, err
	}
	if m.reasonCum, err = cumulative("reasons", len(sc.Reasons), func(i int) float64 { return sc.Reasons[i].Weight }); err != nil {
		return nil, err
	}
	m.reasons = weightedNames(sc.Reasons)

	// Behaviour.
	for _, p := range []struct {
		f string
		v float64
	}{
		{"abandonRate", sc.AbandonRate}, {"ssoShare", sc.SSOShare}, {"leaveBeforeEmail", sc.LeaveBeforeEmail},
		{"itemsChanged", sc.ItemsChanged}, {"detailsTyped", sc.DetailsTyped}, {"repeatCustomer", sc.RepeatCustomer},
		{"selfReturn.share", sc.SelfReturn.Share}, {"selfReturn.sameBasket", sc.SelfReturn.SameBasket},
		{"selfReturn.sameDevice", sc.SelfReturn.SameDevice}, {"erasure.share", sc.Erasure.Share},
		{"reminders.open", sc.Reminders.Open}, {"reminders.click", sc.Reminders.Click},
		{"reminders.purchase", sc.Reminders.Purchase}, {"controlShare", sc.ControlShare},
	} {
		if err := checkProb(p.f, p.v); err != nil {
			return nil, err
		}
	}
	m.sso, m.leave, m.itemsChanged = sc.SSOShare, sc.LeaveBeforeEmail, sc.ItemsChanged
	m.detailsTyped, m.repeat, m.control = sc.DetailsTyped, sc.RepeatCustomer, sc.ControlShare
	if sc.CustomerPool < 1 || sc.CustomerPool > 1e7 {
		return nil, problem("customerPool", "%d is not from 1 to 10000000", sc.CustomerPool)
	}
	m.pool = sc.CustomerPool

	c := sc.Checkout
	for _, d := range []struct {
		f string
		v Duration
	}{
		{"checkout.completeMedian", c.CompleteMedian}, {"checkout.abandonMedian", c.AbandonMedian},
		{"checkout.emailMedian", c.EmailMedian}, {"checkout.loginMedian", c.LoginMedian},
	} {
		if err := checkDur(d.f, d.v, time.Second, 24*time.Hour); err != nil {
			return nil, err
		}
	}
	for _, s := range []struct {
		f string
		v float64
	}{
		{"checkout.completeSigma", c.CompleteSigma}, {"checkout.abandonSigma", c.AbandonSigma},
		{"checkout.emailSigma", c.EmailSigma}, {"checkout.loginSigma", c.LoginSigma},
		{"selfReturn.sigma", sc.SelfReturn.Sigma}, {"erasure.sigma", sc.Erasure.Sigma},
	} {
		if err := checkSigma(s.f, s.v); err != nil {
			return nil, err
		}
	}
	m.completeMed, m.completeSig = ms(c.CompleteMedian), c.CompleteSigma
	m.abandonMed, m.abandonSig = ms(c.AbandonMedian), c.AbandonSigma
	m.emailMed, m.emailSig = ms(c.EmailMedian), c.EmailSigma
	m.loginMed, m.loginSig = ms(c.LoginMedian), c.LoginSigma

	r := sc.SelfReturn
	if err := checkDur("selfReturn.cap", r.Cap, time.Minute, 365*24*time.Hour); err != nil {
		return nil, err
	}
	if err := checkDur("selfReturn.median", r.Median, time.Minute, r.Cap.D()); err != nil {
		return nil, err
	}
	if err := checkDur("selfReturn.sameBasketWithin", r.SameBasketWithin, 0, 365*24*time.Hour); err != nil {
		return nil, err
	}
	if sc.BasketTTL != 0 {
		if err := checkDur("basketTTL", sc.BasketTTL, 2*time.Hour, 10*365*24*time.Hour); err != nil {
			return nil, err
		}
		m.ttl = sc.BasketTTL.D().Milliseconds()
	}
	m.retShare, m.retMed, m.retSig, m.retCap = r.Share, ms(r.Median), r.Sigma, ms(r.Cap)
	m.retSame, m.retSameDevice = r.SameBasket, r.SameDevice
	m.retSameWithin = r.SameBasketWithin.D().Milliseconds()
	if m.ttl > 0 {
		// Leave an hour for the return's own checkout.
		m.retSameWithin = min(m.retSameWithin, m.ttl-msPerHour)
	}
	if err := checkDur("erasure.median", sc.Erasure.Median, time.Minute, 365*24*time.Hour); err != nil {
		return nil, err
	}
	m.eraseShare, m.eraseMed, m.eraseSig = sc.Erasure.Share, ms(sc.Erasure.Median), sc.Erasure.Sigma

	rm := sc.Reminders
	if rm.Click > rm.Open {
		return nil, problem("reminders.click", "%s is above reminders.open %s: a click needs an open", fmtNum(rm.Click), fmtNum(rm.Open))
	}
	if len(rm.StepFactors) == 0 {
		return nil, problem("reminders.stepFactors", "empty")
	}
	for i, f := range rm.StepFactors {
		if !(f >= 0) || rm.Click*f > rm.Open {
			return nil, problem(fmt.Sprintf("reminders.stepFactors[%d]", i), "%s is negative or makes clicks exceed opens", fmtNum(f))
		}
	}
	if err := checkDur("reminders.openMedian", rm.OpenMedian, time.Second, 30*24*time.Hour); err != nil {
		return nil, err
	}
	if err := checkDur("reminders.clickMedian", rm.ClickMedian, time.Second, 30*24*time.Hour); err != nil {
		return nil, err
	}
	m.open, m.click, m.purchase = rm.Open, rm.Click, rm.Purchase
	m.stepFactors = append([]float64(nil), rm.StepFactors...)
	m.openMed, m.clickMed = ms(rm.OpenMedian), ms(rm.ClickMedian)

	id := sc.Identity
	for _, f := range []struct{ f, v string }{{"identity.iss", id.Iss}, {"identity.service", id.Service}, {"identity.type", id.Type}} {
		if err := checkText(f.f, f.v, false); err != nil {
			return nil, err
		}
	}
	m.iss, m.service, m.idType = id.Iss, id.Service, id.Type
	if len(sc.EmailDomains) == 0 {
		return nil, problem("emailDomains", "empty")
	}
	for i, d := range sc.EmailDomains {
		if len(d) > 100 || basket.ValidateEmail("customer.name.1234567@"+d) != nil || strings.ContainsAny(d, "@\"\\ ") {
			return nil, problem(fmt.Sprintf("emailDomains[%d]", i), "%q is not a usable email domain", truncate(d))
		}
	}
	m.domains = append([]string(nil), sc.EmailDomains...)

	// Calibrate the chance to complete so that abandoned / created comes
	// out at the target, counting the new baskets of customers who return
	// on their own (they all complete), and spread it over devices.
	fNew := m.retShare * (1 - m.retSame*logNormalCDF(float64(m.retSameWithin), m.retMed, m.retSig, m.retCap))
	pa := sc.AbandonRate / (1 - sc.AbandonRate*fNew)
	if pa > 1 {
		return nil, problem("abandonRate", "%s cannot be reached with this many returning customers", fmtNum(sc.AbandonRate))
	}
	mean, shares := 0.0, 0.0
	for i, d := range sc.Devices {
		if !(d.Completion >= 0 && d.Completion <= 1e6) {
			return nil, problem(fmt.Sprintf("devices[%d].completion", i), "%s is not a number ≥ 0", fmtNum(d.Completion))
		}
		mean += d.Share * d.Completion
		shares += d.Share
	}
	mean /= shares
	m.completion = make([]float64, len(sc.Devices))
	for i, d := range sc.Devices {
		switch {
		case pa == 1:
			m.completion[i] = 0
		case mean == 0:
			return nil, problem("devices", "every device's completion is 0, but abandonRate is below 1")
		default:
			m.completion[i] = (1 - pa) * d.Completion / mean
		}
		if m.completion[i] > 1 {
			return nil, problem(fmt.Sprintf("devices[%d].completion", i),
				"gives %s a chance to complete above 1 at abandonRate %s", truncate(d.Name), fmtNum(sc.AbandonRate))
		}
	}
	return m, nil
}

// logNormalCDF returns P(min(X, limit) < x) for X log-normal.
func logNormalCDF(x, median, sigma, limit float64) float64 {
	switch {
	case x > limit:
		return 1
	case x <= 0:
		return 0
	case sigma == 0:
		if x > median {
			return 1
		}
		return 0
	}
	z := (math.Log(x) - math.Log(median)) / sigma
	return 0.5 * math.Erfc(-z/math.Sqrt2)
}

func dateKey(t time.Time) int { return t.Year()*10000 + int(t.Month())*100 + t.Day() }

// rateAt returns the arrival rate (baskets per ms) during the hour that
// starts at t (unix ms), in the customers' time zone.
func (m *model) rateAt(t int64) float64 {
	lt := time.UnixMilli(t).In(m.loc)
	f := m.hourly[lt.Hour()]
	if p, ok := m.peaks[dateKey(lt)]; ok {
		return m.ratePerMS * f * p
	}
	f *= m.weekday[(int(lt.Weekday())+6)%7]
	if d := lt.Day(); d >= 28 || d == 1 {
		f *= m.monthEnd
	}
	return m.ratePerMS * f
}

// otherDevice draws a device from the mix other than not; not itself if no
// other device has a share.
func (m *model) otherDevice(r *rng, not uint8) uint8 {
	cum := m.deviceCum
	w := cum[not]
	if not > 0 {
		w -= cum[not-1]
	}
	rest := cum[len(cum)-1] - w
	if !(rest > 0) {
		return not
	}
	x := r.float() * rest
	for i := range cum {
		if uint8(i) == not {
			continue
		}
		lo := 0.0
		if i > 0 {
			lo = cum[i-1]
		}
		if x < cum[i]-lo {
			return uint8(i)
		}
		x -= cum[i] - lo
	}
	for i := len(cum) - 1; i >= 0; i-- {
		if uint8(i) != not {
			return uint8(i)
		}
	}
	return not
}

// awake moves a moment chosen without regard to the clock (a return some
// hours later) to when people are about: it keeps t with a chance of the
// hour's multiplier over the busiest hour's, and otherwise tries again a
// little later, so that returns follow the hour-of-day shape.
func (m *model) awake(r *rng, t int64) int64 {
	for range 96 {
		h := time.UnixMilli(t).In(m.loc).Hour()
		if r.float()*m.hourlyMax < m.hourly[h] {
			break
		}
		t += 15*60e3 + int64(r.exp()*30*60e3)
	}
	return t
}
