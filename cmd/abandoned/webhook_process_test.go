package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWebhookProcessKilled runs serve as a process of its own over a data
// directory, delivering to a loopback receiver, and kills it (SIGKILL)
// again and again while it ingests and delivers; afterwards the receiver
// has every abandonment of the feed, none missing, a repeat only with the
// same event id.
func TestWebhookProcessKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes; -short skips it")
	}
	const token = "0123456789abcdef0123456789abcdef"
	seed := rand.Uint64()
	t.Logf("SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	hr := newHookReceiver(t, http.StatusOK)
	hr.delay = 2 * time.Millisecond // deliveries in flight when the kill comes
	addr := freeLocalAddrs(t, 1)[0]
	dir := t.TempDir()
	p := &proc{url: "http://" + addr, args: []string{"serve", "-addr", addr, "-data-dir", dir, "-alias", "shop",
		"-api-token", token, "-recovery-secret", strings.Repeat("cd", 32), "-ttl", "0",
		"-webhook", hr.srv.URL + "/hooks", "-webhook-secret", hookSecret, "-webhook-allow-private"}}
	defer p.kill()
	acked := 0
	for round := range 6 {
		if err := p.start(); err != nil {
			t.Fatal(err)
		}
		var lines []string
		at := time.Now().UTC().Format(time.RFC3339Nano)
		for i := range 40 {
			id := fmt.Sprintf("r%d-%02d", round, i)
			lines = append(lines,
				`{"type":"created","basketId":"`+id+`","at":"`+at+`","entry":"/checkout","orderItems":[]}`,
				`{"type":"emailCaptured","basketId":"`+id+`","at":"`+at+`","email":"`+id+`@example.com"}`)
		}
		if code, body := post(t, p.url+"/api/baskets/events", token, strings.Join(lines, "\n")); code == 200 {
			acked += 40
		} else {
			t.Fatalf("round %d: ingest = %d %s", round, code, body)
		}
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		p.kill()
		t.Logf("round %d: killed with %d events at the receiver", round, len(hr.events(t)))
	}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	feed := feedPositions(t, p.url, token)
	if len(feed) != acked {
		t.Fatalf("the feed holds %d baskets; want the %d acknowledged", len(feed), acked)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		missing := 0
		got := map[string]bool{}
		for _, ev := range hr.events(t) {
			got[ev.Position] = true
		}
		for pos := range feed {
			if !got[pos] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d abandonments never reached the receiver", missing, len(feed))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Every event id names one abandonment, the same each time it came.
	evs := hr.events(t)
	byID := map[string]hookEvent{}
	for _, ev := range evs {
		if ev.Type != "basket.abandoned" {
			t.Fatalf("event %s of type %s; want abandonments only", ev.ID, ev.Type)
		}
		if first, ok := byID[ev.ID]; ok && (first.Position != ev.Position || first.Data.ID != ev.Data.ID) {
			t.Fatalf("event %s came as %s at %s and as %s at %s", ev.ID, first.Data.ID, first.Position, ev.Data.ID, ev.Position)
		}
		byID[ev.ID] = ev
		if feed[ev.Position] != ev.Data.ID {
			t.Fatalf("event %s: basket %s at position %s; the feed has %q there", ev.ID, ev.Data.ID, ev.Position, feed[ev.Position])
		}
	}
	if len(byID) != len(feed) {
		t.Fatalf("%d distinct event ids for %d abandonments", len(byID), len(feed))
	}
	t.Logf("%d abandonments, %d requests (%d repeats)", len(feed), len(evs), len(evs)-len(byID))
	if _, err := os.Stat(filepath.Join(dir, webhookStateDir)); err != nil {
		t.Errorf("no delivery state under -data-dir: %v", err)
	}
}

// post sends body to url with token and returns the status and answer.
func post(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// feedPositions pages through the feed of the server at base and returns
// each position's basket id.
func feedPositions(t *testing.T, base, token string) map[string]string {
	t.Helper()
	out := map[string]string{}
	after := ""
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/checkout/abandoned/feed?limit=1000&after="+after, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items []struct{ ID, Position string }
			Next  string
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("feed = %d, %v", resp.StatusCode, err)
		}
		for _, it := range page.Items {
			out[it.Position] = it.ID
		}
		if len(page.Items) == 0 {
			return out
		}
		after = page.Next
	}
}
