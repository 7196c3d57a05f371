package campaign

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones, whatever the machine has

	"github.com/basketlab/abandoned/basket"
)

func TestTemplateEscaping(t *testing.T) {
	f := newFixture(t, &Options{Name: "spring", PromoCode: "BACK10", Steps: []time.Duration{time.Hour, 48 * time.Hour}}, nil)
	f.tick()
	f.apply(basket.Event{Type: basket.EventCreated, BasketID: "b-1", At: t0, Entry: "/checkout",
		OrderItems: []basket.OrderItem{{Name: `Print & "Digital"`, Path: "/offers/print+digital"}}},
		basket.Event{Type: basket.EventIdentified, BasketID: "b-1", At: t0,
			Identity:        &basket.Identity{Sub: "s-1", Iss: "https://login.example.com", Service: "salesforce", Type: "account"},
			CustomerDetails: &basket.CustomerDetails{Email: "ann@example.com", FirstName: `<script>alert(1)</script>`}})
	f.run(50*time.Hour, 10*time.Minute)
	ms := f.snd.messages()
	if len(ms) != 2 {
		t.Fatalf("%d messages; want 2", len(ms))
	}
	m1, m2 := ms[0], ms[1]
	if strings.Contains(m1.HTML, "<script>") || !strings.Contains(m1.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("HTML does not escape the name:\n%s", m1.HTML)
	}
	if !strings.Contains(m1.Text, "<script>alert(1)</script>") {
		t.Errorf("text shows the name as typed? %q", m1.Text)
	}
	if strings.ContainsAny(m1.Subject, "\r\n") {
		t.Errorf("Subject %q holds a line break", m1.Subject)
	}
	id, token := recoveryParams(t, m1)
	if id != "b-1" || token == "" {
		t.Errorf("recovery URL %q: basketId %q, token %q", m1.RecoveryURL, id, token)
	}
	for _, want := range []string{"https://shop.example.com/api/checkout/recover?", "utm_source=spring", "utm_medium=email", "utm_campaign=spring", "utm_content=1"} {
		if !strings.Contains(m1.RecoveryURL, want) {
			t.Errorf("recovery URL %q lacks %q", m1.RecoveryURL, want)
		}
	}
	if _, err := f.eng.Recover(context.Background(), id, token); err != nil {
		t.Errorf("the engine refuses the message's recovery token: %v", err)
	}
	if m1.PromoURL != "" || !strings.Contains(m2.PromoURL, "/checkout?") || !strings.Contains(m2.PromoURL, "pc=BACK10") ||
		!strings.Contains(m2.PromoURL, "purchase=%2Foffers%2Fprint%2Bdigital") || !strings.Contains(m2.PromoURL, "utm_content=2") {
		t.Errorf("promo links: step 1 %q, step 2 %q; want none, then a purchase link with the code", m1.PromoURL, m2.PromoURL)
	}
	// The HTML shows the URLs with & escaped, and the offer's quotes too.
	if !strings.Contains(m2.HTML, "Print &amp; &#34;Digital&#34;") {
		t.Errorf("HTML does not escape the offer's name:\n%s", m2.HTML)
	}
	// The unsubscribe link holds an opaque token, never the address, and
	// is no recovery token.
	u, err := url.Parse(m1.UnsubscribeURL)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != "https://shop.example.com"+DefaultUnsubscribePath || len(u.Query()) != 1 {
		t.Fatalf("unsubscribe URL %q: %v; want https://shop.example.com%s?token=…", m1.UnsubscribeURL, err, DefaultUnsubscribePath)
	}
	tok := u.Query().Get("token")
	if tok == "" || strings.Contains(strings.ToLower(m1.UnsubscribeURL), "ann") {
		t.Errorf("unsubscribe URL %q: want a token and no address", m1.UnsubscribeURL)
	}
	if _, err := f.eng.Recover(context.Background(), "b-1", tok); err == nil {
		t.Error("the unsubscribe token works as a recovery token")
	}
	if got, want := m1.Headers[HeaderListUnsubscribe], "<"+m1.UnsubscribeURL+">"; got != want {
		t.Errorf("List-Unsubscribe = %q; want %q", got, want)
	}
	if got := m1.Headers[HeaderListUnsubscribePost]; got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post = %q; want List-Unsubscribe=One-Click", got)
	}
}

