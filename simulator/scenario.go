package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// Scenario describes the traffic to simulate: when baskets are created, what
// is in them, who the customers are and what they do. Start from
// DefaultScenario, whose values come from published figures (the package
// doc names them), and change what you need, in Go or with ParseScenario.
//
// Probabilities are numbers from 0 to 1. Weights are relative and need not
// sum to 1. Durations are Go duration strings in JSON ("150s", "12h").
type Scenario struct {
	// Start is when the simulated period begins (UTC). Default
	// 2025-01-06T00:00:00Z, a Monday.
	Start time.Time `json:"start"`
	// Days is the length of the simulated period. Default 7.
	Days int `json:"days"`
	// Rate is the number of baskets created in an average hour, before the
	// hour, weekday, month-end and peak-day multipliers. Default 1000.
	Rate float64 `json:"rate"`
	// TimeZone is the IANA zone of the customers' clocks, in which the
	// hour-of-day and calendar shapes apply; events are in UTC. Default
	// "UTC".
	TimeZone string `json:"timeZone"`

	// HourProfile names the built-in hour-of-day shape: "retail" (trough at
	// 4-5 am, high from noon to 10 pm) or "news" (morning peak at 7-9 am).
	// Default "retail".
	HourProfile string `json:"hourProfile"`
	// Hourly, if set, replaces the profile: 24 multipliers, midnight first.
	// They are normalised to a mean of 1, so Rate stays the average hour.
	Hourly []float64 `json:"hourly,omitempty"`
	// Weekday holds 7 day multipliers, Monday first. Default 1.05 on
	// weekdays, 0.85 at weekends.
	Weekday []float64 `json:"weekday"`
	// MonthEnd multiplies the traffic of days 28 to the end of the month
	// and of the 1st (pay day). Default 1.10.
	MonthEnd float64 `json:"monthEnd"`
	// PeakDays set the traffic of given dates, such as Black Friday (about
	// 2.7 times an ordinary day) or Cyber Monday (about 3.4), in place of
	// the weekday and month-end multipliers. Default none.
	PeakDays []PeakDay `json:"peakDays,omitempty"`

	// Offers is the catalogue: what a Subscribe click puts in the basket.
	// Default: a news publisher's digital, print + digital and weekend
	// offers, monthly and annual.
	Offers []Offer `json:"offers"`
	// PromoCodes are codes that some baskets carry in customFields.promoCode.
	PromoCodes []PromoCode `json:"promoCodes,omitempty"`
	// Entry is the basket's entry path. Default "/checkout".
	Entry string `json:"entry"`
	// Channels are the sales channels (tracking.tag) with their weights.
	// Default direct, search, newsletter, social, partner.
	Channels []Weighted `json:"channels"`
	// Devices are the device mix (tracking.device) with each device's
	// relative chance to complete. Default 65% mobile, 30% desktop, 5%
	// tablet; desktop completes about twice as often as mobile.
	Devices []Device `json:"devices"`

	// AbandonRate is the share of baskets whose checkout ends without an
	// order, as measured over all baskets created (returning customers'
	// new baskets included). Default 0.70.
	AbandonRate float64 `json:"abandonRate"`
	// SSOShare is the share of customers who log in with SSO; the others
	// check out anonymously and type their email. Default 0.40.
	SSOShare float64 `json:"ssoShare"`
	// LeaveBeforeEmail is the share of abandoners who leave before logging
	// in or typing their email, so are never contactable. Default 0.45.
	LeaveBeforeEmail float64 `json:"leaveBeforeEmail"`
	// Reasons label each abandonment, for the report. Default browsing
	// .43, price .25, login .12, too long .10, payment/trust .10.
	Reasons []Weighted `json:"reasons"`
	// Checkout holds the durations of a checkout session.
	Checkout Checkout `json:"checkout"`
	// ItemsChanged is the chance that a customer changes the offer during
	// checkout (monthly to annual, say). Default 0.12.
	ItemsChanged float64 `json:"itemsChanged"`
	// DetailsTyped is the chance that an anonymous abandoner types a name
	// after the email before leaving; anonymous completers always do.
	// Default 0.35.
	DetailsTyped float64 `json:"detailsTyped"`

	// RepeatCustomer is the chance that a new basket belongs to a customer
	// seen before (several baskets per customer). Default 0.15.
	RepeatCustomer float64 `json:"repeatCustomer"`
	// CustomerPool is how many recent customers a repeat basket is drawn
	// from. Default 200000.
	CustomerPool int `json:"customerPool"`
	// SelfReturn is how abandoners come back and buy on their own.
	SelfReturn SelfReturn `json:"selfReturn"`
	// Erasure is how often customers ask to be forgotten.
	Erasure Erasure `json:"erasure"`
	// Reminders is how customers respond to reminder messages of a
	// campaign (see Campaign).
	Reminders Reminders `json:"reminders"`
	// ControlShare is the share of customers in the control group: the
	// simulator withholds every reminder sent to them, so that a campaign's
	// effect can be measured against them. Default 0.
	ControlShare float64 `json:"controlShare"`

	// Identity is the SSO provider that identified events name.
	Identity IdentityProvider `json:"identity"`
	// EmailDomains are the domains of customers' emails. Default the
	// reserved example.com, example.org and example.net.
	EmailDomains []string `json:"emailDomains"`
	// BasketTTL is the time to live of the engine fed; the simulator sends
	// no event to a basket older than that. Default 336h (14 days), the
	// engine's default.
	BasketTTL Duration `json:"basketTTL"`
}

