package campaign

import (
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/store"
)

// Reason is why a message was not sent when it was due.
type Reason string

// The reasons of skipped and deferred messages.
const (
	// ReasonCompleted: the basket was completed.
	ReasonCompleted Reason = "completed"
	// ReasonOrderedSince: the customer completed another basket since this
	// one was created.
	ReasonOrderedSince Reason = "ordered_since"
	// ReasonDeduplicated: the customer has a newer abandoned basket, which
	// the message is about instead, or was written to within the window
	// (then the message waits for the window's end).
	ReasonDeduplicated Reason = "deduplicated"
	// ReasonSuppressed: the address is on the suppression list
	// (unsubscribed, bounced).
	ReasonSuppressed Reason = "suppressed"
	// ReasonNoConsent: consented-only mode, and the basket carries no
	// marketing consent.
	ReasonNoConsent Reason = "no_consent"
	// ReasonQuietHours: it is night where the recipient is; the message
	// waits for the quiet hours' end.
	ReasonQuietHours Reason = "quiet_hours"
	// ReasonExpired: the basket expired or is gone (purged, erased), or
	// the last step came due too late to be worth sending (LastStepGrace
	// overdue).
	ReasonExpired Reason = "expired"
	// ReasonOvertaken: a later step was already due when this one came up
	// (the backlog of a first run with Options.Since, or a runner that was
	// stopped): only the latest is sent.
	ReasonOvertaken Reason = "overtaken"
	// ReasonHoldout: the customer is in the holdout group (Options.Holdout),
	// which is sent nothing and followed as the mailed ones are, to measure
	// what the messages changed.
	ReasonHoldout Reason = "holdout"
)

// Reasons lists every reason, in the order reports show them. (A reason's
// place in the list is kept in durable states: new ones go at the end.)
var Reasons = []Reason{ReasonCompleted, ReasonOrderedSince, ReasonDeduplicated, ReasonSuppressed,
	ReasonNoConsent, ReasonQuietHours, ReasonExpired, ReasonOvertaken, ReasonHoldout}

// ParseReason parses a reason code.
func ParseReason(s string) (Reason, error) {
	if i := slices.Index(Reasons, Reason(s)); i >= 0 {
		return Reasons[i], nil
	}
	return "", fmt.Errorf("%w: unknown reason %q", ErrConfig, truncate(s))
}

// ParseHoldout parses the share of a holdout group as a percentage:
// "10%", "2.5%", or "0" for none. The error says what is wrong.
func ParseHoldout(s string) (float64, error) {
	t := strings.TrimSpace(s)
	if t == "0" {
		return 0, nil
	}
	num, ok := strings.CutSuffix(t, "%")
	num = strings.TrimSpace(num)
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || num == "" || strings.Trim(num, "0123456789.") != "" {
		return 0, fmt.Errorf("%w: holdout %q: want a percentage such as 10%%", ErrConfig, truncate(s))
	}
	if v < 0 || v/100 > MaxHoldout {
		return 0, fmt.Errorf("%w: holdout %q: want a share from 0%% to %g%%", ErrConfig, truncate(s), 100*MaxHoldout)
	}
	return v / 100, nil
}

// formatShare formats a share as ParseHoldout reads it.
func formatShare(v float64) string {
	return strconv.FormatFloat(math.Round(1e6*100*v)/1e6, 'f', -1, 64) + "%"
}

// QuietHours is a daily period, in the recipient's local time, during which
// no message is sent. Start and End are minutes after local midnight;
// Start > End wraps midnight (21:00-08:00). Start == End means none.
type QuietHours struct {
	Start, End int
}

// ParseQuietHours parses "HH:MM-HH:MM" (e.g. "21:00-08:00"); "" means none.
func ParseQuietHours(s string) (QuietHours, error) {
	if s == "" {
		return QuietHours{}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return QuietHours{}, fmt.Errorf("%w: quiet hours %q: want HH:MM-HH:MM", ErrConfig, truncate(s))
	}
	start, err1 := parseClock(a)
	end, err2 := parseClock(b)
	if err1 != nil || err2 != nil {
		return QuietHours{}, fmt.Errorf("%w: quiet hours %q: want HH:MM-HH:MM with hours 00-24 and minutes 00-59", ErrConfig, truncate(s))
	}
	return QuietHours{Start: start, End: end}, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return 0, fmt.Errorf("bad time %q", s)
	}
	hh, err := strconv.Atoi(h)
	if err != nil || hh < 0 || hh > 24 || h[0] == '+' || h[0] == '-' {
		return 0, fmt.Errorf("bad hour %q", h)
	}
	mm, err := strconv.Atoi(m)
	if err != nil || mm < 0 || mm > 59 || m[0] == '+' || m[0] == '-' || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("bad minute %q", m)
	}
	return (hh*60 + mm) % (24 * 60), nil
}