func TestTemplateErrors(t *testing.T) {
	for _, tc := range []Templates{
		{Subject: "", Text: "x"},
		{Subject: "{{.Nope}}", Text: "x"},
		{Subject: "ok", Text: "{{if}}"},
		{Subject: "ok", Text: "x", HTML: "<a href='{{.RecoveryURL}}'>{{end}}"},
	} {
		_, err := New(EngineSource{}, &memSender{}, &Options{ShopURL: "shop.example.com", Templates: &tc})
		if err == nil {
			t.Errorf("New with templates %+v = nil; want an error", tc)
		}
	}
}

// TestQuietHoursDST checks quiet hours (22:00-08:00 local) across the
// spring and autumn changes of Europe/Paris: the message waits for 08:00
// on the local clock, whose UTC time moves with the offset.
func TestQuietHoursDST(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatalf("LoadLocation: %v", err)
	}
	q := QuietHours{Start: 22 * 60, End: 8 * 60}
	tests := []struct {
		now  time.Time
		want time.Time // zero: not quiet
	}{
		// The night of the spring change (02:00 -> 03:00 on 30 March 2025).
		{time.Date(2025, 3, 29, 21, 30, 0, 0, time.UTC), time.Date(2025, 3, 30, 6, 0, 0, 0, time.UTC)},
		{time.Date(2025, 3, 30, 1, 30, 0, 0, time.UTC), time.Date(2025, 3, 30, 6, 0, 0, 0, time.UTC)},
		{time.Date(2025, 3, 30, 6, 0, 0, 0, time.UTC), time.Time{}},
		// The night before: 08:00 is 07:00 UTC.
		{time.Date(2025, 3, 28, 23, 0, 0, 0, time.UTC), time.Date(2025, 3, 29, 7, 0, 0, 0, time.UTC)},
		// The autumn change (03:00 -> 02:00 on 26 October 2025).
		{time.Date(2025, 10, 25, 20, 30, 0, 0, time.UTC), time.Date(2025, 10, 26, 7, 0, 0, 0, time.UTC)},
		{time.Date(2025, 10, 26, 0, 30, 0, 0, time.UTC), time.Date(2025, 10, 26, 7, 0, 0, 0, time.UTC)},
		{time.Date(2025, 10, 25, 19, 59, 0, 0, time.UTC), time.Time{}},
	}
	for _, tc := range tests {
		got, ok := quietUntil(q, tc.now, paris)
		if ok != !tc.want.IsZero() || !got.Equal(tc.want) {
			t.Errorf("quietUntil(%v) = %v, %v; want %v", tc.now, got, ok, tc.want)
		}
	}
	// Through the runner: a basket in Paris abandoned at 23:00 local on the
	// night of the spring change gets its +1h message at 08:00 CEST.
	f := newFixture(t, &Options{QuietHours: q, Steps: []time.Duration{time.Hour}}, nil)
	f.clock.Set(time.Date(2025, 3, 29, 22, 0, 0, 0, time.UTC))
	f.tick()
	f.basket("b-1", "ann@example.com", func(ev *basket.Event) { ev.Tracking = map[string]string{"tz": "Europe/Paris"} })
	f.basket("b-2", "bob@example.com", func(ev *basket.Event) { ev.Tracking = map[string]string{"tz": "Not/AZone"} }) // falls back to UTC
	f.run(10*time.Hour, 5*time.Minute)
	ms := f.snd.messages()
	if len(ms) != 2 {
		t.Fatalf("%d messages; want 2", len(ms))
	}
	at := map[string]time.Time{}
	for _, m := range ms {
		at[m.BasketID] = m.At
	}
	if want := time.Date(2025, 3, 30, 6, 0, 0, 0, time.UTC); !at["b-1"].Equal(want) {
		t.Errorf("Paris message at %v; want %v (08:00 CEST)", at["b-1"], want)
	}
	if want := time.Date(2025, 3, 30, 8, 0, 0, 0, time.UTC); !at["b-2"].Equal(want) {
		t.Errorf("UTC message at %v; want %v (08:00 UTC, the default zone)", at["b-2"], want)
	}
	if rep := f.r.Report(); rep.Deferred[ReasonQuietHours] != 2 {
		t.Errorf("deferred quiet_hours = %d; want 2", rep.Deferred[ReasonQuietHours])
	}
}