// PeakDay sets one day's multiplier.
type PeakDay struct {
	Date       string  `json:"date"` // YYYY-MM-DD, in the scenario's time zone
	Multiplier float64 `json:"multiplier"`
	Name       string  `json:"name,omitempty"`
}

// Offer is an entry of the catalogue.
type Offer struct {
	Name     string           `json:"name"`
	Path     string           `json:"path"`
	Products []basket.Product `json:"products"`
	Weight   float64          `json:"weight"`
	// Family groups offers a customer switches between (the same product,
	// monthly or annual); a change of items prefers the same family.
	Family string `json:"family,omitempty"`
}

// PromoCode is a promotion code carried by a share of baskets.
type PromoCode struct {
	Code  string  `json:"code"`
	Share float64 `json:"share"`
}

// Weighted is a name with a relative weight.
type Weighted struct {
	Name   string  `json:"name"`
	Weight float64 `json:"weight"`
}

// Device is a device kind of the mix.
type Device struct {
	Name  string  `json:"name"`
	Share float64 `json:"share"`
	// Completion is the device's relative chance to complete a checkout;
	// the chances are scaled so that the overall rate is the scenario's.
	Completion float64 `json:"completion"`
}

// Checkout holds the log-normal durations of a checkout session, from the
// basket's creation.
type Checkout struct {
	CompleteMedian Duration `json:"completeMedian"` // to the order; default 150s
	CompleteSigma  float64  `json:"completeSigma"`  // default 0.6
	AbandonMedian  Duration `json:"abandonMedian"`  // to leaving; default 60s
	AbandonSigma   float64  `json:"abandonSigma"`   // default 0.8
	EmailMedian    Duration `json:"emailMedian"`    // to the email field's blur; default 30s
	EmailSigma     float64  `json:"emailSigma"`     // default 0.5
	LoginMedian    Duration `json:"loginMedian"`    // to the SSO login's return; default 20s
	LoginSigma     float64  `json:"loginSigma"`     // default 0.5
}

// SelfReturn describes abandoners who come back and buy without a reminder.
type SelfReturn struct {
	Share  float64  `json:"share"`  // of abandoners; default 0.08
	Median Duration `json:"median"` // log-normal delay; default 12h
	Sigma  float64  `json:"sigma"`  // default 1.0
	Cap    Duration `json:"cap"`    // longest delay; default 720h (30 days)
	// SameBasket is the chance to come back to the same basket (if it is
	// younger than SameBasketWithin); otherwise a new basket is created.
	// Default 0.5.
	SameBasket       float64  `json:"sameBasket"`
	SameBasketWithin Duration `json:"sameBasketWithin"` // default 168h
	// SameDevice is the chance that a new basket is on the same device.
	// Default 0.6.
	SameDevice float64 `json:"sameDevice"`
	// Tag is the sales channel of a returning customer's new basket.
	// Default "direct".
	Tag string `json:"tag"`
}

