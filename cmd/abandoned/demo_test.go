package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// demoItem is an item of the abandoned API, in the hosted API's shape.
type demoItem struct {
	ID              string          `json:"id"`
	Created         string          `json:"created"`
	CustomerDetails map[string]any  `json:"customerDetails"`
	OrderItems      []any           `json:"orderItems"`
	Tracking        map[string]any  `json:"tracking"`
	Identities      []any           `json:"identities"`
	Entry           *string         `json:"entry"`
	Completed       *bool           `json:"completed"`
	RecoveryLink    string          `json:"recoveryLink"`
	Raw             json.RawMessage `json:"-"`
}

var demoCreated = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// checkDemoPage checks a page body against the hosted API's shape.
func checkDemoPage(t *testing.T, body []byte, limit int) {
	t.Helper()
	var page struct {
		Items     []json.RawMessage `json:"items"`
		QueryMore *struct {
			From  string `json:"from"`
			Alias string `json:"alias"`
		} `json:"queryMore"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("the page is not JSON: %v\n%s", err, body)
	}
	if len(page.Items) != limit || page.QueryMore == nil || page.QueryMore.From == "" || page.QueryMore.Alias != "demo" {
		t.Fatalf("page: %d items, queryMore %+v; want %d items and a cursor for alias demo", len(page.Items), page.QueryMore, limit)
	}
	for i, raw := range page.Items {
		var it demoItem
		if err := json.Unmarshal(raw, &it); err != nil {
			t.Fatal(err)
		}
		email, _ := it.CustomerDetails["email"].(string)
		switch {
		case it.ID == "" || !demoCreated.MatchString(it.Created):
			t.Errorf("item %d: id %q, created %q; want an id and RFC 3339 UTC with milliseconds", i, it.ID, it.Created)
		case email == "":
			t.Errorf("item %d: customerDetails %v; want an email", i, it.CustomerDetails)
		case it.OrderItems == nil || it.Identities == nil || it.Tracking == nil:
			t.Errorf("item %d: %s; want orderItems, identities (arrays) and tracking (an object)", i, raw)
		case it.Entry == nil || it.Completed == nil || *it.Completed:
			t.Errorf("item %d: %s; want entry and completed false", i, raw)
		case !strings.HasPrefix(it.RecoveryLink, "/api/checkout/recover?basketId="+it.ID+"&recover="):
			t.Errorf("item %d: recoveryLink %q", i, it.RecoveryLink)
		case it.Tracking["tag"] == nil || it.Tracking["device"] == nil:
			t.Errorf("item %d: tracking %v; want a tag and a device", i, it.Tracking)
		}
	}
}

func TestDemoNoServe(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"demo", "-no-serve", "-days", "1", "-rate", "100", "-limit", "2"}, &out, &errb)
	if err != nil {
		t.Fatalf("demo = %v; stderr %s", err, errb.String())
	}
	s := out.String()
	for _, want := range []string{"Simulating 1 days of checkout traffic (seed 1)", "funnel", "engine now:",
		"GET /api/checkout/abandoned?limit=2\n200 OK\n", "A recovery link", "http://127.0.0.1:8080/api/checkout/recover?basketId=",
		"Following it, as the customer's click would: 302 Found, Location: /checkout?basket=basket-"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "Serving") || strings.Contains(s, "export TOKEN") {
		t.Errorf("-no-serve served or printed a token:\n%s", s)
	}
	_, after, _ := strings.Cut(s, "200 OK\n")
	body, _, _ := strings.Cut(after, "\n")
	checkDemoPage(t, []byte(body), 2)
}

func TestDemoServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out lockedBuffer // safe for the demo's goroutine and the test
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "-days", "1", "-rate", "60", "-addr", "127.0.0.1:0", "-token", "demo-token-0123456789"}, &out, io.Discard)
	}()
	re := regexp.MustCompile(`Serving the API on (http://127\.0\.0\.1:\d+) `)
	var base string
	deadline := time.Now().Add(30 * time.Second)
	for base == "" {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("demo ended early: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo did not serve within 30 s:\n%s", out.String())
		}
	}
	if s := out.String(); strings.Contains(s, "demo-token-0123456789") || !strings.Contains(s, "export TOKEN=$ABANDONED_API_TOKEN") {
		t.Errorf("a token given by flag must not be printed:\n%s", s)
	}
	get := func(path, token string) (*http.Response, []byte) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := get("/api/checkout/abandoned?limit=3", "demo-token-0123456789")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET page = %d %s", resp.StatusCode, body)
	}
	checkDemoPage(t, body, 3)
	if resp, _ := get("/api/checkout/abandoned", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET without a token = %d; want 401", resp.StatusCode)
	}
	var page struct {
		Items []struct {
			RecoveryLink string `json:"recoveryLink"`
		} `json:"items"`
	}
	json.Unmarshal(body, &page)
	if resp, _ := get(page.Items[0].RecoveryLink, ""); resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/checkout?basket=") {
		t.Errorf("recovery link = %d, Location %q; want 302 into the checkout", resp.StatusCode, resp.Header.Get("Location"))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo after Ctrl-C = %v; want a clean stop", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not stop within 30 s of Ctrl-C")
	}
	if !strings.Contains(out.String(), "Stopped.") {
		t.Errorf("output does not end with Stopped.:\n%s", out.String())
	}
}

func TestDemoErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tc := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"-days", "0"}, true, "-days 0 is not from 1 to 13"},
		{[]string{"-days", "20"}, true, "-days 20"},
		{[]string{"-limit", "0"}, true, "-limit 0"},
		{[]string{"-rate", "0"}, true, "-rate 0"},
		{[]string{"more"}, true, `unexpected argument "more"`},
		{[]string{"-days", "1", "-rate", "20", "-addr", ln.Addr().String()}, false, "choose another -addr"},
	} {
		var errb bytes.Buffer
		err := run(context.Background(), append([]string{"demo"}, tc.args...), io.Discard, &errb)
		switch {
		case err == nil:
			t.Errorf("demo %v succeeded; want an error", tc.args)
		case tc.usage && (!errors.Is(err, errUsage) || !strings.Contains(errb.String(), tc.want)):
			t.Errorf("demo %v = %v, stderr %q; want errUsage and %q", tc.args, err, errb.String(), tc.want)
		case !tc.usage && !strings.Contains(err.Error(), tc.want):
			t.Errorf("demo %v = %v; want %q", tc.args, err, tc.want)
		}
	}
	if err := run(context.Background(), []string{"demo", "-h"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("demo -h = %v; want flag.ErrHelp", err)
	}
}
