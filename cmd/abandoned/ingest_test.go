package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// ingestEvents returns n events, two per basket (created, email), as JSON
// lines, at times in the last hour.
func ingestEvents(prefix string, n int) []string {
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	var lines []string
	for i := range n {
		id := fmt.Sprintf("%s-%03d", prefix, i/2)
		if i%2 == 0 {
			lines = append(lines, `{"type":"created","basketId":"`+id+`","at":"`+at.Format(time.RFC3339Nano)+`","entry":"/checkout"}`)
		} else {
			lines = append(lines, `{"type":"emailCaptured","basketId":"`+id+`","at":"`+at.Format(time.RFC3339Nano)+`","email":"`+id+`@example.com"}`)
		}
	}
	return lines
}

func writeLines(t *testing.T, lines []string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(name, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func ingestCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = execute(context.Background(), append([]string{"ingest"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestIngest(t *testing.T) {
	withEnv(t, map[string]string{"ABANDONED_API_TOKEN": envToken})
	r := startServe(t)
	lines := ingestEvents("ok", 40)
	lines = append(lines[:10], append([]string{"", "  "}, lines[10:]...)...) // blank lines are skipped
	code, out, errOut := ingestCmd(t, "-url", r.url, "-batch", "7", writeLines(t, lines))
	if want := "ingest 40 events applied in 6 batches from "; code != 0 || !strings.HasPrefix(out, want) || errOut != "" {
		t.Fatalf("ingest = %d, stdout %q, stderr %q; want 0 and %q…", code, out, errOut, want)
	}
	code, _, page := r.do(t, http.MethodGet, "/api/checkout/abandoned?limit=100&count=exact", envToken, "")
	if code != 200 || !strings.HasSuffix(page, `"total":20}`+"\n") {
		t.Errorf("after ingest: %d, a page ending %q; want the 20 baskets abandoned", code, page[max(0, len(page)-40):])
	}

	// Stdin, loaded again: harmless.
	old := stdin
	t.Cleanup(func() { stdin = old })
	stdin = strings.NewReader(strings.Join(lines, "\n"))
	if code, out, _ := ingestCmd(t, "-url", r.url, "-"); code != 0 || !strings.HasPrefix(out, "ingest 40 events applied in 1 batches from stdin") {
		t.Errorf("ingest - = %d %q", code, out)
	}
}

// TestIngestRejections: every rejected batch is named by the line of the
// event at fault, the other batches are applied, and ingest exits 1.
func TestIngestRejections(t *testing.T) {
	withEnv(t, map[string]string{"ABANDONED_API_TOKEN": envToken})
	r := startServe(t)
	lines := ingestEvents("rj", 50) // batches of 10: lines 1-10, 11-20, …
	at := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339Nano)
	lines[13] = `{"type":"emailCaptured","basketId":"rj-006","at":"` + at + `","email":"not-an-email"}` // line 14: 400
	lines[26] = `{"type":"completed","basketId":"nobody","at":"` + at + `"}`                            // line 27: 409
	lines[38] = `not json at all`                                                                       // line 39: refused unsent
	code, out, errOut := ingestCmd(t, "-url", r.url, "-batch", "10", writeLines(t, lines))
	if code != 1 || errOut != "" {
		t.Errorf("ingest = %d, stderr %q; want exit 1 and nothing on stderr", code, errOut)
	}
	for _, want := range []string{
		"ingest 20 events applied in 2 batches from ",
		"ingest: 3 batches rejected, their 30 events not applied:\n",
		"\n  line 14: 400: invalid event: event 3: email: ",
		"\n  line 27: 409: conflict: event 6: ",
		"\n  line 39: not sent: not an event: want one JSON object per line\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "not-an-email") {
		t.Errorf("the summary repeats the bad value:\n%s", out)
	}
}

// TestIngestSplitsAndRetries: batches over the server's -max-batch are
// split; 503s and 429s are retried; every event is applied once.
func TestIngestSplitsAndRetries(t *testing.T) {
	eng, err := basket.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	srv, err := httpapi.New(eng, &httpapi.Options{APITokens: []string{envToken}, MaxBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 5 {
		case 1:
			http.Error(w, `{"message":"busy"}`, http.StatusServiceUnavailable)
		case 3:
			http.Error(w, `{"message":"slow down"}`, http.StatusTooManyRequests)
		default:
			srv.ServeHTTP(w, r)
		}
	}))
	defer ts.Close()
	withEnv(t, map[string]string{"ABANDONED_TOKEN": envToken}) // the older name
	code, out, errOut := ingestCmd(t, "-url", ts.URL, "-batch", "10", writeLines(t, ingestEvents("sp", 30)))
	if code != 0 || !strings.HasPrefix(out, "ingest 30 events applied in ") {
		t.Fatalf("ingest = %d, stdout %q, stderr %q", code, out, errOut)
	}
	if st := mustStats(t, eng); st.Abandoned != 15 {
		t.Errorf("stats %+v; want 15 abandoned", st)
	}
}

func TestIngestErrors(t *testing.T) {
	withEnv(t, map[string]string{"ABANDONED_API_TOKEN": envToken})
	r := startServe(t)
	file := writeLines(t, ingestEvents("er", 4))
	for _, tt := range []struct {
		args  []string
		code  int
		first string
	}{
		{[]string{"-url", r.url}, 2, "abandoned ingest: give the file of events to load, or - for stdin"},
		{[]string{"-url", r.url, file, "more"}, 2, `abandoned ingest: unexpected argument "more"`},
		{[]string{"-url", r.url, "-batch", "0", file}, 2, "abandoned ingest: -batch 0: want 1 to 1000000 events"},
		{[]string{"-url", "ftp://x", file}, 2, "abandoned ingest: -url: want an http(s) URL"},
		{[]string{"-url", r.url, filepath.Join(t.TempDir(), "none.jsonl")}, 1, "abandoned: ingest: open "},
		{[]string{"-url", r.url, "-token", "00112233445566778899aabbccddeeff", "-retries", "0", file}, 1, "abandoned: ingest: server answered 401"},
	} {
		code, _, errOut := ingestCmd(t, tt.args...)
		if code != tt.code || !strings.HasPrefix(errOut, tt.first) {
			t.Errorf("ingest %q = %d, stderr %q; want %d and %q…", tt.args, code, errOut, tt.code, tt.first)
		}
	}
	withEnv(t, map[string]string{})
	if code, _, errOut := ingestCmd(t, "-url", r.url, file); code != 2 || !strings.Contains(errOut, "-token or ABANDONED_API_TOKEN") {
		t.Errorf("ingest without a token = %d %q; want 2, naming -token and ABANDONED_API_TOKEN", code, errOut)
	}
}

func TestIngestBarLine(t *testing.T) {
	if got, want := ingestBarLine(50, 100, 1234, 3, 1, 10), "[█████░░░░░]  50%  1234 events applied  3 batches  1 rejected "; got != want {
		t.Errorf("bar = %q; want %q", got, want)
	}
	if got, want := ingestBarLine(50, 0, 7, 1, 0, 10), "7 events applied  1 batches  0 rejected "; got != want {
		t.Errorf("bar of stdin = %q; want %q", got, want)
	}
}