// Erasure describes right-to-erasure requests.
type Erasure struct {
	Share  float64  `json:"share"`  // of contactable baskets; default 0.001
	Median Duration `json:"median"` // log-normal delay after contact; default 72h
	Sigma  float64  `json:"sigma"`  // default 1.0
}

// Reminders describes how customers respond to reminder messages.
type Reminders struct {
	Open     float64 `json:"open"`     // opens per message delivered; default 0.45
	Click    float64 `json:"click"`    // clicks per message delivered; default 0.10
	Purchase float64 `json:"purchase"` // orders per click; default 0.35
	// StepFactors scale Click for the first, second, ... step of a
	// sequence (the last repeats). Default 1, 0.57, 0.43: about 3.5%, 2%
	// and 1.5% of messages convert.
	StepFactors []float64 `json:"stepFactors"`
	OpenMedian  Duration  `json:"openMedian"`  // delivery to open; default 1h
	ClickMedian Duration  `json:"clickMedian"` // open to click; default 2m
}

// IdentityProvider names the SSO provider of identified events.
type IdentityProvider struct {
	Iss     string `json:"iss"`     // default "https://login.example-news.com"
	Service string `json:"service"` // default "salesforce"
	Type    string `json:"type"`    // default "account"
}

// Duration is a time.Duration written in JSON as a Go duration string.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a string such as "1h30m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string such as "150s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`a duration is a string such as "150s" or "12h"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q", truncate(s))
	}
	*d = Duration(v)
	return nil
}

// Built-in hour-of-day profiles, midnight first, before normalisation.
var hourProfiles = map[string][24]float64{
	// SaleCycle's retail index (5 am 22, 9 am 75, 1 pm 151, 9 pm 134).
	"retail": {0.85, 0.55, 0.35, 0.25, 0.20, 0.22, 0.35, 0.55, 0.70, 0.80, 0.95, 1.15,
		1.40, 1.50, 1.45, 1.45, 1.35, 1.30, 1.30, 1.35, 1.40, 1.40, 1.30, 1.20},
	// News reading: morning peak at 7-9 am, midday high, trough at 4 am.
	"news": {0.45, 0.30, 0.22, 0.20, 0.20, 0.30, 0.80, 1.50, 1.60, 1.60, 1.40, 1.35,
		1.45, 1.35, 1.20, 1.15, 1.15, 1.20, 1.20, 1.20, 1.25, 1.15, 0.90, 0.65},
}

