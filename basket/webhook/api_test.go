package webhook_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/basketlab/abandoned/basket/httpapi"
	"github.com/basketlab/abandoned/basket/webhook"
)

// TestMountedInAPI: the HTTP API serves the deliveries list and the
// resume endpoint behind its authentication (scope checkout), and the
// webhooks' metrics at /metrics.
func TestMountedInAPI(t *testing.T) {
	ft := newFakeTime()
	eng := newEngine(t, ft.clock)
	rc := newReceiver(t, nil)
	ep := endpointAt(rc.url())
	d := start(t, eng, ft, webhook.Options{Endpoints: []webhook.Endpoint{ep}, AllowPrivate: true})
	waitActive(t, d, ep.ID())
	abandon(t, eng, ft.clock.Now(), "b-1")
	rc.waitFor("b-1", func(evs []received) bool { return len(evs) == 1 })
	waitAttempts(t, d, ep.ID(), 1) // the receiver records a request before it answers
	const token = "0123456789abcdef0123456789abcdef"
	srv, err := httpapi.New(eng, &httpapi.Options{APITokens: []string{token}, Routes: d.Routes(), Collectors: d.Collectors()})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(srv)
	defer api.Close()
	do := func(method, path, tok string) (int, string) {
		req, _ := http.NewRequest(method, api.URL+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := do("GET", webhook.DeliveriesPath+"?endpoint="+ep.ID(), ""); code != 401 {
		t.Errorf("deliveries without a token = %d; want 401", code)
	}
	code, body := do("GET", webhook.DeliveriesPath+"?endpoint="+ep.ID(), token)
	if code != 200 || !strings.Contains(body, `"outcome":"delivered"`) {
		t.Errorf("deliveries = %d %s; want 200 with the delivered attempt", code, body)
	}
	if code, _ := do("POST", webhook.DeliveriesPath, token); code != 405 {
		t.Errorf("POST deliveries = %d; want 405", code)
	}
	if code, body := do("POST", webhook.ResumePath+"?endpoint="+ep.ID(), token); code != 200 || !strings.Contains(body, `"status":"active"`) {
		t.Errorf("resume = %d %s; want 200, active", code, body)
	}
	_, metrics := do("GET", "/metrics", "")
	if !strings.Contains(metrics, `abandoned_webhook_deliveries_total{endpoint="`+ep.ID()+`"} 1`) {
		t.Errorf("/metrics lacks the webhooks' deliveries:\n%s", metrics)
	}
	if _, err := httpapi.New(eng, &httpapi.Options{Collectors: append(d.Collectors(), d.Collectors()[0])}); err == nil {
		t.Error("New with a collector twice = nil; want an error")
	}
}
