package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/webhook"
	"github.com/basketlab/abandoned/loadtest"
)

// Credentials of the test environments: every one random-looking hex, as
// serve wants, and different per environment.
func tokenOfEnv(env string) string { return fmt.Sprintf("%x", "token-of-"+env+"-0123456789") }
func envSecret(env string) string  { return fmt.Sprintf("%x", "secret-of-"+env+"-0123456789") }
func envRecovery(env string) string {
	return fmt.Sprintf("%x", "recovery-of-"+env+"-0123456789abcdef0123456789abcdef")
}

func envEntryJSON(env string, extra map[string]any) map[string]any {
	e := map[string]any{"alias": env, "hosts": []string{env + ".shop.example"},
		"apiTokens": []string{tokenOfEnv(env)}, "oauthClients": []string{"crm:" + envSecret(env)},
		"recoverySecrets": []string{envRecovery(env)}}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

func writeEnvFile(t *testing.T, path string, entries ...map[string]any) {
	t.Helper()
	b, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// envServer is serve with -environments on a loopback port, with its
// reload signal in the test's hands.
type envServer struct {
	url    string
	logs   *lockedBuffer
	reload chan os.Signal
	cancel context.CancelFunc
	done   chan error

	requests atomic.Uint32
}

func startEnvironments(t *testing.T, args ...string) *envServer {
	t.Helper()
	logs := &lockedBuffer{}
	cfg, err := parseServe(args, logs)
	if err != nil {
		t.Fatalf("parseServe(%q) = %v", args, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &envServer{url: "http://" + ln.Addr().String(), logs: logs, reload: make(chan os.Signal, 1), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- runEnvironments(ctx, cfg, ln, logs, s.reload) }()
	t.Cleanup(func() {
		cancel()
		if err := <-s.done; err != nil {
			t.Errorf("serve = %v", err)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), "msg=ready"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no ready line; logs:\n%s", logs.String())
		}
	}
	return s
}

// ask sends a request for host with a bearer token ("" for none).
func (s *envServer) ask(t *testing.T, host, method, path, token, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	// Each request from an address of its own (loopback has 2^24): the
	// server slows an address down after ten failed authentications, and
	// this test fails many on purpose.
	n := s.requests.Add(1)
	local := &net.TCPAddr{IP: net.IPv4(127, byte(n>>16)+1, byte(n>>8), byte(n))}
	c := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{DialContext: (&net.Dialer{LocalAddr: local}).DialContext, DisableKeepAlives: true},
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// accessToken gets an OAuth2 access token of an environment's client.
func (s *envServer) accessToken(t *testing.T, host, env string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"crm"}, "client_secret": {envSecret(env)}}
	code, body := s.ask(t, host, http.MethodPost, "/oauth2/token", "", "application/x-www-form-urlencoded", form.Encode())
	if code != http.StatusOK {
		t.Fatalf("token of %s at %s: %d %s", env, host, code, body)
	}
	var v struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.AccessToken == "" {
		t.Fatalf("token answer %s", body)
	}
	return v.AccessToken
}

func envEvents(email string) string {
	at := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	return `{"type":"created","basketId":"b-1","at":"` + at + `","entry":"/checkout","orderItems":[{"name":"Digital","path":"/offers/digital"}]}` + "\n" +
		`{"type":"emailCaptured","basketId":"b-1","at":"` + at + `","email":"` + email + `"}`
}

// TestEnvironmentsIsolation: three environments in one server, each with
// a basket of the same id: every endpoint answers each environment with
// its own data only; every credential of one environment (static token,
// OAuth client, access token) is a 401 on every other, and so is no
// credential; a cursor, a recovery link or an unsubscribe token of one is
// refused by every other; no answer of one names another's customer; a
// host that matches none is a 404 that names nothing.
func TestEnvironmentsIsolation(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "environments.json")
	envs := []string{"alpha", "beta", "gamma"}
	var entries []map[string]any
	for _, e := range envs {
		entries = append(entries, envEntryJSON(e, nil))
	}
	writeEnvFile(t, file, entries...)
	s := startEnvironments(t, "-environments", file)
	host := func(env string) string { return env + ".shop.example" }
	email := func(env string) string { return "customer-of-" + env + "@example.com" }

	type creds struct{ static, access string }
	cs := map[string]creds{}
	cursors, links, unsub := map[string]string{}, map[string]string{}, map[string]string{}
	for _, e := range envs {
		if code, body := s.ask(t, host(e), http.MethodPost, "/api/baskets/events", tokenOfEnv(e), "application/x-ndjson", envEvents(email(e))); code != http.StatusOK {
			t.Fatalf("ingest into %s: %d %s", e, code, body)
		}
		cs[e] = creds{static: tokenOfEnv(e), access: s.accessToken(t, host(e), e)}
		// Two more baskets, for a cursor.
		for i := 2; i <= 3; i++ {
			ev := strings.ReplaceAll(envEvents(email(e)), "b-1", fmt.Sprint("b-", i))
			if code, body := s.ask(t, host(e), http.MethodPost, "/api/baskets/events", tokenOfEnv(e), "application/x-ndjson", ev); code != http.StatusOK {
				t.Fatalf("ingest into %s: %d %s", e, code, body)
			}
		}
		code, body := s.ask(t, host(e), http.MethodGet, "/api/checkout/abandoned?limit=1", cs[e].access, "", "")
		var page struct {
			Items []struct {
				ID           string `json:"id"`
				RecoveryLink string `json:"recoveryLink"`
			} `json:"items"`
			QueryMore struct {
				Cursor string `json:"from"`
				Alias  string `json:"alias"`
			} `json:"queryMore"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &page) != nil || len(page.Items) != 1 || page.QueryMore.Cursor == "" {
			t.Fatalf("page of %s: %d %s", e, code, body)
		}
		if page.QueryMore.Alias != e {
			t.Fatalf("the page of %s says alias %q", e, page.QueryMore.Alias)
		}
		cursors[e], links[e] = page.QueryMore.Cursor, page.Items[0].RecoveryLink
		code, body = s.ask(t, host(e), http.MethodPost, "/api/checkout/suppression", tokenOfEnv(e), "application/json", `{"email":"`+email(e)+`"}`)
		var sup struct {
			Token string `json:"token"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &sup) != nil || sup.Token == "" {
			t.Fatalf("suppression of %s: %d %s", e, code, body)
		}
		unsub[e] = sup.Token
	}

	endpoints := []struct{ method, path, contentType, body string }{
		{http.MethodGet, "/api/checkout/abandoned", "", ""},
		{http.MethodGet, "/api/checkout/abandoned?count=exact", "", ""},
		{http.MethodGet, "/api/checkout/abandoned/feed", "", ""},
		{http.MethodGet, "/api/checkout/customer?email=" + url.QueryEscape(email("alpha")), "", ""},
		{http.MethodPost, "/api/baskets/events", "application/x-ndjson", envEvents("intruder@example.com")},
		{http.MethodPost, "/api/checkout/suppression", "application/json", `{"email":"x@example.com"}`},
	}
	leaks := func(target, body string) {
		t.Helper()
		for _, e := range envs {
			if e != target && strings.Contains(body, email(e)) {
				t.Fatalf("an answer of %s names a customer of %s: %s", target, e, body)
			}
		}
	}
	for _, target := range envs {
		for _, from := range envs {
			if from == target {
				continue
			}
			for _, ep := range endpoints {
				for kind, tok := range map[string]string{"static token": cs[from].static, "access token": cs[from].access, "no token": ""} {
					code, body := s.ask(t, host(target), ep.method, ep.path, tok, ep.contentType, ep.body)
					if code != http.StatusUnauthorized {
						t.Errorf("%s %s on %s with the %s of %s: %d %s; want 401", ep.method, ep.path, target, kind, from, code, body)
					}
					leaks(target, body)
				}
			}
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"crm"}, "client_secret": {envSecret(from)}}
			if code, body := s.ask(t, host(target), http.MethodPost, "/oauth2/token", "", "application/x-www-form-urlencoded", form.Encode()); code != http.StatusUnauthorized {
				t.Errorf("the OAuth client of %s on %s: %d %s; want 401", from, target, code, body)
			}
			// Data of one environment, with the other's own valid token.
			code, body := s.ask(t, host(target), http.MethodGet, "/api/checkout/abandoned?queryMore="+url.QueryEscape(cursors[from]), cs[target].static, "", "")
			if code != http.StatusBadRequest {
				t.Errorf("the cursor of %s on %s: %d %s; want 400", from, target, code, body)
			}
			leaks(target, body)
			if code, body := s.ask(t, host(target), http.MethodGet, links[from], "", "", ""); code != http.StatusForbidden {
				t.Errorf("the recovery link of %s on %s: %d %s; want 403", from, target, code, body)
			}
			if code, body := s.ask(t, host(target), http.MethodPost, "/api/checkout/unsubscribe?token="+url.QueryEscape(unsub[from]), "", "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click"); code != http.StatusForbidden {
				t.Errorf("the unsubscribe token of %s on %s: %d %s; want 403", from, target, code, body)
			}
		}
		// Its own: every endpoint works and shows only its own customer.
		for _, ep := range endpoints[:3] {
			code, body := s.ask(t, host(target), ep.method, ep.path, cs[target].access, "", "")
			if code != http.StatusOK || !strings.Contains(body, email(target)) {
				t.Errorf("%s %s on %s with its own token: %d %s", ep.method, ep.path, target, code, body)
			}
			leaks(target, body)
		}
		code, body := s.ask(t, host(target), http.MethodGet, "/metrics", "", "", "")
		if code != http.StatusOK {
			t.Fatalf("metrics of %s: %d", target, code)
		}
		leaks(target, body)
	}
	for _, h := range []string{"delta.shop.example", "alpha.shop.example.evil", "127.0.0.1", ""} {
		code, body := s.ask(t, h, http.MethodGet, "/api/checkout/abandoned", cs["alpha"].static, "", "")
		if code != http.StatusNotFound || body != "{\"message\":\"no such environment\"}\n" {
			t.Errorf("Host %q: %d %s; want the 404 that names nothing", h, code, body)
		}
	}
	for _, h := range []string{"ALPHA.Shop.Example", "alpha.shop.example.", "alpha.shop.example:8080"} {
		if code, _ := s.ask(t, h, http.MethodGet, "/api/checkout/abandoned", cs["alpha"].static, "", ""); code != http.StatusOK {
			t.Errorf("Host %q: %d; want alpha's answer", h, code)
		}
	}
	if logs := s.logs.String(); strings.Contains(logs, "customer-of-") || strings.Contains(logs, tokenOfEnv("alpha")) {
		t.Fatalf("the log names a customer or a token:\n%s", logs)
	}
}

