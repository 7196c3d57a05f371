//go:build browser

package console_test

// The console in a real browser: headless Chromium driven by chromedp.
// Run with
//
//	go test -tags browser ./basket/console/...
//
// Chromium must be installed (apt-get install chromium); its path may be
// given in $CHROMIUM. -update-screenshots rewrites the README's pictures
// (docs/console-list.png, docs/console-dashboard.png); -screenshots DIR
// keeps every page's picture in DIR instead of a temporary directory.

import (
	"context"
	"flag"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/console"
)

var (
	updateScreenshots = flag.Bool("update-screenshots", false, "rewrite docs/console-list.png and docs/console-dashboard.png")
	screenshotDir     = flag.String("screenshots", "", "keep the screenshots of every page in this `directory`")
)

// chromiumPath finds the browser, or fails the test saying how to install
// it: under the browser tag a missing browser is an error, never a skip.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: install it (apt-get install chromium), or give its path in $CHROMIUM")
	return ""
}

// chrome is a headless browser for one test.
type chrome struct {
	t    *testing.T
	ctx  context.Context
	dir  string // where screenshots go
	base string
}

func newChrome(t *testing.T, base string) *chrome {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.WindowSize(1280, 860),
		chromedp.Flag("lang", "en-GB"),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	dir := *screenshotDir
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &chrome{t: t, ctx: bctx, dir: dir, base: base}
	c.do() // starts the browser
	// The viewer is in Berlin, reads British English, and lets the page
	// use the clipboard.
	if _, err := chromedp.Call(bctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Berlin"}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(bctx, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: "en_GB"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(bctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: base,
		}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// do runs steps in the browser.
func (c *chrome) do(steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if err := chromedp.Do(c.ctx, steps...); err != nil {
		c.t.Fatalf("browser: %v", err)
	}
}

// get runs an action and returns its value.
func get[T any](c *chrome, a chromedp.Action[T]) T {
	c.t.Helper()
	v, err := chromedp.Run(c.ctx, a)
	if err != nil {
		c.t.Fatalf("browser: %v", err)
	}
	return v
}

// eval evaluates a JavaScript expression.
func eval[T any](c *chrome, js string) T {
	c.t.Helper()
	return get(c, chromedp.Evaluate[T](js))
}

// open navigates to a console path and waits for sel.
func (c *chrome) open(path string, sel chromedp.CSS) {
	c.t.Helper()
	c.do(chromedp.Navigate(c.base+path), chromedp.WaitVisible(sel))
}

// follow runs an action that loads a page (a click on a link or a
// button) and waits for the page; it fails the test unless the page
// answered 200.
func (c *chrome) follow(a chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	resp, err := chromedp.RunResponse(c.ctx, a)
	if err != nil {
		c.t.Fatalf("browser: %v", err)
	}
	if resp.Status != http.StatusOK {
		c.t.Fatalf("the page %s answered %d", resp.URL, resp.Status)
	}
}

// location is the page's URL.
func (c *chrome) location() string {
	c.t.Helper()
	return get(c, chromedp.Location())
}

// shot keeps a picture of the whole page as name.png.
func (c *chrome) shot(name string) {
	c.t.Helper()
	png := get(c, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(c.dir, name+".png"), png, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// viewShot keeps a picture of the window as name.png.
func (c *chrome) viewShot(name string) {
	c.t.Helper()
	png := get(c, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(c.dir, name+".png"), png, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// docShot writes the window's picture (or, with full, the whole page's)
// for the README, with -update-screenshots.
func (c *chrome) docShot(name string, full bool) {
	c.t.Helper()
	if !*updateScreenshots {
		return
	}
	shot := chromedp.CaptureScreenshot()
	if full {
		shot = chromedp.FullScreenshot(100)
	}
	if err := os.WriteFile(filepath.Join("..", "..", "docs", name), get(c, shot), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// TestBrowser: sign in, see times in the viewer's zone, filter, and page
// to the end against the exact total.
func TestBrowser(t *testing.T) {
	h := start(t, nil)
	simulate(t, h, filepath.Join(t.TempDir(), "campaign"), 10)
	st, err := h.eng.Stats(context.Background())
	if err != nil || st.Abandoned < 100 {
		t.Fatalf("the simulation left %d abandoned baskets (%v); want a hundred or more", st.Abandoned, err)
	}
	c := newChrome(t, h.url)

	// Sign in: the console sends the person to the sign-in page first.
	c.open("/console/", "#token")
	if u := c.location(); !strings.Contains(u, "/console/signin") {
		t.Fatalf("unsigned, /console/ went to %s; want the sign-in page", u)
	}
	c.shot("signin")
	c.do(chromedp.SendKeys(chromedp.ID("token"), testToken))
	c.follow(chromedp.Click(chromedp.ID("signin-token")))
	if total := eval[int](c, `+document.getElementById("total").dataset.total`); total != st.Abandoned {
		t.Errorf("the list's total = %d; want the %d abandoned", total, st.Abandoned)
	}
	c.shot("list")
	c.docShot("console-list.png", false)

	// Times are in the viewer's zone, UTC on hover.
	first := eval[[]string](c, `(t => [t.getAttribute("datetime"), t.textContent, t.title])(document.querySelector("#baskets tbody time"))`)
	created, err := time.Parse(time.RFC3339, first[0])
	if err != nil {
		t.Fatalf("a time's datetime %q: %v", first[0], err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	if want := created.In(berlin).Format("2 Jan 2006, 15:04"); first[1] != want {
		t.Errorf("a time shows %q; want %q, Berlin's", first[1], want)
	}
	if want := created.UTC().Format("2006-01-02 15:04:05 UTC"); first[2] != want {
		t.Errorf("a time's title = %q; want %q", first[2], want)
	}

	// Filter: a channel and the last four days (Berlin time, as typed), 50
	// a page; page to the end and count the rows against the total.
	tag := eval[string](c, `document.querySelector('#baskets td[data-label="Channel"]').textContent`)
	since := t0.Add(-4 * 24 * time.Hour)
	c.do(chromedp.SetValue(chromedp.ID("from"), since.In(berlin).Format("2006-01-02T15:04")),
		chromedp.SetValue(chromedp.ID("tag"), tag), chromedp.SetValue(chromedp.ID("limit"), "50"))
	c.follow(chromedp.Click(chromedp.ID("apply")))
	want, err := h.eng.Abandoned(context.Background(), basket.Query{Tag: tag, CreatedAfter: since.Add(-time.Millisecond), Limit: 1, Count: true})
	if err != nil {
		t.Fatal(err)
	}
	total := eval[int](c, `+document.getElementById("total").dataset.total`)
	if total != want.Total || total <= 50 {
		t.Fatalf("the filtered total = %d; want %d, over a page", total, want.Total)
	}
	seen := map[string]bool{}
	pages := 0
	for {
		pages++
		ids := eval[[]string](c, `Array.from(document.querySelectorAll("#baskets td.customer a")).map(a => decodeURIComponent(a.pathname.split("/").pop()))`)
		for _, id := range ids {
			if seen[id] {
				t.Errorf("page %d shows %s again", pages, id)
			}
			seen[id] = true
		}
		for _, ch := range eval[[]string](c, `Array.from(document.querySelectorAll('#baskets td[data-label="Channel"]')).map(td => td.textContent)`) {
			if ch != tag {
				t.Errorf("page %d shows channel %q; want only %q", pages, ch, tag)
			}
		}
		if !eval[bool](c, `!!document.getElementById("next")`) {
			break
		}
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		c.follow(chromedp.Click(chromedp.ID("next")))
		if u := c.location(); !strings.Contains(u, "?q=") {
			t.Fatalf("page %d's URL %s holds no sealed state", pages+1, u)
		}
	}
	if len(seen) != total || pages != (total+49)/50 {
		t.Errorf("paged %d rows over %d pages; want the total %d over %d", len(seen), pages, total, (total+49)/50)
	}
	c.shot("list-filtered-last-page")
}

// TestBrowserBasket: open a basket, copy its recovery link and follow it
// into the checkout, mark it followed up and find it so in the list
// filtered by its email (which never shows in a URL); watch the feed move;
// the dashboard, the campaign page, the list on a phone; sign out.
func TestBrowserBasket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "campaign")
	h := start(t, func(o *console.Options) { o.CampaignDir = dir })
	simulate(t, h, dir, 10)
	c := newChrome(t, h.url)
	c.open("/console/signin", "#token")
	c.do(chromedp.SendKeys(chromedp.ID("token"), testToken))
	c.follow(chromedp.Click(chromedp.ID("signin-token")))

	// Open a basket from the list.
	href := get(c, chromedp.AttributeValue(chromedp.CSS("#baskets td.customer a"), "href")).Value
	id, err := url.PathUnescape(href[strings.LastIndex(href, "/")+1:])
	if err != nil {
		t.Fatal(err)
	}
	c.follow(chromedp.Click(chromedp.CSS("#baskets td.customer a")))
	b, err := h.eng.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	email := get(c, chromedp.Text(chromedp.ID("customer-email")))
	name := get(c, chromedp.Text(chromedp.ID("customer-name")))
	if email != b.CustomerDetails.Email || name != strings.TrimSpace(b.CustomerDetails.FirstName+" "+b.CustomerDetails.LastName) {
		t.Errorf("basket %s shows %q %q; want %q %q", id, name, email, b.CustomerDetails.FirstName, b.CustomerDetails.Email)
	}
	c.shot("basket")

	// Copy its link, read it back from the clipboard, and follow it as the
	// customer would: into the checkout with this basket.
	c.do(chromedp.Click(chromedp.ID("copy-link")),
		chromedp.WaitVisible(`//button[@id="copy-link" and text()="Copied"]`))
	copied := get(c, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if copied != b.RecoveryLink {
		t.Fatalf("the clipboard holds %q; want the basket's link %q", copied, b.RecoveryLink)
	}
	nofollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := nofollow.Get(h.url + copied)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/checkout?basket="+url.QueryEscape(id) {
		t.Errorf("following the copied link = %d to %q; want 302 to the checkout with basket %s", resp.StatusCode, resp.Header.Get("Location"), id)
	}

	// Mark it followed up, with a note.
	const note = "Called: wants the yearly plan, will buy on Friday."
	c.do(chromedp.SendKeys(chromedp.ID("note"), note))
	c.follow(chromedp.Click(chromedp.ID("mark")))
	if kept := get(c, chromedp.Text(chromedp.ID("follow-up-note"))); kept != note {
		t.Errorf("the note shows %q; want %q", kept, note)
	}
	if got, _ := h.eng.Get(context.Background(), id); got.FollowUpNote != note || got.FollowedUpAt.IsZero() {
		t.Errorf("the engine keeps the follow-up %v %q; want it, with the note", got.FollowedUpAt, got.FollowUpNote)
	}
	c.shot("basket-followed-up")

	// Find it so in the list, filtered by its email.
	c.open("/console/baskets", "#email")
	c.do(chromedp.SetValue(chromedp.ID("email"), email))
	c.follow(chromedp.Click(chromedp.ID("apply")))
	local := strings.SplitN(email, "@", 2)[0]
	if u := c.location(); strings.Contains(u, local) || strings.Contains(u, url.QueryEscape(email)) {
		t.Errorf("the filtered list's URL %s shows the email", u)
	}
	followed := eval[[]string](c, `Array.from(document.querySelectorAll("#baskets tbody tr")).filter(tr => tr.querySelector("td.customer a").pathname.endsWith("/`+url.PathEscape(id)+`")).map(tr => tr.querySelector("td.followed").textContent)`)
	if len(followed) != 1 || !strings.Contains(followed[0], "✓") {
		t.Errorf("the basket's row in the list, followed up: %q; want one with ✓", followed)
	}
	c.shot("list-by-email")

	// The feed moves: a basket abandoned while the page is open appears.
	c.open("/console/feed", "#live")
	c.shot("feed")
	h.abandon(customer{id: "basket-live", first: "Lena", last: "Live", email: "lena.live@example.com", tag: "web", created: h.clk.Now().Add(-2 * time.Minute)})
	c.do(chromedp.WaitVisible(`//table[@id="feed"]//span[@class="email" and text()="lena.live@example.com"]`))
	c.shot("feed-moved")

	// The dashboard and the campaign page.
	c.open("/console/dashboard", "figure.chart svg")
	if n := eval[int](c, `document.querySelectorAll("figure.chart svg").length`); n != 4 {
		t.Errorf("the dashboard draws %d charts; want 4 (funnel, days, channels, devices)", n)
	}
	c.shot("dashboard")
	c.docShot("console-dashboard.png", true)
	c.open("/console/campaign", ".report h1")
	if title := get(c, chromedp.Text(chromedp.CSS(".report h1"))); title != "Campaign winback" {
		t.Errorf("the campaign page's title = %q; want the campaign's report, Campaign winback", title)
	}
	c.shot("campaign")

	// On a phone the list is a column of cards.
	c.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	c.open("/console/baskets", "#baskets")
	if display := eval[string](c, `getComputedStyle(document.querySelector("#baskets thead")).display`); display != "none" {
		t.Errorf("on a phone the table's head is %q; want it hidden, the rows as cards", display)
	}
	c.viewShot("list-phone")
	c.open("/console/baskets/basket-live", "#follow-up")
	c.viewShot("basket-phone")
	c.do(chromedp.EmulateViewport(1280, 860))

	// Sign out: back at the sign-in page, and the console is closed.
	c.follow(chromedp.Click(chromedp.CSS(".signout button")))
	c.do(chromedp.WaitVisible(chromedp.ID("token")))
	c.open("/console/baskets", "#token")
	if u := c.location(); !strings.Contains(u, "/console/signin") {
		t.Errorf("after sign-out /console/baskets shows %s; want the sign-in page", u)
	}
	t.Logf("screenshots in %s", c.dir)
}

// TestBrowserReadOnly: a checkout-only access token signs in read-only
// and sees no follow-up form.
func TestBrowserReadOnly(t *testing.T) {
	h := start(t, nil)
	h.seed(3)
	c := newChrome(t, h.url)
	c.open("/console/signin", "#token")
	c.do(chromedp.SendKeys(chromedp.ID("token"), h.accessToken("checkout")))
	c.follow(chromedp.Click(chromedp.ID("signin-token")))
	if badge := get(c, chromedp.Text(chromedp.CSS(".badge"))); badge != "read-only" {
		t.Errorf("the header's badge = %q; want read-only", badge)
	}
	c.open("/console/baskets/basket-001", "#follow-up")
	if n := eval[int](c, `document.querySelectorAll("#follow-up form").length`); n != 0 {
		t.Errorf("a read-only session sees %d follow-up forms; want none", n)
	}
	c.shot("basket-read-only")
}
