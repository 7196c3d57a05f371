package webhook_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/basketlab/abandoned/basket/webhook"
)

// ExampleVerify is a receiver of the server's webhooks: it checks each
// request's signature with the endpoint's secret (the text given to
// -webhook-secret) and acknowledges it with a 2xx.
func ExampleVerify() {
	secret := []byte("5f2b8e0c7d1a4f3b9e6c2d8a0b7f1e4c5f2b8e0c7d1a4f3b9e6c2d8a0b7f1e4c")
	receiver := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || webhook.Verify(secret, r.Header.Get("Abandoned-Signature"), body, 5*time.Minute) != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// A repeat carries the Abandoned-Event-Id of the first: skip it if seen.
		w.WriteHeader(http.StatusNoContent)
	}

	// A request as the server sends it, and one whose body was changed.
	body := []byte(`{"id":"evt_0f3a","type":"basket.abandoned"}`)
	sig := webhook.Sign([][]byte{secret}, time.Now().Unix(), body)
	for _, b := range [][]byte{body, bytes.ToUpper(body)} {
		req := httptest.NewRequest(http.MethodPost, "/hooks/abandoned", bytes.NewReader(b))
		req.Header.Set("Abandoned-Signature", sig)
		rec := httptest.NewRecorder()
		receiver(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// 204
	// 401
}
