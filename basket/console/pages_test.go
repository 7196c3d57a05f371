package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/campaign"
	"github.com/basketlab/abandoned/basket/console"
)

var (
	totalRe = regexp.MustCompile(`data-total="(\d+)"`)
	nextRe  = regexp.MustCompile(`<a href="([^"]+)" id="next"`)
	rowID   = regexp.MustCompile(`<a href="/console/baskets/([^"]+)">`)
)

// walk pages a list from p to its end and returns the ids shown, and the
// total each page said.
func walk(t *testing.T, b *browser, p *page) (ids []string, totals []int) {
	t.Helper()
	for range 1000 {
		if p.status != http.StatusOK {
			t.Fatalf("a page of the list = %d: %.300s", p.status, p.body)
		}
		m := totalRe.FindStringSubmatch(p.body)
		n := 0
		if m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		totals = append(totals, n)
		for _, r := range rowID.FindAllStringSubmatch(p.body, -1) {
			ids = append(ids, r[1])
		}
		next := nextRe.FindStringSubmatch(p.body)
		if next == nil {
			return ids, totals
		}
		p = b.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	}
	t.Fatal("the list does not end")
	return nil, nil
}

// TestList: the list pages through every abandoned basket in (created,
// id) order with the exact total on every page; filters select what the
// engine's query selects, and a filtered list's URLs never hold the
// filters in clear.
func TestList(t *testing.T) {
	h := start(t, nil)
	cs := h.seed(57)
	// One completed basket is no longer abandoned.
	if _, err := h.eng.Apply(context.Background(), basket.Event{Type: basket.EventCompleted, BasketID: "basket-010", At: t0}); err != nil {
		t.Fatal(err)
	}
	b := h.browser()
	first := b.signInToken(testToken)
	ids, totals := walk(t, b, first)
	if len(ids) != 56 || totals[0] != 56 || len(totals) != 2 {
		t.Fatalf("the list shows %d baskets over %d pages, total %v; want 56 over 2 pages of 50", len(ids), len(totals), totals)
	}
	for i, id := range ids {
		want := cs[i].id
		if i >= 10 {
			want = cs[i+1].id
		}
		if id != want {
			t.Fatalf("row %d is %s; want %s", i, id, want)
		}
	}

	for _, tc := range []struct {
		name string
		form url.Values
		want func(c customer) bool
	}{
		{"channel", url.Values{"tag": {"app"}, "limit": {"5"}}, func(c customer) bool { return c.tag == "app" }},
		{"email", url.Values{"email": {"Customer-3@Example.com"}, "limit": {"1"}}, func(c customer) bool { return c.email == "customer-3@example.com" }},
		{"created range, UTC", url.Values{"from": {t0.Add(-20 * time.Hour).Format("2006-01-02T15:04")}, "to": {t0.Add(-5 * time.Hour).Format("2006-01-02T15:04")}, "limit": {"4"}},
			func(c customer) bool {
				return !c.created.Before(t0.Add(-20*time.Hour)) && c.created.Before(t0.Add(-5*time.Hour))
			}},
		{"created range, Tokyo", url.Values{"from": {t0.Add(-20 * time.Hour).In(tokyo(t)).Format("2006-01-02T15:04")}, "tz": {"Asia/Tokyo"}, "limit": {"7"}},
			func(c customer) bool { return !c.created.Before(t0.Add(-20 * time.Hour)) }},
		{"every filter", url.Values{"tag": {"web"}, "email": {"customer-0@example.com"}, "from": {t0.Add(-60 * time.Hour).Format("2006-01-02T15:04")}},
			func(c customer) bool {
				return c.tag == "web" && c.email == "customer-0@example.com" && !c.created.Before(t0.Add(-60*time.Hour))
			}},
	} {
		var want []string
		for _, c := range cs {
			if c.id != "basket-010" && tc.want(c) {
				want = append(want, c.id)
			}
		}
		tc.form.Set("csrf", first.csrf(t))
		p := b.post("/console/baskets", tc.form)
		if p.status != http.StatusSeeOther {
			t.Fatalf("%s: the filter = %d; want 303: %.300s", tc.name, p.status, p.body)
		}
		u := p.location()
		if !strings.HasPrefix(u, "/console/baskets?q=") {
			t.Errorf("%s: the filter goes to %s; want a sealed query", tc.name, u)
		}
		got, totals := walk(t, b, b.get(u))
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: the list shows %v; want %v", tc.name, got, want)
		}
		for i, n := range totals {
			if n != len(want) {
				t.Errorf("%s: page %d says the total is %d; want %d", tc.name, i+1, n, len(want))
			}
		}
		for _, v := range tc.form {
			if v[0] != "" && len(v[0]) > 3 && (strings.Contains(u, v[0]) || strings.Contains(u, url.QueryEscape(v[0]))) {
				t.Errorf("%s: the URL %s shows the filter %q", tc.name, u, v[0])
			}
		}
	}
}

