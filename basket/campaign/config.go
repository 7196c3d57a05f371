package campaign

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// Config is a campaign's configuration file (JSON), as
// "abandoned campaign run -config" reads it. Durations are Go durations
// ("1h", "72h"); every field is optional except shop.
//
//	{"name": "winback", "shop": "https://shop.example.com",
//	 "steps": ["1h", "24h", "72h"], "delay": "1h", "window": "24h",
//	 "attributionWindow": "120h", "quietHours": "21:00-08:00",
//	 "timeZone": "Europe/Paris", "consentedOnly": true,
//	 "consentField": "marketingConsent", "orderLookback": "0s",
//	 "checkEvery": "1h", "holdout": "10%",
//	 "promo": {"code": "BACK10", "fromStep": 2},
//	 "unsubscribeUrl": "https://shop.example.com/api/checkout/unsubscribe",
//	 "templates": {"subject": "…", "text": "…", "html": "…"}}
//
// Durations are read as Go writes them too ("120h0m0s", as the JSON
// report shows them). The holdout is a percentage ("10%") or a fraction
// (0.1).
type Config struct {
	Name              string   `json:"name"`
	Shop              string   `json:"shop"`
	Steps             []string `json:"steps"`
	Delay             string   `json:"delay"`
	Window            string   `json:"window"`
	AttributionWindow string   `json:"attributionWindow"`
	QuietHours        string   `json:"quietHours"`
	TimeZone          string   `json:"timeZone"`
	ConsentedOnly     bool     `json:"consentedOnly"`
	ConsentField      string   `json:"consentField"`
	OrderLookback     string   `json:"orderLookback"`
	CheckEvery        string   `json:"checkEvery"`
	Holdout           Share    `json:"holdout"`
	Promo             *struct {
		Code     string `json:"code"`
		FromStep int    `json:"fromStep"`
	} `json:"promo"`
	UnsubscribeURL string     `json:"unsubscribeUrl"`
	Templates      *Templates `json:"templates"`
}

// ParseConfig reads a configuration file into Options and checks them as
// New would. The error names the field that is wrong.
func ParseConfig(data []byte) (Options, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); errors.Is(err, ErrConfig) {
		return Options{}, err // a field's own check, which names it
	} else if err != nil {
		return Options{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if dec.More() {
		return Options{}, fmt.Errorf("%w: more than one JSON value", ErrConfig)
	}
	o := Options{Name: c.Name, ShopURL: c.Shop, ConsentedOnly: c.ConsentedOnly, ConsentField: c.ConsentField,
		UnsubscribeURL: c.UnsubscribeURL, Templates: c.Templates, Holdout: float64(c.Holdout)}
	dur := func(name, s string, d *time.Duration) error {
		if s == "" {
			return nil
		}
		v, err := time.ParseDuration(s)
		if err != nil || v < 0 {
			return fmt.Errorf("%w: %s: %q is not a non-negative duration such as 24h", ErrConfig, name, truncate(s))
		}
		*d = v
		return nil
	}
	if len(c.Steps) > 20 {
		return Options{}, fmt.Errorf("%w: steps: want 1 to 20", ErrConfig)
	}
	for i, s := range c.Steps {
		var d time.Duration
		if err := dur(fmt.Sprintf("steps[%d]", i), s, &d); err != nil {
			return Options{}, err
		}
		o.Steps = append(o.Steps, d)
	}
	if c.Steps != nil && len(c.Steps) == 0 {
		return Options{}, fmt.Errorf("%w: steps: want 1 to 20", ErrConfig)
	}
	for _, f := range []struct {
		name, s string
		d       *time.Duration
	}{{"delay", c.Delay, &o.Delay}, {"window", c.Window, &o.Window},
		{"attributionWindow", c.AttributionWindow, &o.AttributionWindow}, {"orderLookback", c.OrderLookback, &o.OrderLookback},
		{"checkEvery", c.CheckEvery, &o.CheckEvery}} {
		if err := dur(f.name, f.s, f.d); err != nil {
			return Options{}, err
		}
	}
	var err error
	if o.QuietHours, err = ParseQuietHours(c.QuietHours); err != nil {
		return Options{}, err
	}
	if c.TimeZone != "" {
		if o.TimeZone, err = time.LoadLocation(c.TimeZone); err != nil || strings.EqualFold(c.TimeZone, "local") {
			return Options{}, fmt.Errorf("%w: timeZone: %q is not an IANA time zone", ErrConfig, truncate(c.TimeZone))
		}
	}
	if c.Promo != nil {
		o.PromoCode, o.PromoFromStep = c.Promo.Code, c.Promo.FromStep
	}
	if _, err := o.resolve(); err != nil {
		return Options{}, err
	}
	return o, nil
}

// Share is the share of a holdout group in a configuration file: a
// percentage as a string ("10%", see ParseHoldout) or a fraction as a
// number (0.1).
type Share float64

// UnmarshalJSON reads "10%" or 0.1.
func (v *Share) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		f, err := ParseHoldout(s)
		if err != nil {
			return err
		}
		*v = Share(f)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil || f < 0 || f > MaxHoldout {
		return fmt.Errorf("%w: holdout: %s is not a share: want a percentage such as \"10%%\" or a fraction from 0 to %g",
			ErrConfig, truncate(string(b)), MaxHoldout)
	}
	*v = Share(f)
	return nil
}

// Suppression is an entry of a suppression list.
type Suppression struct {
	Email  string
	Reason string // "unsubscribed" if the line names none
}

// ParseSuppressions reads a suppression list: one address per line,
// optionally followed by a comma and a reason ("ann@example.com,bounced");
// blank lines and lines starting with # are ignored. An invalid line is an
// error naming its number, and nothing is returned.
func ParseSuppressions(r io.Reader) ([]Suppression, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<10)
	var out []Suppression
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		email, reason, _ := strings.Cut(line, ",")
		email, reason = strings.TrimSpace(email), strings.TrimSpace(reason)
		if err := basket.ValidateEmail(email); err != nil {
			return nil, fmt.Errorf("%w: suppression list line %d: %v", ErrConfig, n, err)
		}
		if reason == "" {
			reason = "unsubscribed"
		}
		if checkName(reason) != nil {
			return nil, fmt.Errorf("%w: suppression list line %d: reason: want a word (letters, digits, '-', '_', '.')", ErrConfig, n)
		}
		out = append(out, Suppression{Email: email, Reason: reason})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: suppression list: %v", ErrConfig, err)
	}
	return out, nil
}
