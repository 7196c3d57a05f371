package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	strictb64 "github.com/basketlab/abandoned/basket/internal/b64"
)

// Scope is a set of permissions a token carries.
type Scope uint8

// The scopes. Static API tokens hold every scope; an OAuth2 access token
// holds those its request named, or both.
const (
	ScopeCheckout Scope = 1 << iota // read abandoned baskets and the feed
	ScopeIngest                     // write events

	scopeAll = ScopeCheckout | ScopeIngest
)

// scopeName is the OAuth2 name of a single scope.
func (s Scope) name() string {
	switch s {
	case ScopeCheckout:
		return "checkout"
	case ScopeIngest:
		return "ingest"
	}
	return ""
}

// parseScope reads an OAuth2 scope parameter: space-separated names. Empty
// means every scope.
func parseScope(s string) (Scope, bool) {
	var sc Scope
	for _, f := range strings.Fields(s) {
		switch f {
		case "checkout":
			sc |= ScopeCheckout
		case "ingest":
			sc |= ScopeIngest
		default:
			return 0, false
		}
	}
	if sc == 0 {
		sc = scopeAll
	}
	return sc, true
}

// Lengths of credentials.
const (
	// MinTokenLen is the shortest static API token or OAuth2 client secret
	// accepted, in bytes. Either should be random: 16 bytes or more from a
	// cryptographic generator, encoded.
	MinTokenLen = 16

	// MinAccessSecretLen is the shortest of Options.AccessSecrets, in
	// bytes.
	MinAccessSecretLen = 32
)

// accessPrefix starts every access token this server issues.
const accessPrefix = "abat2."

// accessSkew is how far beyond its lifetime an access token's expiry may
// lie: the clocks of servers sharing Options.AccessSecrets may differ by
// that much.
const accessSkew = time.Minute

const accessMACLen = sha256.Size

var b64 = base64.RawURLEncoding

// authenticator checks bearer tokens and issues access tokens.
//
// Access tokens are stateless: "abat2.<client id, base64url>.<scopes, a
// digit>.<expiry and MAC, base64url>": the expiry in unix seconds (4 bytes,
// big-endian) and an HMAC-SHA256 of the client id, the scopes, the expiry
// and the SHA-256 of the client's secret, under a key derived from
// Options.AccessSecrets. No customer-facing link is signed with those, so
// knowing or guessing the engine's recovery secrets forges no access token.
// A token stops working when it expires, when its client is removed or its
// secret changes, when the access secrets rotate out, or when its expiry
// lies further than the token lifetime (and accessSkew) ahead.
type authenticator struct {
	keys     [][]byte                     // MAC keys; the first signs
	static   [][sha256.Size]byte          // SHA-256 of each static token
	clients  map[string][sha256.Size]byte // client id → SHA-256 of its secret
	lifetime time.Duration
	now      func() time.Time
	backoff  *backoff
}

// newAuthenticator checks the credentials of o, whose TokenLifetime is set.
func newAuthenticator(o *Options) (*authenticator, error) {
	a := &authenticator{lifetime: o.TokenLifetime, now: o.Now, clients: map[string][sha256.Size]byte{}}
	if a.now == nil {
		a.now = time.Now
	}
	a.backoff = newBackoff(a.now)
	for i, t := range o.APITokens {
		if len(t) < MinTokenLen || strings.ContainsFunc(t, unicode.IsSpace) || !printable(t) {
			return nil, fmt.Errorf("httpapi: API token %d is shorter than %d bytes or holds white space or control characters", i, MinTokenLen)
		}
		a.static = append(a.static, sha256.Sum256([]byte(t)))
	}
	for id, secret := range o.OAuthClients {
		if err := checkClientID(id); err != nil {
			return nil, err
		}
		if len(secret) < MinTokenLen {
			return nil, fmt.Errorf("httpapi: OAuth2 client %q: its secret is shorter than %d bytes", id, MinTokenLen)
		}
		a.clients[id] = sha256.Sum256([]byte(secret))
	}
	secrets := o.AccessSecrets
	if len(secrets) == 0 {
		s := make([]byte, MinAccessSecretLen)
		if _, err := rand.Read(s); err != nil {
			return nil, fmt.Errorf("httpapi: generating an access-token secret: %w", err)
		}
		secrets = [][]byte{s}
	}
	for i, s := range secrets {
		if len(s) < MinAccessSecretLen {
			return nil, fmt.Errorf("httpapi: access secret %d: shorter than %d bytes", i, MinAccessSecretLen)
		}
		m := hmac.New(sha256.New, s)
		m.Write([]byte("abandoned/httpapi/v2/access-token"))
		k := m.Sum(nil)
		for _, other := range a.keys {
			if hmac.Equal(k, other) {
				return nil, errors.New("httpapi: access secrets: the same secret is given twice")
			}
		}
		a.keys = append(a.keys, k)
	}
	return a, nil
}

