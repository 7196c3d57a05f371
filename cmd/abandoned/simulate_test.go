package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
	"github.com/basketlab/abandoned/simulator"
)

func simRun(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), append([]string{"simulate"}, args...), &out, &errb)
	return out.String(), errb.String(), err
}

func TestSimulateText(t *testing.T) {
	out, errOut, err := simRun(t, "-days", "1", "-rate", "100", "-seed", "3")
	if err != nil {
		t.Fatalf("simulate = %v; stderr %s", err, errOut)
	}
	for _, want := range []string{"Simulated 2025-01-06 00:00 to 2025-01-07 00:00 UTC (1 days), seed 3, 100 baskets",
		"funnel", "abandoned", "by auth", "by device", "engine now:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if errOut != "" {
		t.Errorf("stderr = %q; want nothing (not a terminal)", errOut)
	}
}

func TestSimulateJSON(t *testing.T) {
	out, _, err := simRun(t, "-days", "1", "-rate", "100", "-format", "json", "-drain", "48h")
	if err != nil {
		t.Fatal(err)
	}
	var rep simulator.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("the JSON report does not decode: %v\n%s", err, out)
	}
	if rep.Funnel.Created == 0 || rep.Engine == nil || rep.Engine.Abandoned == 0 || rep.Drain.D() != 48*time.Hour {
		t.Errorf("report %+v; want baskets, the engine's state and the drain", rep)
	}
}

// TestSimulateOut checks the JSON lines: every line an event of the wire
// format, the same bytes for the same seed, and the report on stderr when
// the events go to stdout.
func TestSimulateOut(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	for _, f := range []string{a, b} {
		out, _, err := simRun(t, "-days", "1", "-rate", "60", "-seed", "9", "-out", f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "funnel") {
			t.Errorf("report missing from stdout:\n%s", out)
		}
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if len(da) == 0 || !bytes.Equal(da, db) {
		t.Fatalf("two runs with seed 9 wrote %d and %d bytes, not the same", len(da), len(db))
	}
	stdout, stderr, err := simRun(t, "-days", "1", "-rate", "60", "-seed", "9", "-out", "-")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != string(da) {
		t.Error("-out - wrote other events than -out file")
	}
	if !strings.Contains(stderr, "funnel") {
		t.Errorf("with -out -, the report goes to stderr; got %q", stderr)
	}
	sc := bufio.NewScanner(bytes.NewReader(da))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var ev basket.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("line %d: %v: %s", n+1, err, sc.Bytes())
		}
		if ev.At.Location() != time.UTC || !ev.At.Equal(ev.At.Truncate(time.Millisecond)) {
			t.Fatalf("line %d: at %v is not UTC in milliseconds", n+1, ev.At)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no events")
	}
}

