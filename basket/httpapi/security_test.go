package httpapi_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
)

var rawURL = base64.RawURLEncoding

func hmacSum(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// TestGuessedRecoverySecretForgesNoAccessToken plays the attack: a weak
// recovery secret (the Go API takes 16 bytes; serve no longer does), one
// emailed link, and a dictionary that holds the secret. The secret is
// found from the link, as it would be with any weak secret; but no access
// token can be made with it, in the old layout or the new, with a far
// expiry or a near one, even if the client's secret leaked too.
func TestGuessedRecoverySecretForgesNoAccessToken(t *testing.T) {
	const weak = "Summer2024Shop!!"
	h := start(t, func(bo *basket.Options, _ *httpapi.Options) {
		bo.RecoverySecrets = [][]byte{[]byte(weak)}
	})
	fixture(h)
	page := h.get("/api/checkout/abandoned?limit=1").json(t)
	link := page["items"].([]any)[0].(map[string]any)["recoveryLink"].(string)
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	id, tok := u.Query().Get("basketId"), u.Query().Get("recover")
	raw, err := rawURL.DecodeString(tok)
	if err != nil || len(raw) != 24 {
		t.Fatalf("recovery token %q: %v", tok, err)
	}

	// The key id names no secret: it cannot filter guesses.
	for _, g := range []string{weak, "Winter2023Shop!!"} {
		if hmac.Equal(raw[:4], hmacSum([]byte(g), []byte("abandoned/v1/kid"))[:4]) {
			t.Fatalf("the token's key id is a fingerprint of %q", g)
		}
	}
	// The MAC over a known message confirms a guess.
	var found string
	for _, g := range []string{"password1234567890", "Spring2024Shop!!", weak, "Autumn2024Shop!!"} {
		k := hmacSum([]byte(g), []byte("abandoned/v1/recover"))
		if hmac.Equal(hmacSum(k, []byte{'r'}, raw[:8], []byte(id))[:16], raw[8:]) {
			found = g
		}
	}
	if found != weak {
		t.Fatalf("the dictionary attack found %q; the test no longer plays it", found)
	}

	// Forgeries with the secret found, expiring in 2106 or in a minute.
	client := rawURL.EncodeToString([]byte("client-1"))
	recoverKey := hmacSum([]byte(found), []byte("abandoned/v1/recover"))
	clientSum := sha256.Sum256([]byte("secret-1-abcdefgh"))
	var forged []string
	for _, exp := range []uint32{1<<32 - 1, uint32(t0.Add(time.Minute).Unix())} {
		var head [8]byte
		copy(head[:4], raw[:4])
		binary.BigEndian.PutUint32(head[4:], exp)
		// The old layout: an engine token of purpose 'a'.
		mac := hmacSum(recoverKey, []byte{'a'}, head[:], []byte("oauth2\x00client-1\x003"))[:16]
		forged = append(forged, "abat1."+client+".3."+rawURL.EncodeToString(append(head[:], mac...)))
		// The new layout, under keys derived from the recovery secret.
		for _, k := range [][]byte{[]byte(found), recoverKey, hmacSum([]byte(found), []byte("abandoned/httpapi/v2/access-token"))} {
			body := append([]byte(nil), head[4:]...)
			body = append(body, hmacSum(k, []byte("client-1"), []byte{0, 3}, head[4:], clientSum[:])...)
			forged = append(forged, "abat2."+client+".3."+rawURL.EncodeToString(body))
		}
	}
	// One request each: fewer than the failures the backoff lets pass.
	for i, f := range forged {
		var r *response
		switch i % 3 {
		case 0:
			r = h.do(http.MethodGet, "/api/checkout/abandoned", f, "", nil)
		case 1:
			r = h.do(http.MethodGet, "/api/checkout/customer?email=ann@example.com", f, "", nil)
		case 2:
			r = h.do(http.MethodPost, "/api/baskets/events", f, "", strings.NewReader(evCreated("forged", t0, "")))
		}
		if r.status != http.StatusUnauthorized || r.message(t) != "invalid bearer token" {
			t.Errorf("forged token %q: %d %s; want 401 invalid bearer token", f, r.status, r.body)
		}
	}
	// A real one works: the forgeries failed for their forgery.
	if r := h.do(http.MethodGet, "/api/checkout/abandoned", h.token(""), "", nil); r.status != http.StatusOK {
		t.Errorf("a real access token = %d", r.status)
	}
}

// TestAccessSecretIsNotTheRecoverySecret: two servers with the same
// recovery secret and client but no access secret of their own accept
// each other's recovery links and not each other's access tokens; given
// the same access secret, they accept both.
func TestAccessSecretIsNotTheRecoverySecret(t *testing.T) {
	a, b := start(t, nil), start(t, nil)
	tok := a.token("")
	if r := b.do(http.MethodGet, "/api/checkout/abandoned", tok, "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("another server's access token = %d; want 401", r.status)
	}
	shared := func(_ *basket.Options, o *httpapi.Options) {
		o.AccessSecrets = [][]byte{[]byte("shared-access-secret-0123456789abcdef")}
	}
	c, d := start(t, shared), start(t, shared)
	if r := d.do(http.MethodGet, "/api/checkout/abandoned", c.token(""), "", nil); r.status != http.StatusOK {
		t.Errorf("an access token of a server sharing the access secret = %d; want 200", r.status)
	}
	// Rotation: the new secret first, the old one verifies.
	e := start(t, func(_ *basket.Options, o *httpapi.Options) {
		o.AccessSecrets = [][]byte{[]byte("newer-access-secret-0123456789abcdef"), []byte("shared-access-secret-0123456789abcdef")}
	})
	if r := e.do(http.MethodGet, "/api/checkout/abandoned", c.token(""), "", nil); r.status != http.StatusOK {
		t.Errorf("a token of the previous access secret after rotation = %d; want 200", r.status)
	}
}

// TestClientSecretRotationRevokes: an access token stops working when its
// client's secret changes, and when the server's lifetime becomes shorter
// than what is left of it.
func TestClientSecretRotationRevokes(t *testing.T) {
	secret := [][]byte{[]byte("shared-access-secret-0123456789abcdef")}
	issuer := start(t, func(_ *basket.Options, o *httpapi.Options) {
		o.AccessSecrets = secret
		o.TokenLifetime = 24 * time.Hour
	})
	tok := issuer.token("")
	for _, tt := range []struct {
		name         string
		clientSecret string
		lifetime     time.Duration
		want         int
	}{
		{"same secret and lifetime", "secret-1-abcdefgh", 24 * time.Hour, http.StatusOK},
		{"rotated client secret", "secret-1-rotated-0123", 24 * time.Hour, http.StatusUnauthorized},
		{"shorter lifetime", "secret-1-abcdefgh", time.Hour, http.StatusUnauthorized},
	} {
		h := start(t, func(_ *basket.Options, o *httpapi.Options) {
			o.AccessSecrets = secret
			o.TokenLifetime = tt.lifetime
			o.OAuthClients = map[string]string{"client-1": tt.clientSecret}
		})
		if r := h.do(http.MethodGet, "/api/checkout/abandoned", tok, "", nil); r.status != tt.want {
			t.Errorf("%s: %d %s; want %d", tt.name, r.status, r.body, tt.want)
		}
	}
}

// TestAccessTokenStrictEncoding: an access token whose client part has a
// non-canonical last character is refused though it decodes leniently to
// the same bytes. (CR and LF, which net/http will not send in a header, are
// tested on verifyAccess itself.)
func TestAccessTokenStrictEncoding(t *testing.T) {
	h := start(t, nil)
	tok := h.token("checkout")
	if r := h.do(http.MethodGet, "/api/checkout/abandoned", tok, "", nil); r.status != http.StatusOK {
		t.Fatalf("token = %d", r.status)
	}
	parts := strings.Split(tok, ".")
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	c := parts[1] // "client-1": 8 bytes, 11 characters, 2 unused bits
	nonCanonical := c[:len(c)-1] + string(alphabet[strings.IndexByte(alphabet, c[len(c)-1])|1])
	if b, err := rawURL.DecodeString(nonCanonical); err != nil || string(b) != "client-1" {
		t.Fatalf("%q does not decode leniently to client-1: the test proves nothing", nonCanonical)
	}
	bad := strings.Join([]string{parts[0], nonCanonical, parts[2], parts[3]}, ".")
	if r := h.do(http.MethodGet, "/api/checkout/abandoned", bad, "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("token %q = %d; want 401", bad, r.status)
	}
}

// TestTokenEndpointStrict: a parameter given twice, Basic credentials
// beside a form secret or another form client id, and two Authorization
// headers are 400 invalid_request (RFC 6749, sections 2.3 and 3.1).
func TestTokenEndpointStrict(t *testing.T) {
	h := start(t, nil)
	post := func(body string, basic ...string) *response {
		req, _ := http.NewRequest(http.MethodPost, h.url+"/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(basic); i += 2 {
			req.Header.Add("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(basic[i]+":"+basic[i+1])))
		}
		return doReq(t, h, req)
	}
	const good = "grant_type=client_credentials&client_id=client-1&client_secret=secret-1-abcdefgh"
	if r := post(good); r.status != http.StatusOK {
		t.Fatalf("good request = %d %s", r.status, r.body)
	}
	if r := post("grant_type=client_credentials&client_id=client-1", "client-1", "secret-1-abcdefgh"); r.status != http.StatusOK {
		t.Errorf("Basic with the same client_id in the form = %d %s; want 200", r.status, r.body)
	}
	for _, tt := range []struct {
		name  string
		body  string
		basic []string
	}{
		{"grant_type twice", good + "&grant_type=client_credentials", nil},
		{"grant_type twice, one empty", "grant_type=&" + good, nil},
		{"client_id twice", good + "&client_id=client-1", nil},
		{"client_id twice, another", good + "&client_id=client-2", nil},
		{"client_secret twice", good + "&client_secret=secret-1-abcdefgh", nil},
		{"scope twice", good + "&scope=checkout&scope=ingest", nil},
		{"Basic and a form secret", good, []string{"client-1", "secret-1-abcdefgh"}},
		{"Basic and a form secret only", "grant_type=client_credentials&client_secret=secret-1-abcdefgh", []string{"client-1", "secret-1-abcdefgh"}},
		{"Basic and another form client", "grant_type=client_credentials&client_id=client-2", []string{"client-1", "secret-1-abcdefgh"}},
		{"two Basic headers", "grant_type=client_credentials", []string{"client-1", "secret-1-abcdefgh", "client-1", "secret-1-abcdefgh"}},
	} {
		r := post(tt.body, tt.basic...)
		if v := r.json(t); r.status != http.StatusBadRequest || v["error"] != "invalid_request" {
			t.Errorf("%s: %d %s; want 400 invalid_request", tt.name, r.status, r.body)
		}
	}
}

func doReq(t *testing.T, h *harness, req *http.Request) *response {
	t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}
}

// TestAuthBackoff: after backoffFree failed authentications an address
// waits, 429 with Retry-After, whatever it sends (a valid token too), for
// a time that doubles with each further failure; missing and expired
// tokens are no failures. The metrics count both.
func TestAuthBackoff(t *testing.T) {
	h := start(t, nil)
	const q = "/api/checkout/abandoned"
	for range 30 {
		if r := h.do(http.MethodGet, q, "", "", nil); r.status != http.StatusUnauthorized {
			t.Fatalf("no token = %d; want 401", r.status)
		}
	}
	for i := range 10 {
		if r := h.do(http.MethodGet, q, "wrong-token-0123456789", "", nil); r.status != http.StatusUnauthorized {
			t.Fatalf("bad token %d = %d; want 401", i+1, r.status)
		}
	}
	if r := h.get(q); r.status != http.StatusOK {
		t.Fatalf("good token after 10 failures = %d; want 200", r.status)
	}
	if r := h.do(http.MethodGet, q, "wrong-token-0123456789", "", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("11th bad token = %d; want 401", r.status)
	}
	r := h.get(q)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" {
		t.Fatalf("good token in backoff = %d, Retry-After %q; want 429, 1", r.status, r.header.Get("Retry-After"))
	}
	form := "grant_type=client_credentials&client_id=client-1&client_secret=secret-1-abcdefgh"
	if r := h.do(http.MethodPost, "/oauth2/token", "", "application/x-www-form-urlencoded", strings.NewReader(form)); r.status != http.StatusTooManyRequests || r.json(t)["error"] != "slow_down" {
		t.Errorf("token endpoint in backoff = %d %s; want 429 slow_down", r.status, r.body)
	}
	h.clk.Advance(time.Second)
	if r := h.get(q); r.status != http.StatusOK {
		t.Fatalf("good token once the backoff passed = %d; want 200", r.status)
	}
	// The next failure doubles the wait.
	h.do(http.MethodGet, q, "wrong-token-0123456789", "", nil)
	if r := h.get(q); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "2" {
		t.Errorf("after the 12th failure = %d, Retry-After %q; want 429, 2", r.status, r.header.Get("Retry-After"))
	}
	h.clk.Advance(2 * time.Second)
	// Bad client credentials count too.
	bad := "grant_type=client_credentials&client_id=client-1&client_secret=wrong-secret-0123"
	if r := h.do(http.MethodPost, "/oauth2/token", "", "application/x-www-form-urlencoded", strings.NewReader(bad)); r.status != http.StatusUnauthorized {
		t.Fatalf("bad client secret = %d; want 401", r.status)
	}
	if r := h.get(q); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "4" {
		t.Errorf("after a bad client secret = %d, Retry-After %q; want 429, 4", r.status, r.header.Get("Retry-After"))
	}
	// Forgotten after a quiet while: ten free failures again.
	h.clk.Advance(time.Hour)
	for range 10 {
		h.do(http.MethodGet, q, "wrong-token-0123456789", "", nil)
	}
	if r := h.get(q); r.status != http.StatusOK {
		t.Errorf("after a quiet hour and 10 failures = %d; want 200", r.status)
	}
	m := string(h.do(http.MethodGet, "/metrics", "", "", nil).body)
	for _, want := range []string{
		`abandoned_http_auth_failures_total{kind="bearer"} 22`,
		`abandoned_http_auth_failures_total{kind="client"} 1`,
		`abandoned_http_auth_throttled_total 4`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestExpiredTokensAreNoFailures: an OAuth2 client that keeps sending its
// expired token is told so, and never throttled.
func TestExpiredTokensAreNoFailures(t *testing.T) {
	h := start(t, nil)
	tok := h.token("")
	h.clk.Advance(2 * time.Hour)
	for range 30 {
		if r := h.do(http.MethodGet, "/api/checkout/abandoned", tok, "", nil); r.status != http.StatusUnauthorized || r.message(t) != "access token expired" {
			t.Fatalf("expired token = %d %s; want 401 access token expired", r.status, r.body)
		}
	}
}
