package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// consoleClient is a browser-like client of a console: cookies kept,
// redirects not followed, a Host of its choice.
type consoleClient struct {
	t    *testing.T
	base string
	host string
	c    *http.Client
}

func newConsoleClient(t *testing.T, base, host string) *consoleClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &consoleClient{t: t, base: base, host: host, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (cc *consoleClient) do(method, path string, form url.Values) (int, string, string) {
	cc.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, cc.base+path, body)
	if err != nil {
		cc.t.Fatal(err)
	}
	if cc.host != "" {
		req.Host = cc.host
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := cc.c.Do(req)
	if err != nil {
		cc.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

var consoleCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn posts the sign-in form with token; it returns the answer's status.
func (cc *consoleClient) signIn(token string) int {
	cc.t.Helper()
	_, _, page := cc.do(http.MethodGet, "/console/signin", nil)
	m := consoleCSRF.FindStringSubmatch(page)
	if m == nil {
		cc.t.Fatalf("no sign-in form: %.300s", page)
	}
	code, _, _ := cc.do(http.MethodPost, "/console/signin", url.Values{"csrf": {m[1]}, "token": {token}})
	return code
}

// TestServeConsole: serve has the console at /console/ (sign in with the
// API token, see the baskets), says where it is, and -console=false
// leaves the path to the API's 404.
func TestServeConsole(t *testing.T) {
	withEnv(t, map[string]string{"ABANDONED_API_TOKEN": envToken})
	r := startServe(t, "-console-campaign", filepath.Join(t.TempDir(), "campaign"))
	if code, _, body := r.do(t, http.MethodPost, "/api/baskets/events", envToken, envEvents("ann@example.com")); code != http.StatusOK {
		t.Fatalf("ingest = %d %s", code, body)
	}
	if !strings.Contains(r.logs.String(), "the console is at "+r.url+"/console/") {
		t.Errorf("serve does not say where the console is:\n%s", r.logs.String())
	}
	cc := newConsoleClient(t, r.url, "")
	if code, loc, _ := cc.do(http.MethodGet, "/console/baskets", nil); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/signin") {
		t.Errorf("the console unsigned = %d %q; want 303 to the sign-in page", code, loc)
	}
	if code := cc.signIn(envToken); code != http.StatusSeeOther {
		t.Fatalf("sign-in with the API token = %d; want 303", code)
	}
	if code, _, body := cc.do(http.MethodGet, "/console/baskets", nil); code != http.StatusOK || !strings.Contains(body, "ann@example.com") {
		t.Errorf("the console's list = %d; want the basket: %.300s", code, body)
	}
	if code, _, body := cc.do(http.MethodGet, "/console/campaign", nil); code != http.StatusOK || !strings.Contains(body, "has no state yet") {
		t.Errorf("the campaign page = %d: %.300s", code, body)
	}
	r.stop(t)
	if strings.Contains(r.logs.String(), "ann@example.com") {
		t.Error("the logs hold the customer's email")
	}

	off := startServe(t, "-console=false")
	if code, _, body := off.do(t, http.MethodGet, "/console/", "", ""); code != http.StatusNotFound || !strings.Contains(body, "no such endpoint") {
		t.Errorf("with -console=false, /console/ = %d %s; want the API's 404", code, body)
	}
	withEnv(t, map[string]string{"ABANDONED_API_TOKEN": envToken, "ABANDONED_CONSOLE": "false"})
	if cfg, err := parseServe(nil, io.Discard); err != nil || cfg.console.enabled {
		t.Errorf("ABANDONED_CONSOLE=false: console on %v, %v; want off", cfg != nil && cfg.console.enabled, err)
	}
}

// TestEnvironmentsConsole: with -environments each environment has its
// console, signed in with that environment's credentials only.
func TestEnvironmentsConsole(t *testing.T) {
	file := filepath.Join(t.TempDir(), "environments.json")
	writeEnvFile(t, file, envEntryJSON("alpha", nil), envEntryJSON("beta", nil))
	s := startEnvironments(t, "-environments", file)
	if code, body := s.ask(t, "alpha.shop.example", http.MethodPost, "/api/baskets/events", tokenOfEnv("alpha"), "application/x-ndjson", envEvents("ann@alpha.example")); code != http.StatusOK {
		t.Fatalf("ingest = %d %s", code, body)
	}
	alpha := newConsoleClient(t, s.url, "alpha.shop.example")
	if code := alpha.signIn(tokenOfEnv("beta")); code != http.StatusUnauthorized {
		t.Errorf("beta's token at alpha's console = %d; want 401", code)
	}
	if code := alpha.signIn(tokenOfEnv("alpha")); code != http.StatusSeeOther {
		t.Fatalf("alpha's token at alpha's console = %d; want 303", code)
	}
	if code, _, body := alpha.do(http.MethodGet, "/console/baskets", nil); code != http.StatusOK || !strings.Contains(body, "ann@alpha.example") {
		t.Errorf("alpha's list = %d: %.300s", code, body)
	}
	// Alpha's session is not beta's: the cookie is refused there.
	u, _ := url.Parse(s.url + "/console/")
	beta := newConsoleClient(t, s.url, "beta.shop.example")
	beta.c.Jar.SetCookies(u, alpha.c.Jar.Cookies(u))
	if code, loc, _ := beta.do(http.MethodGet, "/console/baskets", nil); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/signin") {
		t.Errorf("alpha's session at beta's console = %d %q; want 303 to sign-in", code, loc)
	}
}
