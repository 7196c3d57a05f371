package campaign

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// FuzzParseConfig: never a panic; a configuration accepted once is
// accepted with the same meaning by New.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"shop":"shop.example.com"}`))
	f.Add([]byte(`{"name":"winback","shop":"https://shop.example.com","steps":["1h","24h","72h"],"quietHours":"21:00-08:00","timeZone":"Europe/Paris","promo":{"code":"BACK10","fromStep":2}}`))
	f.Add([]byte(`{"shop":"x","templates":{"subject":"{{.FirstName}}","text":"{{.RecoveryURL}}","html":"<a href=\"{{.RecoveryURL}}\">x</a>"}}`))
	f.Add([]byte(`{"shop":"x","steps":["2h","1h"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ParseConfig(data)
		if err != nil {
			return
		}
		if _, err := New(EngineSource{}, &memSender{}, &o); err != nil {
			t.Fatalf("ParseConfig accepted %q, New refuses it: %v", data, err)
		}
	})
}

// FuzzParseSuppressions: never a panic; every entry is a valid address.
func FuzzParseSuppressions(f *testing.F) {
	f.Add("ann@example.com\n# comment\nbob@example.com, bounced\n\n")
	f.Add("not an address\n")
	f.Add("a@b.c,\x00\n")
	f.Fuzz(func(t *testing.T, s string) {
		list, err := ParseSuppressions(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, e := range list {
			if strings.ContainsAny(e.Email, "\r\n,") || e.Reason == "" {
				t.Fatalf("entry %+v from %q", e, s)
			}
		}
	})
}

// FuzzParseQuietHours: never a panic; what parses formats back to a form
// that parses to the same.
func FuzzParseQuietHours(f *testing.F) {
	for _, s := range []string{"21:00-08:00", "", "8:00-9:30", "24:00-01:00", "25:00-01:00", "-1:00-2:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuietHours(s)
		if err != nil {
			return
		}
		q2, err := ParseQuietHours(q.String())
		if err != nil || q2 != q && !(q.Start == q.End && q2 == QuietHours{}) {
			t.Fatalf("ParseQuietHours(%q) = %v; its String %q parses to %v, %v", s, q, q.String(), q2, err)
		}
	})
}

// FuzzParseHoldout: never a panic; what parses is a share from 0 to
// MaxHoldout, and formats back to a form that parses to the same.
func FuzzParseHoldout(f *testing.F) {
	for _, s := range []string{"10%", "0", "2.5%", "50%", "51%", "-0%", "1e1%", "NaN%", "Inf%", "0x10%", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseHoldout(s)
		if err != nil {
			return
		}
		if !(v >= 0 && v <= MaxHoldout) {
			t.Fatalf("ParseHoldout(%q) = %v; want a share from 0 to %v", s, v, MaxHoldout)
		}
		back, err := ParseHoldout(formatShare(v))
		if err != nil || math.Abs(back-v) > 1e-8 {
			t.Fatalf("ParseHoldout(%q) = %v; formatted %q it parses to %v, %v", s, v, formatShare(v), back, err)
		}
	})
}

// FuzzUnsubscribe: an unsubscribe token from outside never panics and
// never puts an address on the list unless it is the token of a link.
func FuzzUnsubscribe(f *testing.F) {
	eng, err := basket.New(nil)
	if err != nil {
		f.Fatal(err)
	}
	defer eng.Close()
	r, err := New(ownListSource{EngineSource{eng}}, &memSender{}, &Options{ShopURL: "x", Tokens: eng})
	if err != nil {
		f.Fatal(err)
	}
	defer r.Close()
	r.mu.Lock()
	good := r.ownToken("ann@example.com", time.Now(), time.Now())
	r.mu.Unlock()
	f.Add(good)
	f.Add("")
	f.Add(".")
	f.Add(good[:32] + ".")
	f.Add(strings.Repeat("0", 32) + "." + good[33:])
	f.Fuzz(func(t *testing.T, tok string) {
		err := r.Unsubscribe(context.Background(), tok)
		if err != nil && !errors.Is(err, ErrBadToken) {
			t.Fatalf("Unsubscribe(%q) = %v; want nil or ErrBadToken", tok, err)
		}
		if err == nil && tok != good {
			t.Fatalf("Unsubscribe(%q) = nil; only the link's token %q is good", tok, good)
		}
	})
}

func TestParseConfig(t *testing.T) {
	o, err := ParseConfig([]byte(`{"name":"winback","shop":"https://shop.example.com","steps":["30m","24h"],"delay":"30m",
		"quietHours":"21:00-08:00","timeZone":"Europe/Paris","consentedOnly":true,"promo":{"code":"BACK10","fromStep":2}}`))
	if err != nil {
		t.Fatalf("ParseConfig = %v", err)
	}
	if o.Name != "winback" || len(o.Steps) != 2 || o.QuietHours.String() != "21:00-08:00" || o.TimeZone.String() != "Europe/Paris" ||
		!o.ConsentedOnly || o.PromoCode != "BACK10" {
		t.Errorf("ParseConfig = %+v", o)
	}
	if o, err := ParseConfig([]byte(`{"shop":"x","checkEvery":"10m"}`)); err != nil || o.CheckEvery != 10*time.Minute {
		t.Errorf("ParseConfig(checkEvery 10m) = %v, %v; want 10m", o.CheckEvery, err)
	}
	for _, tc := range []struct{ in, want string }{
		{`{}`, "shop URL"},
		{`{"shop":"x","stepz":[]}`, "stepz"},
		{`{"shop":"x","steps":["1h","1h"]}`, "ascending"},
		{`{"shop":"x","window":"-1h"}`, "window"},
		{`{"shop":"x","checkEvery":"often"}`, "checkEvery"},
		{`{"shop":"x","quietHours":"9-5"}`, "quiet hours"},
		{`{"shop":"x","timeZone":"Mars/Olympus"}`, "timeZone"},
		{`{"shop":"x","promo":{"code":"a b"}}`, "promo code"},
		{`{"shop":"x","templates":{"subject":"{{","text":"x"}}`, "subject"},
		{`{"shop":"x"} {}`, "more than one"},
	} {
		if _, err := ParseConfig([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConfig(%s) = %v; want an error naming %q", tc.in, err, tc.want)
		}
	}
}

func TestParseSuppressions(t *testing.T) {
	list, err := ParseSuppressions(strings.NewReader("# list\nAnn@Example.com\n bob@example.com , bounced \n"))
	if err != nil || len(list) != 2 || list[0].Reason != "unsubscribed" || list[1] != (Suppression{"bob@example.com", "bounced"}) {
		t.Errorf("ParseSuppressions = %+v, %v", list, err)
	}
	if _, err := ParseSuppressions(strings.NewReader("ann@example.com\nnope\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("ParseSuppressions with a bad line = %v; want an error naming line 2", err)
	}
}