// String formats q as ParseQuietHours reads it; "" if none.
func (q QuietHours) String() string {
	if q.Start == q.End {
		return ""
	}
	return fmt.Sprintf("%02d:%02d-%02d:%02d", q.Start/60, q.Start%60, q.End/60, q.End%60)
}

// Defaults of Options.
const (
	DefaultName              = "abandoned-basket"
	DefaultDelay             = time.Hour
	DefaultWindow            = 24 * time.Hour
	DefaultAttributionWindow = 5 * 24 * time.Hour
	DefaultRetryAfter        = 5 * time.Minute
	DefaultLastStepGrace     = 24 * time.Hour
	DefaultWatch             = 7 * 24 * time.Hour
	DefaultCheckEvery        = time.Hour
	DefaultUnsubscribeValid  = 365 * 24 * time.Hour
	DefaultConsentField      = "marketingConsent"
	DefaultPromoFromStep     = 2
	DefaultCheckoutPath      = "/checkout"
	DefaultSnapshotEvery     = 8 << 20
	// DefaultUnsubscribePath is the path, on the shop, of unsubscribe
	// links: the server's one-click unsubscribe endpoint.
	DefaultUnsubscribePath = "/api/checkout/unsubscribe"
	// MaxHoldout is the largest Options.Holdout.
	MaxHoldout = 0.5
)

// DefaultSteps are the offsets of the reminders from the abandonment.
var DefaultSteps = []time.Duration{time.Hour, 24 * time.Hour, 72 * time.Hour}