// TestEnvironmentsReload: SIGHUP reads the file again: a new environment
// serves, a removed one answers 404 (its data kept in -data-dir and back
// when it returns), changed tokens take effect at once, and a file that
// does not read leaves everything as it was.
func TestEnvironmentsReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "environments.json")
	writeEnvFile(t, file, envEntryJSON("alpha", nil), envEntryJSON("beta", nil))
	s := startEnvironments(t, "-environments", file, "-data-dir", filepath.Join(dir, "data"))
	for _, e := range []string{"alpha", "beta"} {
		if code, body := s.ask(t, e+".shop.example", http.MethodPost, "/api/baskets/events", tokenOfEnv(e), "application/x-ndjson", envEvents("c@"+e+".example")); code != http.StatusOK {
			t.Fatalf("ingest into %s: %d %s", e, code, body)
		}
	}
	reload := func(wantLog string) {
		t.Helper()
		before := strings.Count(s.logs.String(), wantLog)
		s.reload <- os.Interrupt // any signal: the test's own channel
		for deadline := time.Now().Add(30 * time.Second); strings.Count(s.logs.String(), wantLog) == before; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q after the reload; logs:\n%s", wantLog, s.logs.String())
			}
		}
	}
	newToken := fmt.Sprintf("%x", "a-new-token-of-beta-0123456789")
	writeEnvFile(t, file, envEntryJSON("beta", map[string]any{"apiTokens": []string{newToken}}), envEntryJSON("gamma", nil))
	reload("environments reloaded")
	if code, _ := s.ask(t, "alpha.shop.example", http.MethodGet, "/api/checkout/abandoned", tokenOfEnv("alpha"), "", ""); code != http.StatusNotFound {
		t.Fatalf("a removed environment answers %d", code)
	}
	if code, _ := s.ask(t, "beta.shop.example", http.MethodGet, "/api/checkout/abandoned", tokenOfEnv("beta"), "", ""); code != http.StatusUnauthorized {
		t.Fatalf("beta's old token after the reload: %d; want 401", code)
	}
	code, body := s.ask(t, "beta.shop.example", http.MethodGet, "/api/checkout/abandoned", newToken, "", "")
	if code != http.StatusOK || !strings.Contains(body, "c@beta.example") {
		t.Fatalf("beta with its new token: %d %s; want its basket", code, body)
	}
	if code, _ := s.ask(t, "gamma.shop.example", http.MethodGet, "/api/checkout/abandoned", tokenOfEnv("gamma"), "", ""); code != http.StatusOK {
		t.Fatalf("a new environment answers %d", code)
	}
	// A broken file: nothing changes.
	if err := os.WriteFile(file, []byte(`[{"alias":"beta"`), 0o600); err != nil {
		t.Fatal(err)
	}
	reload("reloading the environments failed")
	if code, _ := s.ask(t, "gamma.shop.example", http.MethodGet, "/api/checkout/abandoned", tokenOfEnv("gamma"), "", ""); code != http.StatusOK {
		t.Fatalf("after a refused reload gamma answers %d", code)
	}
	// Alpha back, with another idle threshold (its engine opened anew):
	// its basket was kept.
	writeEnvFile(t, file, envEntryJSON("alpha", map[string]any{"abandonAfter": "0s"}), envEntryJSON("beta", map[string]any{"apiTokens": []string{newToken}, "ttl": "720h"}))
	reload("environments reloaded")
	code, body = s.ask(t, "alpha.shop.example", http.MethodGet, "/api/checkout/abandoned", tokenOfEnv("alpha"), "", "")
	if code != http.StatusOK || !strings.Contains(body, "c@alpha.example") {
		t.Fatalf("alpha back: %d %s; want its basket, kept in its directory", code, body)
	}
	code, body = s.ask(t, "beta.shop.example", http.MethodGet, "/api/checkout/abandoned", newToken, "", "")
	if code != http.StatusOK || !strings.Contains(body, "c@beta.example") {
		t.Fatalf("beta with a new TTL: %d %s; want its basket", code, body)
	}
	if code, _ := s.ask(t, "gamma.shop.example", http.MethodGet, "/api/checkout/abandoned", tokenOfEnv("gamma"), "", ""); code != http.StatusNotFound {
		t.Fatalf("gamma removed answers %d", code)
	}
}

