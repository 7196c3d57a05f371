package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/campaign"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// seedDataDir writes two abandoned baskets, abandoned two hours ago, into
// a data directory.
func seedDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	eng, err := basket.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-2 * time.Hour)
	items := []basket.OrderItem{{Name: "Digital", Path: "/offers/digital"}}
	for i, email := range []string{"ann@example.com", "bob@example.com"} {
		id := []string{"b-1", "b-2"}[i]
		if _, err := eng.Apply(context.Background(),
			basket.Event{Type: basket.EventCreated, BasketID: id, At: at, Entry: "/checkout", OrderItems: items},
			basket.Event{Type: basket.EventEmailCaptured, BasketID: id, At: at, Email: email}); err != nil {
			t.Fatal(err)
		}
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func campaignCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"campaign"}, args...), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestCampaignRunOutboxAndReport(t *testing.T) {
	dir := seedDataDir(t)
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	args := []string{"run", "-data-dir", dir, "-shop", "shop.example.com", "-outbox", outbox, "-since", "3h", "-once"}
	out, _, err := campaignCmd(t, args...)
	if err != nil {
		t.Fatalf("campaign run: %v", err)
	}
	if !strings.Contains(out, "campaign abandoned-basket") {
		t.Errorf("run printed no report:\n%s", out)
	}
	// A second run sends nothing again.
	if _, _, err := campaignCmd(t, args...); err != nil {
		t.Fatalf("campaign run again: %v", err)
	}
	data, err := os.ReadFile(outbox)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 {
		t.Fatalf("outbox holds %d lines; want 2 (one per basket, once):\n%s", len(lines), data)
	}
	for _, l := range lines {
		var m struct {
			To, RecoveryURL, UnsubscribeURL string
			Step                            int
			Headers                         map[string]string
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil || m.Step != 1 ||
			!strings.HasPrefix(m.RecoveryURL, "https://shop.example.com/api/checkout/recover?") {
			t.Errorf("outbox line %s: %v", l, err)
		}
		if !strings.HasPrefix(m.UnsubscribeURL, "https://shop.example.com/api/checkout/unsubscribe?token=") || strings.Contains(m.UnsubscribeURL, "example.com%40") ||
			strings.Contains(m.UnsubscribeURL, "@") || m.Headers["List-Unsubscribe"] != "<"+m.UnsubscribeURL+">" ||
			m.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
			t.Errorf("outbox line %s: want an unsubscribe link with a token, no address, and the one-click headers", l)
		}
	}
	out, _, err = campaignCmd(t, "report", "-data-dir", dir, "-format", "json")
	if err != nil {
		t.Fatalf("campaign report: %v", err)
	}
	var rep struct {
		Total             struct{ Sent int }
		TookIn            int
		AttributionWindow string
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Total.Sent != 2 || rep.TookIn != 2 || rep.AttributionWindow != "120h0m0s" {
		t.Errorf("report %s: %v; want 2 sent, 2 taken in, the attribution window as 120h0m0s", out, err)
	}
	if strings.Contains(out, "0001-01-01") {
		t.Errorf("report %s writes a zero time", out)
	}
	out, _, err = campaignCmd(t, "report", "-data-dir", dir, "-format", "html")
	if err != nil {
		t.Fatalf("campaign report -format html: %v", err)
	}
	if !strings.HasPrefix(out, "<!DOCTYPE html>") || !strings.Contains(out, "<svg") || strings.Contains(out, "<script") {
		t.Errorf("campaign report -format html wrote %.200q; want a page with inline charts and no script", out)
	}
}

// TestCampaignHoldout: -holdout takes a percentage, overrides the
// configuration's, and a bad one is refused naming the flag; a run with a
// holdout reports it.
func TestCampaignHoldout(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(conf, []byte(`{"shop":"x","holdout":"20%"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := campaignConfig{url: "http://127.0.0.1:1", config: conf, ttl: time.Hour}
	if o, err := c.options(time.Now()); err != nil || o.Holdout != 0.2 {
		t.Errorf("holdout from the configuration: %v, %v; want 0.2", o.Holdout, err)
	}
	c.holdout = "10%"
	if o, err := c.options(time.Now()); err != nil || o.Holdout != 0.1 {
		t.Errorf("-holdout 10%%: %v, %v; want 0.1", o.Holdout, err)
	}
	c.holdout = "ten"
	if _, err := c.options(time.Now()); err == nil || !strings.Contains(err.Error(), "-holdout") {
		t.Errorf("-holdout ten = %v; want an error naming the flag", err)
	}
	dir := seedDataDir(t)
	out, _, err := campaignCmd(t, "run", "-data-dir", dir, "-shop", "shop.example.com", "-outbox", filepath.Join(t.TempDir(), "o.jsonl"),
		"-since", "3h", "-once", "-holdout", "50%")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "holdout 50%") || !strings.Contains(out, "held out") {
		t.Errorf("the report of a run with a holdout:\n%s\nwant the holdout's comparison", out)
	}
}

func TestCampaignProgressLine(t *testing.T) {
	s := campaign.TickStats{TookIn: 12, Sent: 8, Skipped: 3, Deferred: 2, Failed: 1}
	if got, want := campaignProgressLine(s, false), "12 taken in  8 sent  3 skipped  2 deferred  1 failed  0 in doubt "; got != want {
		t.Errorf("campaignProgressLine = %q; want %q", got, want)
	}
	if got := campaignProgressLine(s, true); !strings.Contains(got, "8 would send") {
		t.Errorf("campaignProgressLine of a dry run = %q; want it to say would send", got)
	}
}

func TestCampaignRunWithoutSinceMailsNoBacklog(t *testing.T) {
	dir := seedDataDir(t)
	outbox := filepath.Join(t.TempDir(), "outbox.jsonl")
	if _, _, err := campaignCmd(t, "run", "-data-dir", dir, "-shop", "shop.example.com", "-outbox", outbox, "-once"); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(outbox); len(data) != 0 {
		t.Errorf("the backlog was mailed:\n%s", data)
	}
}

func TestCampaignDryRun(t *testing.T) {
	dir := seedDataDir(t)
	out, errOut, err := campaignCmd(t, "run", "-data-dir", dir, "-shop", "shop.example.com", "-dry-run", "-since", "3h", "-once")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, `"key"`); n != 2 || strings.Contains(out, "@example.com") || strings.Contains(out, "recover=") {
		t.Errorf("dry run printed %q; want two lines with keys, no address or token", out)
	}
	if !strings.Contains(errOut, "campaign abandoned-basket") {
		t.Errorf("dry run's report not on stderr: %q", errOut)
	}
	if !strings.Contains(errOut, "dry run: nothing was sent") || !strings.Contains(errOut, "would send") {
		t.Errorf("dry run's report does not say nothing was sent: %q", errOut)
	}
	// A dry run keeps no state: a real run afterwards still sends both.
	if _, err := os.Stat(filepath.Join(dir, "campaign")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dry run left state behind: %v", err)
	}
}

func TestCampaignErrors(t *testing.T) {
	dir := seedDataDir(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "usage"},
		{[]string{"fly"}, `unknown subcommand "fly"`},
		{[]string{"run", "-nope"}, "flag provided but not defined"},
		{[]string{"run", "-shop", "x", "-dry-run"}, "-data-dir or -url"},
		{[]string{"run", "-data-dir", dir, "-shop", "x"}, "give a sender"},
		{[]string{"run", "-data-dir", dir, "-shop", "x", "-outbox", "o", "-webhook-url", "http://x"}, "one sender"},
		{[]string{"run", "-data-dir", dir, "-dry-run"}, "shop URL"},
		{[]string{"run", "-data-dir", dir, "-shop", "x", "-dry-run", "-format", "xml"}, "-format"},
		{[]string{"run", "-data-dir", dir, "-shop", "x", "-dry-run", "-holdout", "90%"}, "-holdout"},
		{[]string{"report", "-data-dir", dir, "-format", "pdf"}, "-format"},
		{[]string{"run", "-data-dir", dir, "-shop", "x", "-dry-run", "-since", "soon"}, "-since"},
		{[]string{"run", "-data-dir", dir, "-shop", "x", "-dry-run", "-quiet-hours", "late"}, "quiet hours"},
		{[]string{"run", "-url", "http://127.0.0.1:1", "-shop", "x", "-dry-run"}, "-token"},
		{[]string{"run", "-data-dir", dir, "-shop", "x", "-smtp-addr", "127.0.0.1:1"}, "-smtp-from"},
		{[]string{"run", "-data-dir", dir, "-shop", "x", "-dry-run", "-suppress", filepath.Join(dir, "none")}, "-suppress"},
		{[]string{"report"}, "-data-dir or -state-dir"},
		{[]string{"report", "-state-dir", filepath.Join(dir, "none")}, "no campaign state"},
	}
	for _, tc := range tests {
		_, errOut, err := campaignCmd(t, tc.args...)
		if err == nil {
			t.Errorf("campaign %v = nil; want an error", tc.args)
			continue
		}
		if msg := err.Error() + errOut; !strings.Contains(msg, tc.want) {
			t.Errorf("campaign %v = %v (stderr %q); want it to mention %q", tc.args, err, errOut, tc.want)
		}
	}
}

func TestCampaignRunStopsOnCancel(t *testing.T) {
	dir := seedDataDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"campaign", "run", "-data-dir", dir, "-shop", "x", "-outbox", filepath.Join(t.TempDir(), "o"), "-every", "10ms"}, &out, &errOut)
	}()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel = %v; want nil", err)
	}
	if !strings.Contains(out.String(), "campaign abandoned-basket") {
		t.Errorf("no report after cancel: %q", out.String())
	}
}

// TestCampaignTTL: -ttl is the baskets' time to live with -url too, for
// the campaign to remember the baskets it forgot; 0 is forever.
func TestCampaignTTL(t *testing.T) {
	for _, tc := range []struct {
		ttl  time.Duration
		want time.Duration
	}{{0, basket.NoExpiry}, {48 * time.Hour, 48 * time.Hour}} {
		c := campaignConfig{url: "http://127.0.0.1:1", shop: "x", ttl: tc.ttl}
		o, err := c.options(time.Now())
		if err != nil || o.BasketTTL != tc.want {
			t.Errorf("-ttl %v: BasketTTL %v, %v; want %v", tc.ttl, o.BasketTTL, err, tc.want)
		}
	}
}

// TestCampaignCheckEvery: -check-every sets how often the baskets taken in
// are looked at again; a negative one is refused.
func TestCampaignCheckEvery(t *testing.T) {
	c := campaignConfig{url: "http://127.0.0.1:1", shop: "x", ttl: time.Hour, checkEvery: 5 * time.Minute}
	if o, err := c.options(time.Now()); err != nil || o.CheckEvery != 5*time.Minute {
		t.Errorf("-check-every 5m: CheckEvery %v, %v; want 5m", o.CheckEvery, err)
	}
	c.checkEvery = -time.Minute
	if _, err := c.options(time.Now()); err == nil || !strings.Contains(err.Error(), "-check-every") {
		t.Errorf("-check-every -1m = %v; want an error naming the flag", err)
	}
}

// TestCampaignRunURLSecret: over -url the unsubscribe tokens' secret is
// kept in the state directory; an empty one, as a crash of an older
// version left it, does not stop the campaign, and the secret made then
// is the next run's.
func TestCampaignRunURLSecret(t *testing.T) {
	eng, err := basket.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	api, err := httpapi.New(eng, &httpapi.Options{APITokens: []string{"campaign-token-0123456789"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	state := t.TempDir()
	path := filepath.Join(state, "unsubscribe.secret")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "-url", srv.URL, "-token", "campaign-token-0123456789", "-state-dir", state, "-shop", "shop.example.com",
		"-outbox", filepath.Join(t.TempDir(), "outbox.jsonl"), "-once"}
	if _, _, err := campaignCmd(t, args...); err != nil {
		t.Fatalf("campaign run with an empty secret: %v", err)
	}
	first, err := os.ReadFile(path)
	if err != nil || len(first) != 65 {
		t.Fatalf("secret %q, %v; want 64 hex digits and a newline", first, err)
	}
	if _, _, err := campaignCmd(t, args...); err != nil {
		t.Fatalf("campaign run again: %v", err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(first) {
		t.Errorf("the second run changed the secret")
	}
}