// Options configure a Runner. A nil *Options means the defaults, except
// for ShopURL, which is required.
type Options struct {
	// Name names the campaign: utm_campaign, and part of every idempotency
	// key. Default DefaultName.
	Name string

	// ShopURL is the shop's base URL ("https://shop.example.com") or
	// domain ("shop.example.com", https is assumed): recovery links are
	// made absolute with it. Required.
	ShopURL string

	// Steps are the offsets of the reminders from the moment the basket
	// became abandoned, ascending. Default DefaultSteps (+1h, +24h, +72h).
	Steps []time.Duration

	// Delay is the least time between abandonment and the first message:
	// a step with a smaller offset waits until then. Default DefaultDelay.
	Delay time.Duration

	// Window is the least time between two messages to one customer.
	// Default DefaultWindow (24h).
	Window time.Duration

	// AttributionWindow: a completion this long or less after a recovery
	// click counts as recovered by the campaign. Default 5 days.
	AttributionWindow time.Duration

	// QuietHours, in the recipient's time zone, hold messages back until
	// they end. Default: none.
	QuietHours QuietHours

	// TimeZone is the recipients' time zone when a basket names none (see
	// the package documentation). Default UTC.
	TimeZone *time.Location

	// ConsentedOnly sends only to baskets that carry marketing consent
	// (see ConsentField); the others are skipped with no_consent.
	ConsentedOnly bool

	// ConsentField is the customFields key (or tracking key) of the
	// consent flag. Default DefaultConsentField.
	ConsentField string

	// OrderLookback widens ordered_since: an order of the customer this
	// long before a basket's creation also stops its messages. Default 0:
	// orders since the basket's creation.
	OrderLookback time.Duration

	// Since, if not zero, activates the campaign at that time instead of
	// at its first run, so that baskets abandoned since then (the backlog)
	// are mailed too. Only the first run of a campaign looks at it.
	Since time.Time

	// PromoCode, if set, adds a purchase link with the code
	// (/checkout?purchase=<offer path>&pc=<code>) to steps from
	// PromoFromStep (default 2) on.
	PromoCode     string
	PromoFromStep int

	// CheckoutPath is the path of purchase links. Default "/checkout".
	CheckoutPath string

	// UnsubscribeURL is the absolute URL of unsubscribe links, to which
	// the parameter token is added: an opaque token, never the address.
	// Default ShopURL + "/api/checkout/unsubscribe" (DefaultUnsubscribePath),
	// which the shop forwards to the server as it does recovery links; the
	// server answers it for a source that keeps the engine's suppression
	// list (Suppressions). With any other source the token is the
	// runner's own, which only Runner.Unsubscribe takes: point this at
	// the endpoint that calls it.
	UnsubscribeURL string

	// UnsubscribeValidity is how long the runner's own unsubscribe tokens
	// are valid (a source's, the engine's, do not expire). Default one
	// year.
	UnsubscribeValidity time.Duration

	// Holdout is the share of customers, from 0 to MaxHoldout (0.5), sent
	// nothing at all: each of their steps is skipped with reason holdout
	// at the moment it would have been sent, and their baskets are
	// followed as the mailed ones are, so that the report compares the
	// two groups' recovered shares. Who is held out is decided by a keyed
	// hash of the normalised address (under the state's email-hash
	// secret): the same customers on every run and after every restart of
	// a durable runner, drawn afresh by a runner in memory. Raising the
	// share only moves mailed customers into the holdout. Default 0: none.
	Holdout float64

	// Templates are the messages' templates. Default DefaultTemplates.
	Templates *Templates

	// Tokens signs and verifies the runner's own unsubscribe tokens, which
	// links carry when the source keeps no suppression list (it is not
	// Suppressions) and Runner.Unsubscribe takes. Default: the source's
	// engine, if it has one; else, for a durable runner, tokens signed with
	// a secret kept in the state directory (unsubscribe.secret, made at the
	// first run). A runner in memory over a source that is neither Tokens
	// nor Suppressions needs it. (The suppression list is keyed with
	// another secret, email-hash.secret: see the package documentation.)
	Tokens Tokens

	// RetryAfter is how long a message that failed for a temporary reason
	// waits before it is tried again. Default 5 minutes.
	RetryAfter time.Duration

	// LastStepGrace is how late the last step may still be sent; later, it
	// is skipped as expired. Default 24h.
	LastStepGrace time.Duration

	// Watch is how long after its abandonment a basket is watched for a
	// recovery by a source that cannot look baskets up by id (HTTPSource).
	// It must not be shorter than the last step plus LastStepGrace.
	// Default 7 days, or that if longer.
	Watch time.Duration

	// BasketTTL is the baskets' time to live in the source, from their
	// creation (the engine's or the server's TTL): a basket forgotten
	// before it expires is remembered until then, so that, abandoned
	// again, it is not taken in as new. Default basket.DefaultTTL;
	// basket.NoExpiry: remembered forever.
	BasketTTL time.Duration

	// CheckEvery is how often the baskets watched for recovery are looked
	// at. Default 1h.
	CheckEvery time.Duration

	// Sync is the fsync policy of a durable runner's state. Default
	// store.SyncAlways, which exactly-once needs.
	Sync store.Sync

	// SnapshotEvery is how many bytes of log make a durable runner write a
	// snapshot. Default 8 MiB.
	SnapshotEvery int64

	// Now is the clock of Run. Default time.Now.
	Now func() time.Time

	// Logger receives one line per tick that did something, and warnings.
	// It never receives emails or tokens. Default: discard.
	Logger *slog.Logger
}

// Tokens issues and verifies unsubscribe tokens; *basket.Engine is one.
type Tokens interface {
	IssueToken(p basket.TokenPurpose, subject string, validity time.Duration) string
	VerifyToken(p basket.TokenPurpose, subject, token string) error
}

// config is Options with defaults applied and checked.
type config struct {
	Options
	shop *url.URL
	tpl  *compiled
}