func tokyo(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestListBadInput: a bad filter is a 400 naming the field, with the form
// as typed, and no redirect; a changed or foreign link is a 400 that says
// to start again.
func TestListBadInput(t *testing.T) {
	h := start(t, nil)
	h.seed(3)
	b := h.browser()
	csrf := b.signInToken(testToken).csrf(t)
	for _, tc := range []struct {
		form url.Values
		msg  string
	}{
		{url.Values{"from": {"yesterday"}}, `Created from: &#34;yesterday&#34; is not a date and time`},
		{url.Values{"to": {"2024-13-01T00:00"}}, "Created before: "},
		{url.Values{"from": {"2024-03-27T10:00"}, "to": {"2024-03-27T09:00"}}, "Created before: must be later than Created from"},
		{url.Values{"email": {"not-an-email"}}, "Email: "},
		{url.Values{"tag": {strings.Repeat("x", 201)}}, "Channel: at most 200 characters"},
		{url.Values{"limit": {"0"}}, "Per page: &#34;0&#34; is not a number from 1 to 1000"},
		{url.Values{"limit": {"many"}}, "Per page: "},
	} {
		tc.form.Set("csrf", csrf)
		p := b.post("/console/baskets", tc.form)
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, tc.msg) {
			t.Errorf("filter %v = %d; want 400 saying %q: %.500s", tc.form, p.status, tc.msg, p.body)
		}
	}
	p := b.post("/console/baskets", url.Values{"csrf": {csrf}, "tag": {"web"}})
	q := strings.TrimPrefix(p.location(), "/console/baskets?q=")
	// The changed character differs from the one it replaces: the link
	// is random, and an "A" put where an "A" was would change nothing.
	swap := "A"
	if q[10] == 'A' {
		swap = "B"
	}
	for _, bad := range []string{q[:len(q)-2], q[:10] + swap + q[11:], "not-a-link", strings.Repeat("A", 9000)} {
		p := b.get("/console/baskets?q=" + url.QueryEscape(bad))
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "no longer works") {
			t.Errorf("a changed list link = %d; want 400 saying it no longer works", p.status)
		}
	}
	// Another console (a restarted server) does not open this one's links.
	other := start(t, nil)
	ob := other.browser()
	ob.signInToken(testToken)
	if p := ob.get("/console/baskets?q=" + q); p.status != http.StatusBadRequest {
		t.Errorf("another console's link = %d; want 400", p.status)
	}
}

// TestFollowUp: a follow-up with a note is kept by the engine and shown on
// the basket and in the list; a bad note is refused and changes nothing;
// an unknown basket is a 404.
func TestFollowUp(t *testing.T) {
	h := start(t, nil)
	h.seed(3)
	b := h.browser()
	b.signInToken(testToken)
	p := b.get("/console/baskets/basket-001")
	if !strings.Contains(p.body, "Not followed up yet") || !strings.Contains(p.body, `id="recovery-link" value="/api/checkout/recover?basketId=basket-001&amp;recover=`) {
		t.Fatalf("the basket page lacks its state or its link: %.800s", p.body)
	}
	csrf := p.csrf(t)
	p = b.post("/console/baskets/basket-001/follow-up", url.Values{"csrf": {csrf}, "note": {"Called;\r\nwill buy <Friday>."}})
	if p.status != http.StatusSeeOther || p.location() != "/console/baskets/basket-001?saved=1" {
		t.Fatalf("follow-up = %d %q; want 303 back to the basket", p.status, p.location())
	}
	got, err := h.eng.Get(context.Background(), "basket-001")
	if err != nil || got.FollowUpNote != "Called;\nwill buy <Friday>." || !got.FollowedUpAt.Equal(t0) {
		t.Fatalf("the engine keeps %v %q, %v; want the note at %v", got.FollowedUpAt, got.FollowUpNote, err, t0)
	}
	p = b.get(p.location())
	if !strings.Contains(p.body, "Marked followed up.") || !strings.Contains(p.body, "Called;\nwill buy &lt;Friday&gt;.") {
		t.Errorf("the basket page after the follow-up: %.1500s", p.body)
	}
	list := b.get("/console/baskets")
	row := list.body[strings.Index(list.body, "/console/baskets/basket-001"):]
	row = row[:strings.Index(row, "</tr>")]
	if !strings.Contains(row, `<span class="done">✓</span>`) || !strings.Contains(row, `datetime="2024-03-27T12:00:00.000Z"`) {
		t.Errorf("the list's row of the basket followed up: %s", row)
	}

	for _, note := range []string{strings.Repeat("x", basket.MaxFollowUpNote+1), "bell\a"} {
		p := b.post("/console/baskets/basket-002/follow-up", url.Values{"csrf": {csrf}, "note": {note}})
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "The note was not kept: note: ") {
			t.Errorf("a bad note = %d; want 400 saying why", p.status)
		}
	}
	if got, _ := h.eng.Get(context.Background(), "basket-002"); !got.FollowedUpAt.IsZero() {
		t.Error("a bad note was kept")
	}
	if p := b.post("/console/baskets/nobody/follow-up", url.Values{"csrf": {csrf}, "note": {"x"}}); p.status != http.StatusNotFound {
		t.Errorf("follow-up of an unknown basket = %d; want 404", p.status)
	}
	if p := b.get("/console/baskets/nobody"); p.status != http.StatusNotFound || !strings.Contains(p.body, "no such basket") {
		t.Errorf("an unknown basket = %d; want 404", p.status)
	}
}