// errAuth are the reasons a request is not authenticated; their text is the
// answer's message.
var (
	errNoToken      = errors.New("missing bearer token: send Authorization: Bearer <token>")
	errBadToken     = errors.New("invalid bearer token")
	errExpiredToken = errors.New("access token expired")
)

// authenticate returns the scopes of the request's bearer token. An address
// that failed too often lately gets a *throttledError, whatever it sends.
func (a *authenticator) authenticate(r *http.Request) (Scope, error) {
	// The address is worked out only when some address has failed: a
	// server no one guesses at pays nothing per request for it.
	if a.backoff.any() {
		if err := a.backoff.check(clientAddr(r)); err != nil {
			return 0, err
		}
	}
	sc, err := a.bearer(r)
	if err == errBadToken {
		a.backoff.fail(clientAddr(r), "bearer")
	}
	return sc, err
}

func (a *authenticator) bearer(r *http.Request) (Scope, error) {
	hs := r.Header["Authorization"]
	if len(hs) == 0 || hs[0] == "" {
		return 0, errNoToken
	}
	if len(hs) > 1 {
		return 0, errBadToken
	}
	scheme, tok, ok := strings.Cut(hs[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return 0, errNoToken
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return 0, errNoToken
	}
	if strings.HasPrefix(tok, accessPrefix) && len(a.clients) > 0 {
		return a.verifyAccess(tok)
	}
	if a.checkStatic(tok) {
		return scopeAll, nil
	}
	return 0, errBadToken
}

// checkStatic compares tok with every static token in constant time: the
// time taken does not depend on which token, if any, matches, nor where.
func (a *authenticator) checkStatic(tok string) bool {
	sum := sha256.Sum256([]byte(tok))
	match := 0
	for i := range a.static {
		match |= subtle.ConstantTimeCompare(sum[:], a.static[i][:])
	}
	return match == 1
}

// checkClient verifies a client's credentials in constant time. An unknown
// client costs the same as a wrong secret.
func (a *authenticator) checkClient(id, secret string) bool {
	want, known := a.clients[id]
	sum := sha256.Sum256([]byte(secret))
	ok := subtle.ConstantTimeCompare(sum[:], want[:]) == 1
	return ok && known
}

// accessMAC appends the MAC of an access token to dst.
func accessMAC(key []byte, client string, sc Scope, exp []byte, secretSum *[sha256.Size]byte, dst []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(client))
	m.Write([]byte{0, byte(sc)})
	m.Write(exp)
	m.Write(secretSum[:])
	return m.Sum(dst)
}

// issue returns an access token for a client with the given scopes.
func (a *authenticator) issue(client string, sc Scope) string {
	var body [4 + accessMACLen]byte
	binary.BigEndian.PutUint32(body[:4], uint32(a.now().Add(a.lifetime).Unix()))
	sum := a.clients[client]
	accessMAC(a.keys[0], client, sc, body[:4], &sum, body[:4])
	return accessPrefix + b64.EncodeToString([]byte(client)) + "." + string(rune('0'+sc)) + "." + b64.EncodeToString(body[:])
}

func (a *authenticator) verifyAccess(tok string) (Scope, error) {
	parts := strings.Split(tok[len(accessPrefix):], ".")
	if len(parts) != 3 || len(parts[0]) > 1024 || len(parts[1]) != 1 {
		return 0, errBadToken
	}
	var clientBuf [768]byte
	n, ok := strictb64.Decode(clientBuf[:], parts[0])
	if !ok || n == 0 {
		return 0, errBadToken
	}
	client := string(clientBuf[:n])
	// One digit, a non-empty subset of the scopes: 257 is not 1.
	sc := Scope(parts[1][0] - '0')
	if parts[1][0] < '1' || sc > scopeAll {
		return 0, errBadToken
	}
	var body [4 + accessMACLen]byte
	if len(parts[2]) != b64.EncodedLen(len(body)) {
		return 0, errBadToken
	}
	if n, ok := strictb64.Decode(body[:], parts[2]); !ok || n != len(body) {
		return 0, errBadToken
	}
	sum, known := a.clients[client]
	if !known {
		return 0, errBadToken
	}
	var mac [sha256.Size]byte
	valid := false
	for _, k := range a.keys {
		if hmac.Equal(accessMAC(k, client, sc, body[:4], &sum, mac[:0]), body[4:]) {
			valid = true
			break
		}
	}
	if !valid {
		return 0, errBadToken
	}
	now := a.now()
	exp := int64(binary.BigEndian.Uint32(body[:4]))
	switch {
	case exp > now.Add(a.lifetime+accessSkew).Unix():
		// Issued for longer than tokens live here: refused, so that no
		// token, however it was made, outlives the lifetime.
		return 0, errBadToken
	case exp <= now.Unix():
		return 0, errExpiredToken
	}
	return sc, nil
}