func (o *Options) resolve() (*config, error) {
	c := &config{}
	if o != nil {
		c.Options = *o
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if err := checkName(c.Name); err != nil {
		return nil, err
	}
	shop, err := parseShop(c.ShopURL)
	if err != nil {
		return nil, err
	}
	c.shop = shop
	if c.Steps == nil {
		c.Steps = DefaultSteps
	}
	c.Steps = slices.Clone(c.Steps)
	if len(c.Steps) == 0 || len(c.Steps) > 20 {
		return nil, fmt.Errorf("%w: steps: want 1 to 20", ErrConfig)
	}
	for i, s := range c.Steps {
		if s < 0 || (i > 0 && s <= c.Steps[i-1]) {
			return nil, fmt.Errorf("%w: steps: want ascending, non-negative offsets; got %v", ErrConfig, c.Steps)
		}
	}
	def := func(d *time.Duration, v time.Duration, name string) error {
		switch {
		case *d == 0:
			*d = v
		case *d < 0:
			return fmt.Errorf("%w: %s: must not be negative", ErrConfig, name)
		}
		return nil
	}
	for _, f := range []struct {
		d    *time.Duration
		v    time.Duration
		name string
	}{
		{&c.Delay, DefaultDelay, "delay"}, {&c.Window, DefaultWindow, "window"},
		{&c.AttributionWindow, DefaultAttributionWindow, "attribution window"},
		{&c.RetryAfter, DefaultRetryAfter, "retry after"}, {&c.LastStepGrace, DefaultLastStepGrace, "last step grace"},
		{&c.CheckEvery, DefaultCheckEvery, "check every"},
		{&c.UnsubscribeValidity, DefaultUnsubscribeValid, "unsubscribe validity"},
	} {
		if err := def(f.d, f.v, f.name); err != nil {
			return nil, err
		}
	}
	seq := c.offset(len(c.Steps)-1) + c.LastStepGrace
	switch {
	case c.Watch == 0:
		c.Watch = max(DefaultWatch, seq)
	case c.Watch < seq:
		return nil, fmt.Errorf("%w: watch: %v is shorter than the last step plus its grace (%v): baskets would be forgotten before their sequence is over", ErrConfig, c.Watch, seq)
	}
	switch {
	case c.BasketTTL == 0:
		c.BasketTTL = basket.DefaultTTL
	case c.BasketTTL < 0 && c.BasketTTL != basket.NoExpiry:
		return nil, fmt.Errorf("%w: basket TTL: must not be negative (basket.NoExpiry keeps baskets forever)", ErrConfig)
	}
	if c.OrderLookback < 0 {
		return nil, fmt.Errorf("%w: order lookback: must not be negative", ErrConfig)
	}
	if c.TimeZone == nil {
		c.TimeZone = time.UTC
	}
	if c.ConsentField == "" {
		c.ConsentField = DefaultConsentField
	}
	if c.PromoFromStep == 0 {
		c.PromoFromStep = DefaultPromoFromStep
	}
	if c.PromoFromStep < 1 {
		return nil, fmt.Errorf("%w: promo from step: want 1 or more", ErrConfig)
	}
	if c.PromoCode != "" && !validCode(c.PromoCode) {
		return nil, fmt.Errorf("%w: promo code: want 1 to 64 letters, digits, '-' or '_'", ErrConfig)
	}
	if c.CheckoutPath == "" {
		c.CheckoutPath = DefaultCheckoutPath
	}
	if !strings.HasPrefix(c.CheckoutPath, "/") || strings.ContainsAny(c.CheckoutPath, "?#\r\n ") {
		return nil, fmt.Errorf("%w: checkout path %q: want a path such as /checkout", ErrConfig, truncate(c.CheckoutPath))
	}
	if c.UnsubscribeURL == "" {
		c.UnsubscribeURL = shop.String() + DefaultUnsubscribePath
	}
	if u, err := url.Parse(c.UnsubscribeURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" ||
		u.User != nil || strings.ContainsAny(c.UnsubscribeURL, "\r\n<> ") {
		return nil, fmt.Errorf("%w: unsubscribe URL: want an absolute http(s) URL", ErrConfig)
	}
	if c.Holdout < 0 || c.Holdout > MaxHoldout || math.IsNaN(c.Holdout) {
		return nil, fmt.Errorf("%w: holdout: want a share from 0%% to %g%%", ErrConfig, 100*MaxHoldout)
	}
	if c.QuietHours.Start < 0 || c.QuietHours.Start >= 24*60 || c.QuietHours.End < 0 || c.QuietHours.End >= 24*60 {
		return nil, fmt.Errorf("%w: quiet hours: minutes out of range", ErrConfig)
	}
	if c.Sync > store.SyncNever {
		return nil, fmt.Errorf("%w: unknown fsync policy", ErrConfig)
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = DefaultSnapshotEvery
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	t := c.Templates
	if t == nil {
		t = DefaultTemplates()
	}
	if c.tpl, err = t.compile(); err != nil {
		return nil, err
	}
	return c, nil
}

// offset returns when step i (from 0) is due after the abandonment.
func (c *config) offset(i int) time.Duration { return max(c.Steps[i], c.Delay) }

func checkName(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%w: name: want 1 to 64 characters", ErrConfig)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%w: name %q: want letters, digits, '-', '_' or '.'", ErrConfig, truncate(s))
		}
	}
	return nil
}

func validCode(s string) bool {
	if len(s) > 64 {
		return false
	}
	return checkName(s) == nil && !strings.Contains(s, ".")
}

// parseShop reads a shop's base URL or domain.
func parseShop(s string) (*url.URL, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: shop URL: required (e.g. https://shop.example.com)", ErrConfig)
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%w: shop URL %q: want https://host[:port][/path] or a domain", ErrConfig, truncate(s))
	}
	return u, nil
}

// truncate shortens outside input quoted in an error.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
