package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
	"github.com/basketlab/abandoned/basket/internal/btest"
	"github.com/basketlab/abandoned/basket/store"
)

// TestStorageFailure: once the log's fsync fails, ingest answers 503 and
// changes nothing, /healthz answers 503 naming the failure, and reads go on
// serving what is durable.
func TestStorageFailure(t *testing.T) {
	var fail atomic.Bool
	fs := &btest.FaultFS{FailSync: fail.Load}
	clk := &clock{t: t0}
	eng, err := basket.Open(t.TempDir(), &basket.Options{Now: clk.Now, RecoverySecrets: [][]byte{btest.Secret},
		SnapshotEvery: -1, Store: &store.Options{Sync: store.SyncAlways, FS: fs}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	api, err := httpapi.New(eng, &httpapi.Options{APITokens: []string{testToken}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	batch := func(id string) string {
		return `{"type":"created","basketId":"` + id + `","at":"2024-03-26T15:44:54.975Z","orderItems":[]}` + "\n" +
			`{"type":"emailCaptured","basketId":"` + id + `","at":"2024-03-26T15:44:54.975Z","email":"` + id + `@example.com"}`
	}
	if code, body := do(http.MethodPost, "/api/baskets/events", batch("a")); code != http.StatusOK {
		t.Fatalf("ingest = %d %s", code, body)
	}
	if code, _ := do(http.MethodGet, "/healthz", ""); code != http.StatusOK {
		t.Fatalf("/healthz = %d before the failure", code)
	}
	fail.Store(true)
	if code, body := do(http.MethodPost, "/api/baskets/events", batch("b")); code != http.StatusServiceUnavailable || !strings.Contains(body, "storage") {
		t.Fatalf("ingest with a failing fsync = %d %s; want 503 naming the storage", code, body)
	}
	fail.Store(false)
	if code, body := do(http.MethodPost, "/api/baskets/events", batch("c")); code != http.StatusServiceUnavailable {
		t.Fatalf("ingest after a failed fsync = %d %s; want 503", code, body)
	}
	code, body := do(http.MethodGet, "/healthz", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "storage failed") || strings.Contains(body, "/") {
		t.Fatalf("/healthz after a failed fsync = %d %s; want 503 naming the failure, without paths", code, body)
	}
	code, body = do(http.MethodGet, "/api/checkout/abandoned", "")
	if code != http.StatusOK || !strings.Contains(body, `"id":"a"`) || strings.Contains(body, `"id":"b"`) {
		t.Fatalf("query after the failure = %d %s; want a only", code, body)
	}
}