// DefaultScenario returns the calibrated default scenario.
func DefaultScenario() Scenario {
	digital := basket.Product{Path: "/products/Digital All Access", ProductCode: "SKU-00000001"}
	print7 := basket.Product{Path: "/products/Print Seven Day", ProductCode: "SKU-00000002"}
	weekend := basket.Product{Path: "/products/Print Weekend", ProductCode: "SKU-00000003"}
	ps := func(p ...basket.Product) []basket.Product { return p }
	return Scenario{
		Start:       time.Date(2025, time.January, 6, 0, 0, 0, 0, time.UTC),
		Days:        7,
		Rate:        1000,
		TimeZone:    "UTC",
		HourProfile: "retail",
		Weekday:     []float64{1.05, 1.05, 1.05, 1.05, 1.05, 0.85, 0.85},
		MonthEnd:    1.10,
		Offers: []Offer{
			{Name: "Digital Monthly", Path: "/offers2/Digital Monthly", Products: ps(digital), Weight: 0.32, Family: "digital"},
			{Name: "Digital Annual", Path: "/offers2/Digital Annual", Products: ps(digital), Weight: 0.18, Family: "digital"},
			{Name: "Digital Intro 3 Months", Path: "/offers2/Digital Intro 3 Months", Products: ps(digital), Weight: 0.10, Family: "digital"},
			{Name: "Print + Digital Monthly", Path: "/offers2/Print + Digital Monthly", Products: ps(print7, digital), Weight: 0.12, Family: "print"},
			{Name: "Print + Digital Annual", Path: "/offers2/Print + Digital Annual", Products: ps(print7, digital), Weight: 0.08, Family: "print"},
			{Name: "Weekend + Digital Monthly", Path: "/offers2/Weekend + Digital Monthly", Products: ps(weekend, digital), Weight: 0.12, Family: "weekend"},
			{Name: "Weekend + Digital Annual", Path: "/offers2/Weekend + Digital Annual", Products: ps(weekend, digital), Weight: 0.08, Family: "weekend"},
		},
		PromoCodes: []PromoCode{{Code: "WELCOME50", Share: 0.04}, {Code: "STUDENT", Share: 0.02}, {Code: "GIFT25", Share: 0.01}},
		Entry:      "/checkout",
		Channels: []Weighted{
			{"direct", 0.35}, {"search", 0.20}, {"newsletter", 0.20}, {"social", 0.15}, {"partner", 0.10},
		},
		Devices: []Device{
			{Name: "mobile", Share: 0.65, Completion: 0.20},
			{Name: "desktop", Share: 0.30, Completion: 0.42},
			{Name: "tablet", Share: 0.05, Completion: 0.31},
		},
		AbandonRate:      0.70,
		SSOShare:         0.40,
		LeaveBeforeEmail: 0.45,
		Reasons: []Weighted{
			{"browsing", 0.43}, {"price", 0.25}, {"login", 0.12}, {"too long", 0.10}, {"payment/trust", 0.10},
		},
		Checkout: Checkout{
			CompleteMedian: Duration(150 * time.Second), CompleteSigma: 0.6,
			AbandonMedian: Duration(60 * time.Second), AbandonSigma: 0.8,
			EmailMedian: Duration(30 * time.Second), EmailSigma: 0.5,
			LoginMedian: Duration(20 * time.Second), LoginSigma: 0.5,
		},
		ItemsChanged:   0.12,
		DetailsTyped:   0.35,
		RepeatCustomer: 0.15,
		CustomerPool:   200000,
		SelfReturn: SelfReturn{
			Share: 0.08, Median: Duration(12 * time.Hour), Sigma: 1.0, Cap: Duration(30 * 24 * time.Hour),
			SameBasket: 0.5, SameBasketWithin: Duration(7 * 24 * time.Hour), SameDevice: 0.6, Tag: "direct",
		},
		Erasure: Erasure{Share: 0.001, Median: Duration(72 * time.Hour), Sigma: 1.0},
		Reminders: Reminders{
			Open: 0.45, Click: 0.10, Purchase: 0.35, StepFactors: []float64{1, 0.57, 0.43},
			OpenMedian: Duration(time.Hour), ClickMedian: Duration(2 * time.Minute),
		},
		Identity:     IdentityProvider{Iss: "https://login.example-news.com", Service: "salesforce", Type: "account"},
		EmailDomains: []string{"example.com", "example.org", "example.net"},
		BasketTTL:    Duration(basket.DefaultTTL),
	}
}

// ParseScenario reads a scenario in JSON over the defaults: fields left out
// keep their DefaultScenario value; a list given replaces the default list.
// Unknown fields, trailing data and invalid values are errors naming the
// field.
func ParseScenario(data []byte) (Scenario, error) {
	sc := DefaultScenario()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return Scenario{}, fmt.Errorf("scenario: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return Scenario{}, errors.New("scenario: unexpected data after the JSON object")
	}
	// Optional lists, empty or absent, are nil.
	if len(sc.PeakDays) == 0 {
		sc.PeakDays = nil
	}
	if len(sc.PromoCodes) == 0 {
		sc.PromoCodes = nil
	}
	if err := sc.Validate(); err != nil {
		return Scenario{}, err
	}
	return sc, nil
}

