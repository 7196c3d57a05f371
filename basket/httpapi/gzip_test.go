package httpapi_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestGzip: an answer over 1 KiB is gzip-compressed for a client that
// accepts it, and reads the same once decompressed; a small answer, or one
// for a client that does not accept gzip, is sent as it is.
func TestGzip(t *testing.T) {
	h := start(t, nil)
	fixture(h)
	get := func(path, accept string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, h.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		tr := &http.Transport{DisableCompression: true} // the test reads what was sent
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	plainResp, plain := get("/api/checkout/abandoned?limit=10", "")
	if plainResp.Header.Get("Content-Encoding") != "" || len(plain) <= 1024 {
		t.Fatalf("without Accept-Encoding: Content-Encoding %q, %d bytes; want a plain page over 1 KiB", plainResp.Header.Get("Content-Encoding"), len(plain))
	}
	resp, body := get("/api/checkout/abandoned?limit=10", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || len(body) >= len(plain) {
		t.Fatalf("with Accept-Encoding gzip: Content-Encoding %q, %d bytes of %d; want gzip, smaller", resp.Header.Get("Content-Encoding"), len(body), len(plain))
	}
	zr, err := gzip.NewReader(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil || string(unzipped) != string(plain) {
		t.Fatalf("the gzipped page reads %q, %v; want the plain page", unzipped, err)
	}
	if small, _ := get("/healthz", "gzip"); small.Header.Get("Content-Encoding") != "" {
		t.Errorf("/healthz (a few bytes) was compressed")
	}
}
