package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSimulateNowEndsTheDrainNow: with -start now the whole run, -drain
// included, ends now: no event lies ahead of the clock, so a server's
// -max-future (5 minutes by default) takes every batch of -target.
func TestSimulateNowEndsTheDrainNow(t *testing.T) {
	file := filepath.Join(t.TempDir(), "events.jsonl")
	before := time.Now()
	if _, errOut, err := simRun(t, "-days", "1", "-rate", "40", "-start", "now", "-drain", "48h", "-out", file); err != nil {
		t.Fatalf("simulate -out = %v; stderr %s", err, errOut)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var last, first time.Time
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
		var ev struct {
			At time.Time `json:"at"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if first.IsZero() || ev.At.Before(first) {
			first = ev.At
		}
		if ev.At.After(last) {
			last = ev.At
		}
	}
	if n == 0 {
		t.Fatal("no events")
	}
	if now := time.Now(); last.After(now) || first.Before(before.Add(-74*time.Hour)) {
		t.Errorf("events from %v to %v; want them within the 72 h (a day and the drain) before %v", first, last, now)
	}

	// The same against a server with the default -max-future.
	env := map[string]string{"ABANDONED_API_TOKEN": "0123456789abcdef0123456789abcdef"}
	withEnv(t, env)
	srv := startServe(t)
	_, errOut, err := simRun(t, "-days", "1", "-rate", "40", "-drain", "48h", "-target", srv.url)
	if err != nil || !strings.Contains(errOut, "events accepted by") {
		t.Errorf("simulate -target -drain 48h = %v; stderr %s", err, errOut)
	}
}
