package httpapi

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

var wbNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func wbAuthenticator(t testing.TB, lifetime time.Duration) *authenticator {
	t.Helper()
	a, err := newAuthenticator(&Options{
		TokenLifetime: lifetime,
		OAuthClients:  map[string]string{"client-1": "secret-1-abcdefgh"},
		AccessSecrets: [][]byte{[]byte("access-secret-0123456789abcdef-0123456789")},
		Now:           func() time.Time { return wbNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// mint makes an access token with a valid MAC and any expiry, as only the
// holder of the access secret can.
func mint(a *authenticator, client string, sc Scope, exp uint32) string {
	var body [4 + accessMACLen]byte
	binary.BigEndian.PutUint32(body[:4], exp)
	sum := sha256.Sum256([]byte("secret-1-abcdefgh"))
	accessMAC(a.keys[0], client, sc, body[:4], &sum, body[:4])
	return accessPrefix + b64.EncodeToString([]byte(client)) + "." + string(rune('0'+sc)) + "." + b64.EncodeToString(body[:])
}

// TestAccessTokenFarExpiry: an authentic access token whose expiry lies
// beyond the lifetime (and the allowed skew) is refused, however it came
// to be; within it, accepted.
func TestAccessTokenFarExpiry(t *testing.T) {
	a := wbAuthenticator(t, time.Hour)
	now := uint32(wbNow.Unix())
	for _, tt := range []struct {
		exp  uint32
		want error
	}{
		{now + 3600, nil},
		{now + 3600 + 59, nil},
		{now + 3600 + 61, errBadToken},
		{now + 2*3600, errBadToken},
		{1<<32 - 1, errBadToken}, // 2106
		{now, errExpiredToken},
	} {
		sc, err := a.verifyAccess(mint(a, "client-1", scopeAll, tt.exp))
		if err != tt.want || (err == nil && sc != scopeAll) {
			t.Errorf("expiry now%+ds: %v, %v; want %v", int64(tt.exp)-int64(now), sc, err, tt.want)
		}
	}
	if got := a.issue("client-1", ScopeIngest); got != mint(a, "client-1", ScopeIngest, now+3600) {
		t.Errorf("issue = %q; want the minted token", got)
	}
}

// TestAccessTokenScopeRange: the scope is one digit of a non-empty subset;
// 257 is not read as 1, nor 01 as 1.
func TestAccessTokenScopeRange(t *testing.T) {
	a := wbAuthenticator(t, time.Hour)
	tok := a.issue("client-1", ScopeCheckout)
	if _, err := a.verifyAccess(tok); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	for _, sc := range []string{"257", "01", "0", "4", "9", "-1", "+1", "", "1 "} {
		parts[2] = sc
		if _, err := a.verifyAccess(strings.Join(parts, ".")); !errors.Is(err, errBadToken) {
			t.Errorf("scope %q: %v; want errBadToken", sc, err)
		}
	}
}

// TestAccessTokenStrictBytes: CR or LF anywhere in an access token, which
// encoding/base64 would skip, makes it invalid.
func TestAccessTokenStrictBytes(t *testing.T) {
	a := wbAuthenticator(t, time.Hour)
	tok := a.issue("client-1", scopeAll)
	if _, err := a.verifyAccess(tok); err != nil {
		t.Fatal(err)
	}
	for i := len(accessPrefix); i <= len(tok); i++ {
		for _, c := range []string{"\n", "\r", "="} {
			bad := tok[:i] + c + tok[i:]
			if _, err := a.verifyAccess(bad); err != errBadToken {
				t.Fatalf("verifyAccess(%q) = %v; want errBadToken", bad, err)
			}
		}
	}
}

// FuzzAccessToken: a token that verifies is exactly the token the server
// issues for its client, scopes and expiry: no other encoding of it is
// accepted.
func FuzzAccessToken(f *testing.F) {
	a := wbAuthenticator(f, time.Hour)
	for _, sc := range []Scope{ScopeCheckout, ScopeIngest, scopeAll} {
		tok := a.issue("client-1", sc)
		f.Add(tok)
		f.Add(tok + "\n")
		f.Add(strings.Replace(tok, ".", ".\r\n", 2))
	}
	f.Add("abat2.Y2xpZW50LTE.257.AAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		if !strings.HasPrefix(tok, accessPrefix) {
			return
		}
		sc, err := a.verifyAccess(tok)
		if err != nil {
			if err != errBadToken && err != errExpiredToken {
				t.Fatalf("verifyAccess(%q) = %v", tok, err)
			}
			return
		}
		parts := strings.Split(tok, ".")
		body, err := b64.DecodeString(parts[3])
		if err != nil {
			t.Fatal(err)
		}
		if want := mint(a, "client-1", sc, binary.BigEndian.Uint32(body)); tok != want {
			t.Fatalf("verifyAccess accepted %q, another encoding of %q", tok, want)
		}
	})
}

// TestNewRefusesWeakCredentials: API tokens and client secrets of fewer
// than MinTokenLen bytes, and access secrets of fewer than
// MinAccessSecretLen, are refused; the same secret twice too.
func TestNewRefusesWeakCredentials(t *testing.T) {
	long := strings.Repeat("k", MinAccessSecretLen)
	for _, o := range []Options{
		{APITokens: []string{"a"}},
		{APITokens: []string{strings.Repeat("a", MinTokenLen-1)}},
		{APITokens: []string{strings.Repeat("a", MinTokenLen) + "\x00"}},
		{OAuthClients: map[string]string{"c": "short-secret"}},
		{AccessSecrets: [][]byte{[]byte(long[1:])}},
		{AccessSecrets: [][]byte{[]byte(long), []byte(long)}},
	} {
		o.TokenLifetime = time.Hour
		if _, err := newAuthenticator(&o); err == nil {
			t.Errorf("newAuthenticator(%+v) accepted it", o)
		}
	}
	ok := Options{TokenLifetime: time.Hour, APITokens: []string{strings.Repeat("a", MinTokenLen)},
		OAuthClients: map[string]string{"c": strings.Repeat("s", MinTokenLen)}, AccessSecrets: [][]byte{[]byte(long)}}
	if _, err := newAuthenticator(&ok); err != nil {
		t.Errorf("newAuthenticator at the minimum lengths: %v", err)
	}
}