// TestEnvironmentsFileErrors: a file that does not read, or names what it
// must not, stops serve with an error that says which environment and key,
// and never shows a secret.
func TestEnvironmentsFileErrors(t *testing.T) {
	dir := t.TempDir()
	tok := tokenOfEnv("alpha")
	for _, c := range []struct {
		name, content, want string
		args                []string
	}{
		{"not JSON", `{`, "want a JSON list", nil},
		{"empty", `[]`, "no environment", nil},
		{"unknown key", `[{"alias":"a","hosts":["a.example"],"colour":"red"}]`, `unknown key "colour"`, nil},
		{"no alias", `[{"hosts":["a.example"]}]`, "environment 1: alias: missing", nil},
		{"no hosts", `[{"alias":"a"}]`, `environment 1 ("a"): hosts: missing`, nil},
		{"bad host", `[{"alias":"a","hosts":["a b.example"]}]`, "hosts 1", nil},
		{"same alias", `[{"alias":"a","hosts":["a.example"]},{"alias":"a","hosts":["b.example"]}]`, `environment 2 ("a"): alias: given to another`, nil},
		{"same host", `[{"alias":"a","hosts":["a.example"]},{"alias":"b","hosts":["A.example."]}]`, `is a host of "a" too`, nil},
		{"shared token", `[{"alias":"a","hosts":["a.example"],"apiTokens":["` + tok + `"]},{"alias":"b","hosts":["b.example"],"apiTokens":["` + tok + `"]}]`, `is a credential of "a" too`, nil},
		{"weak token", `[{"alias":"a","hosts":["a.example"],"apiTokens":["password"]}]`, "apiTokens 1", nil},
		{"bad client", `[{"alias":"a","hosts":["a.example"],"oauthClients":["nocolon"]}]`, `oauthClients 1: want "ID:SECRET"`, nil},
		{"bad duration", `[{"alias":"a","hosts":["a.example"],"ttl":"2 weeks"}]`, "want a duration string", nil},
		{"negative duration", `[{"alias":"a","hosts":["a.example"],"abandonAfter":"-1h"}]`, "not negative", nil},
		{"with -alias", `[{"alias":"a","hosts":["a.example"]}]`, "-environments and -alias", []string{"-alias", "x"}},
		{"with -api-token", `[{"alias":"a","hosts":["a.example"]}]`, "-environments and -api-token", []string{"-api-token", tok}},
	} {
		file := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".json")
		if err := os.WriteFile(file, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := parseServe(append([]string{"-environments", file}, c.args...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an error naming %q", c.name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), tok) {
			t.Errorf("%s: the error shows a token: %v", c.name, err)
		}
	}
	if _, err := parseServe([]string{"-environments", filepath.Join(dir, "missing.json")}, io.Discard); err == nil || !strings.Contains(err.Error(), "-environments") {
		t.Errorf("a missing file: %v", err)
	}
}

// TestEnvironmentsClientsByHost: the commands that call a server reach an
// environment by -host when -url is an address that names none.
func TestEnvironmentsClientsByHost(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "environments.json")
	writeEnvFile(t, file, envEntryJSON("alpha", nil), envEntryJSON("beta", nil))
	s := startEnvironments(t, "-environments", file)
	events := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(events, []byte(envEvents("by-host@beta.example")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out, errs strings.Builder
	if err := run(ctx, []string{"ingest", "-url", s.url, "-host", "beta.shop.example", "-token", tokenOfEnv("beta"), events}, &out, &errs); err != nil {
		t.Fatalf("ingest -host: %v\n%s", err, errs.String())
	}
	for _, c := range []struct {
		host, token string
		want        bool
	}{{"beta.shop.example", tokenOfEnv("beta"), true}, {"alpha.shop.example", tokenOfEnv("alpha"), false}} {
		out.Reset()
		errs.Reset()
		if err := run(ctx, []string{"query", "-url", s.url, "-host", c.host, "-token", c.token}, &out, &errs); err != nil {
			t.Fatalf("query -host %s: %v\n%s", c.host, err, errs.String())
		}
		if got := strings.Contains(out.String(), "by-host@beta.example"); got != c.want {
			t.Fatalf("query -host %s shows beta's basket: %v, want %v:\n%s", c.host, got, c.want, out.String())
		}
	}
	out.Reset()
	errs.Reset()
	err := run(ctx, []string{"query", "-url", s.url, "-token", tokenOfEnv("beta")}, &out, &errs)
	if err == nil || !strings.Contains(err.Error()+errs.String(), "no such environment") {
		t.Fatalf("query without -host at an address of no environment: %v %s; want the 404", err, errs.String())
	}
	if err := run(ctx, []string{"query", "-url", s.url, "-host", "a b", "-token", tokenOfEnv("beta")}, &out, &errs); err == nil || !strings.Contains(err.Error(), "-host") {
		t.Fatalf("query -host 'a b': %v; want an error naming -host", err)
	}
	for host, want := range map[string]int{"beta.shop.example": 1, "": -1} {
		lt, err := loadtest.NewHTTPTarget(s.url, &loadtest.HTTPOptions{Token: tokenOfEnv("beta"), Host: host})
		if err != nil {
			t.Fatal(err)
		}
		n, _, err := lt.Query(ctx, basket.Query{Limit: 10})
		lt.Close()
		if want < 0 && err == nil || want >= 0 && (err != nil || n != want) {
			t.Fatalf("the load tester with Host %q: %d baskets, %v", host, n, err)
		}
	}
}

// TestEnvironmentsWebhooks: an environment's webhooks in the file deliver
// its abandonments, signed with its secret, and nothing of another
// environment; a webhook without a secret, or on loopback without
// -webhook-allow-private, is refused naming the environment.
func TestEnvironmentsWebhooks(t *testing.T) {
	secret := fmt.Sprintf("%x", "the-webhook-secret-of-alpha-0123")
	type got struct {
		typ, body string
	}
	received := make(chan got, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte(secret), r.Header.Get("Abandoned-Signature"), body, time.Minute); err != nil {
			t.Errorf("a webhook that does not verify: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var ev struct {
			Type string `json:"type"`
		}
		json.Unmarshal(body, &ev)
		received <- got{ev.Type, string(body)}
	}))
	defer recv.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "environments.json")
	hooks := []map[string]any{{"url": recv.URL + "/hooks", "secret": secret, "events": []string{"basket.abandoned"}}}
	writeEnvFile(t, file, envEntryJSON("alpha", map[string]any{"webhooks": hooks}), envEntryJSON("beta", nil))
	s := startEnvironments(t, "-environments", file, "-webhook-allow-private")
	for _, e := range []string{"beta", "alpha"} {
		if code, body := s.ask(t, e+".shop.example", http.MethodPost, "/api/baskets/events", tokenOfEnv(e), "application/x-ndjson", envEvents("c@"+e+".example")); code != http.StatusOK {
			t.Fatalf("ingest into %s: %d %s", e, code, body)
		}
	}
	select {
	case g := <-received:
		if g.typ != "basket.abandoned" || !strings.Contains(g.body, "c@alpha.example") || strings.Contains(g.body, "beta") {
			t.Fatalf("the webhook got %s %s; want alpha's abandonment only", g.typ, g.body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook in 30 s")
	}
	select {
	case g := <-received:
		t.Fatalf("a second webhook: %s %s", g.typ, g.body)
	case <-time.After(500 * time.Millisecond):
	}
	if code, _ := s.ask(t, "alpha.shop.example", http.MethodGet, "/api/webhooks/deliveries", tokenOfEnv("alpha"), "", ""); code != http.StatusOK {
		t.Fatalf("alpha's deliveries list: %d", code)
	}
	if code, _ := s.ask(t, "beta.shop.example", http.MethodGet, "/api/webhooks/deliveries", tokenOfEnv("beta"), "", ""); code != http.StatusNotFound {
		t.Fatalf("beta, without webhooks, has a deliveries list: %d", code)
	}

	for _, c := range []struct {
		hooks []map[string]any
		args  []string
		want  string
	}{
		{[]map[string]any{{"url": "https://hooks.example.com/a"}}, nil, `environment 1 ("alpha"): webhooks 1: secret: missing`},
		{[]map[string]any{{"url": recv.URL, "secret": secret}}, nil, `environment 1 ("alpha"): webhooks 1: url`},
		{[]map[string]any{{"url": "https://hooks.example.com/a", "secret": "short"}}, nil, "webhooks 1: secret 1"},
		{[]map[string]any{{"url": "https://hooks.example.com/a", "secret": secret, "events": []string{"basket.bought"}}}, nil, "webhooks 1: events"},
	} {
		writeEnvFile(t, file, envEntryJSON("alpha", map[string]any{"webhooks": c.hooks}))
		_, err := parseServe(append([]string{"-environments", file}, c.args...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), secret) {
			t.Errorf("webhooks %v: %v; want an error naming %q, without the secret", c.hooks, err, c.want)
		}
	}
}