// TestSimulateTarget feeds a server (the real HTTP API over an engine on the
// wall clock) and checks it holds as many abandoned baskets as the engine
// fed in process by the same seed and period.
func TestSimulateTarget(t *testing.T) {
	eng, err := basket.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	srv, err := httpapi.New(eng, &httpapi.Options{APITokens: []string{"target-token-0123456789"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	start := time.Now().UTC().Add(-50 * time.Hour).Truncate(time.Second).Format(time.RFC3339)

	withEnv(t, map[string]string{"ABANDONED_API_TOKEN": "target-token-0123456789"})
	_, errOut, err := simRun(t, "-days", "2", "-rate", "80", "-seed", "4", "-start", start, "-target", ts.URL, "-batch", "300")
	if err != nil {
		t.Fatalf("simulate -target = %v; stderr %s", err, errOut)
	}
	if !strings.Contains(errOut, "events accepted by "+ts.URL+"/api/baskets/events") || strings.Contains(errOut, "target-token-0123456789") {
		t.Errorf("stderr = %q; want the count of events accepted, without the token", errOut)
	}
	out, _, err := simRun(t, "-days", "2", "-rate", "80", "-seed", "4", "-start", start, "-format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var rep simulator.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if got := mustStats(t, eng); got.Abandoned != rep.Engine.Abandoned || got.Completed != rep.Engine.Completed || got.Abandoned == 0 {
		t.Errorf("server: %+v; in process: %+v; want the same abandoned and completed", got, *rep.Engine)
	}

	// A wrong token is refused, and said so.
	_, _, err = simRun(t, "-days", "1", "-rate", "10", "-target", ts.URL, "-token", "wrong")
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("simulate with a wrong token = %v; want HTTP 401, without the token", err)
	}
}

func TestSimulatePrintScenario(t *testing.T) {
	out, _, err := simRun(t, "-print-scenario", "-days", "12", "-rate", "250")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := simulator.ParseScenario([]byte(out))
	if err != nil {
		t.Fatalf("the printed scenario does not parse: %v", err)
	}
	if sc.Days != 12 || sc.Rate != 250 {
		t.Errorf("printed days %d, rate %v; want the flags applied", sc.Days, sc.Rate)
	}
	// And it runs from a file.
	f := filepath.Join(t.TempDir(), "scenario.json")
	os.WriteFile(f, []byte(`{"days": 1, "rate": 40, "hourProfile": "news"}`), 0o600)
	out, _, err = simRun(t, "-scenario", f)
	if err != nil || !strings.Contains(out, "(1 days), seed 1, 40 baskets") {
		t.Errorf("simulate -scenario = %v:\n%s", err, out)
	}
}

func TestSimulateErrors(t *testing.T) {
	dir := t.TempDir()
	badJSON := filepath.Join(dir, "bad.json")
	os.WriteFile(badJSON, []byte(`{"rate": -5}`), 0o600)
	tests := []struct {
		args  []string
		usage bool   // errUsage, with a hint, not the whole help
		want  string // in the error or on stderr
	}{
		{[]string{"-days", "0"}, true, "-days 0 is not from 1 to 3660"},
		{[]string{"-rate", "-1"}, true, "-rate -1"},
		{[]string{"-format", "xml"}, true, `-format "xml"`},
		{[]string{"-batch", "0"}, true, "-batch 0"},
		{[]string{"-token", "x"}, true, "-token is for -target"},
		{[]string{"-drain", "-1h"}, true, "-drain -1h0m0s"},
		{[]string{"extra"}, true, `unexpected argument "extra"`},
		{[]string{"-nope"}, true, "flag provided but not defined: -nope"},
		{[]string{"-start", "yesterday"}, true, `-start "yesterday" is not "now"`},
		{[]string{"-scenario", filepath.Join(dir, "missing.json")}, false, "reading the scenario"},
		{[]string{"-scenario", badJSON}, false, "scenario: rate: -5 is not"},
		{[]string{"-target", "ftp://x", "-token", "t"}, false, `ingest target "ftp://x" is not an http(s) URL`},
		{[]string{"-out", filepath.Join(dir, "no", "such", "dir.jsonl")}, false, "no such file or directory"},
	}
	for _, tc := range tests {
		_, stderr, err := simRun(t, tc.args...)
		switch {
		case err == nil:
			t.Errorf("simulate %v succeeded; want an error", tc.args)
		case tc.usage && (!errors.Is(err, errUsage) || !strings.HasPrefix(stderr, "abandoned simulate: "+tc.want) ||
			!strings.HasSuffix(stderr, "\nrun 'abandoned simulate -h' for help\n") || strings.Contains(stderr, "Examples:")):
			t.Errorf("simulate %v = %v, stderr %q; want errUsage, %q and the hint, not the whole help", tc.args, err, stderr, tc.want)
		case !tc.usage && !strings.Contains(err.Error(), tc.want):
			t.Errorf("simulate %v = %v; want %q", tc.args, err, tc.want)
		}
	}
	if _, stderr, err := simRun(t, "-h"); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr, "Examples:") {
		t.Errorf("simulate -h = %v; want flag.ErrHelp and the usage", err)
	}
}

func TestSimulateInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	err := run(ctx, []string{"simulate", "-days", "30"}, &out, &errb)
	if err != nil {
		t.Fatalf("simulate, interrupted = %v; want a clean stop", err)
	}
	if !strings.Contains(out.String(), "interrupted") || !strings.Contains(errb.String(), "interrupted at") {
		t.Errorf("stdout %q, stderr %q; want the report marked interrupted", out.String(), errb.String())
	}
}

func TestSimParseStart(t *testing.T) {
	now := time.Date(2026, 3, 10, 15, 4, 5, 123456789, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"now", time.Date(2026, 3, 8, 15, 4, 5, 123000000, time.UTC), true},
		{"2025-01-06", time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC), true},
		{"2025-01-06T10:00:00+02:00", time.Date(2025, 1, 6, 8, 0, 0, 0, time.UTC), true},
		{"2025-01-06T10:00:00.5Z", time.Date(2025, 1, 6, 10, 0, 0, 5e8, time.UTC), true},
		{"2025-13-06", time.Time{}, false},
		{"06/01/2025", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tc := range tests {
		got, err := simParseStart(tc.in, 2, now)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("simParseStart(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestSimBarLine(t *testing.T) {
	start := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	p := simulator.Progress{Start: start, End: start.Add(4 * 24 * time.Hour), Now: start.Add(36 * time.Hour), Events: 1234, Baskets: 567}
	got := simBarLine(p, 8)
	want := "[███░░░░░]  38%  day 2 of 4  567 baskets  1234 events "
	if got != want {
		t.Errorf("simBarLine = %q; want %q", got, want)
	}
	var buf bytes.Buffer
	b := simProgressBar(&buf) // not a terminal: draws nothing
	b.update(p)
	b.done()
	if buf.Len() != 0 {
		t.Errorf("progress drawn on a non-terminal: %q", buf.String())
	}
}