// TestShopURL: with the shop's URL the recovery link is absolute.
func TestShopURL(t *testing.T) {
	h := start(t, func(o *console.Options) { o.ShopURL = "https://shop.example.com/" })
	h.seed(1)
	b := h.browser()
	b.signInToken(testToken)
	p := b.get("/console/baskets/basket-000")
	if !strings.Contains(p.body, `value="https://shop.example.com/api/checkout/recover?basketId=basket-000&amp;recover=`) {
		t.Errorf("the recovery link is not absolute with the shop's URL: %.2000s", p.body)
	}
	for _, bad := range []string{"shop.example.com", "ftp://shop.example.com", "https://shop.example.com/?x=1"} {
		if _, err := console.New(h.eng, &console.Options{Auth: h.api, ShopURL: bad}); err == nil || !strings.Contains(err.Error(), "ShopURL") {
			t.Errorf("New with ShopURL %q = %v; want an error naming ShopURL", bad, err)
		}
	}
	if _, err := console.New(h.eng, &console.Options{}); err == nil || !strings.Contains(err.Error(), "Auth") {
		t.Errorf("New without Auth = %v; want an error naming Auth", err)
	}
}

// TestFeed: the feed page shows the newest abandonments first, past the
// gaps of baskets that left the feed; its JSON continues after a
// position.
func TestFeed(t *testing.T) {
	h := start(t, nil)
	cs := h.seed(300)
	// Most leave the feed: completed.
	for _, c := range cs[:280] {
		if _, err := h.eng.Apply(context.Background(), basket.Event{Type: basket.EventCompleted, BasketID: c.id, At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	b := h.browser()
	b.signInToken(testToken)
	p := b.get("/console/feed")
	got := rowID.FindAllStringSubmatch(p.body, -1)
	if len(got) != 20 || got[0][1] != "basket-299" || got[19][1] != "basket-280" {
		t.Fatalf("the feed shows %d rows from %v; want the 20 abandoned, newest first", len(got), got[:min(2, len(got))])
	}
	next := regexp.MustCompile(`data-next="(\d+)"`).FindStringSubmatch(p.body)
	if next == nil {
		t.Fatal("the feed page has no position to poll from")
	}
	h.abandon(customer{id: "basket-new", first: "New", email: "new@example.com", created: t0})
	js := b.get("/console/feed.json?after=" + next[1])
	var page struct {
		Next  string `json:"next"`
		Items []struct {
			ID, Href, Email, AbandonedAt string
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(js.body), &page); err != nil || js.status != http.StatusOK {
		t.Fatalf("feed.json = %d %s: %v", js.status, js.body, err)
	}
	if len(page.Items) != 1 || page.Items[0].ID != "basket-new" || page.Items[0].Href != "/console/baskets/basket-new" ||
		page.Items[0].Email != "new@example.com" || page.Next == next[1] {
		t.Errorf("feed.json after the page = %+v; want the new basket and a new position", page)
	}
	if js := b.get("/console/feed.json?after=" + page.Next); !strings.Contains(js.body, `"items":[]`) || !strings.Contains(js.body, `"next":"`+page.Next+`"`) {
		t.Errorf("feed.json at the end = %s; want no items and the same position", js.body)
	}
	if js := b.get("/console/feed.json?after=-1"); js.status != http.StatusBadRequest || !strings.Contains(js.body, "after:") {
		t.Errorf("feed.json?after=-1 = %d %s; want 400 naming after", js.status, js.body)
	}
}

// TestDashboard: the dashboard's figures and charts come from the engine,
// are kept a minute, and say so when they read only part of the baskets.
func TestDashboard(t *testing.T) {
	h := start(t, func(o *console.Options) { o.DashboardScan = 7 })
	h.seed(10)
	// Two recovered (a link used), then still abandoned.
	for _, id := range []string{"basket-008", "basket-009"} {
		bk, err := h.eng.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(bk.RecoveryLink)
		if _, err := h.eng.Recover(context.Background(), id, u.Query().Get("recover")); err != nil {
			t.Fatal(err)
		}
	}
	b := h.browser()
	b.signInToken(testToken)
	p := b.get("/console/dashboard")
	for _, want := range []string{
		"<strong>10</strong> abandoned now", "<strong>2</strong> abandoned with their recovery link used",
		"drawn from the 7 created most recently", "Funnel: where the live baskets stand",
		"Abandoned and recovered per day (last 30 days)", "By channel (tracking.tag)", "By device (tracking.device)",
		"10 · 100% of created",
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the dashboard lacks %q", want)
		}
	}
	if strings.Contains(p.body, "<style") {
		t.Error("the dashboard holds an inline style")
	}
	// Kept a minute: a new basket shows after it.
	h.abandon(customer{id: "basket-new", email: "new@example.com", created: t0})
	if p := b.get("/console/dashboard"); !strings.Contains(p.body, "<strong>10</strong> abandoned now") {
		t.Error("the dashboard was computed again within the minute")
	}
	h.clk.Advance(console.DefaultDashboardMaxAge)
	if p := b.get("/console/dashboard"); !strings.Contains(p.body, "<strong>11</strong> abandoned now") {
		t.Error("the dashboard was not computed again after a minute")
	}

	// Without a device anywhere, the page says so and draws no chart.
	h2 := start(t, nil)
	h2.abandon(customer{id: "b-1", email: "a@example.com", tag: "web", created: t0.Add(-time.Hour)})
	b2 := h2.browser()
	b2.signInToken(testToken)
	if p := b2.get("/console/dashboard"); !strings.Contains(p.body, `id="no-device"`) || strings.Contains(p.body, "By device") ||
		strings.Contains(p.body, "drawn from") {
		t.Errorf("a dashboard without devices: %.300s", p.body)
	}
}

// TestCampaignPage: the campaign page shows the report of the campaign's
// state, says when it has none yet, and is a 404 without a campaign.
func TestCampaignPage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "campaign")
	h := start(t, func(o *console.Options) { o.CampaignDir = dir })
	b := h.browser()
	b.signInToken(testToken)
	if p := b.get("/console/campaign"); p.status != http.StatusOK || !strings.Contains(p.body, "has no state yet") {
		t.Errorf("the campaign page before it ran = %d: %.300s", p.status, p.body)
	}

	h = start(t, func(o *console.Options) { o.CampaignDir = dir })
	simulate(t, h, dir, 2)
	rep, err := campaign.ReadReport(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	b = h.browser()
	b.signInToken(testToken)
	p := b.get("/console/campaign")
	for _, want := range []string{"<h1>Campaign winback</h1>", "<h2>By step</h2>", "<td>abandonments taken in</td><td>" + formatInt(rep.TookIn) + "</td>", "<svg"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the campaign page lacks %q", want)
		}
	}
	if strings.Contains(p.body, "<style") || strings.Contains(p.body, "<body>") {
		t.Error("the campaign page holds the report's style or a second body")
	}

	// While the campaign runs it holds its state.
	r, err := campaign.Open(dir, campaign.EngineSource{Engine: h.eng}, &simSender{}, &campaign.Options{Name: "winback", ShopURL: "shop.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(console.DefaultDashboardMaxAge)
	if p := b.get("/console/campaign"); p.status != http.StatusOK || !strings.Contains(p.body, "The campaign is running") {
		t.Errorf("the campaign page while it runs = %d: %.300s", p.status, p.body)
	}
	r.Close()

	none := start(t, nil)
	nb := none.browser()
	nb.signInToken(testToken)
	if p := nb.get("/console/campaign"); p.status != http.StatusNotFound || strings.Contains(p.body, `href="/console/campaign"`) {
		t.Errorf("the campaign page without a campaign = %d; want 404 and no link to it", p.status)
	}
}

// formatInt writes n as the report does, with thousands separators.
func formatInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