// jsonProblem describes a decoding error without echoing long input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s: expected %s, got a JSON %s", te.Field, te.Type, te.Value)
	case errors.Is(err, io.EOF):
		return "empty input"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	return truncate(err.Error())
}

// Validate checks every field and reports the first problem, naming the
// field as in JSON.
func (sc *Scenario) Validate() error {
	_, err := compile(sc)
	return err
}

// Targets are the figures a long run of a scenario converges to; the
// report shows them beside the measured ones.
type Targets struct {
	AbandonRate      float64     `json:"abandonRate"`      // abandoned / created
	ShareContactable float64     `json:"shareContactable"` // contactable / abandoned
	SSOShare         float64     `json:"ssoShare"`         // SSO baskets / created
	ReturnRate       float64     `json:"returnRate"`       // returned / abandoned, journeys drained
	HourShare        [24]float64 `json:"hourShare"`        // share of baskets created in each hour of the day
}

// Targets returns what the scenario aims at.
func (sc *Scenario) Targets() (Targets, error) {
	m, err := compile(sc)
	if err != nil {
		return Targets{}, err
	}
	t := Targets{
		AbandonRate:      sc.AbandonRate,
		ShareContactable: 1 - sc.LeaveBeforeEmail,
		SSOShare:         sc.SSOShare,
		ReturnRate:       sc.SelfReturn.Share,
	}
	for h := range t.HourShare {
		t.HourShare[h] = m.hourly[h] / 24
	}
	return t, nil
}

// truncate shortens outside input quoted in an error message.
func truncate(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) > n {
		r = r[:n]
	}
	return string(r) + "…"
}

// problem builds a validation error naming a field.
func problem(field, format string, args ...any) error {
	return fmt.Errorf("scenario: %s: %s", field, fmt.Sprintf(format, args...))
}

func checkProb(field string, p float64) error {
	if !(p >= 0 && p <= 1) {
		return problem(field, "%s is not a probability from 0 to 1", fmtNum(p))
	}
	return nil
}

func checkSigma(field string, s float64) error {
	if !(s >= 0 && s <= 5) {
		return problem(field, "%s is not from 0 to 5", fmtNum(s))
	}
	return nil
}

func checkDur(field string, d Duration, lo, hi time.Duration) error {
	if d.D() < lo || d.D() > hi {
		return problem(field, "%v is not from %v to %v", d.D(), lo, hi)
	}
	return nil
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

// checkText checks a string that travels in events.
func checkText(field, s string, required bool) error {
	switch {
	case s == "" && required:
		return problem(field, "missing")
	case len(s) > basket.MaxFieldLen:
		return problem(field, "longer than %d bytes", basket.MaxFieldLen)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return problem(field, "contains a control or invalid character")
		}
	}
	return nil
}

// cumulative checks weights and returns their running sums.
func cumulative(field string, n int, weight func(int) float64) ([]float64, error) {
	if n == 0 {
		return nil, problem(field, "empty")
	}
	cum := make([]float64, n)
	total := 0.0
	for i := range n {
		w := weight(i)
		if !(w >= 0) || math.IsInf(w, 0) {
			return nil, problem(fmt.Sprintf("%s[%d]", field, i), "weight %s is not a finite number ≥ 0", fmtNum(w))
		}
		total += w
		cum[i] = total
	}
	if !(total > 0) {
		return nil, problem(field, "weights sum to 0")
	}
	return cum, nil
}

func checkNames(field string, names []string) error {
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		f := fmt.Sprintf("%s[%d].name", field, i)
		if err := checkText(f, n, true); err != nil {
			return err
		}
		if seen[n] {
			return problem(f, "%q appears twice", truncate(n))
		}
		seen[n] = true
	}
	return nil
}

func weightedNames(ws []Weighted) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Name
	}
	return out
}

func joinKeys(m map[string][24]float64) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}
