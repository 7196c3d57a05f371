package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket"
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

// purposeAccess separates OAuth2 access tokens from the engine's other
// tokens (recovery, unsubscribe): a token of one purpose never verifies as
// another.
const purposeAccess basket.TokenPurpose = 'a'

// accessPrefix starts every access token this server issues.
const accessPrefix = "abat1."

var b64 = base64.RawURLEncoding

// authenticator checks bearer tokens and issues access tokens.
//
// Access tokens are stateless: "abat1.<client id, base64url>.<scopes>.<MAC>",
// where the MAC part is a token of the engine (HMAC-SHA256 under a key
// derived from the recovery secrets, with a key id and an expiry) over the
// client id and the scopes. They need no storage, survive nothing special,
// stop working when they expire, when the client is removed from the
// configuration, or when the secrets rotate out.
type authenticator struct {
	eng      *basket.Engine
	static   [][sha256.Size]byte          // SHA-256 of each static token
	clients  map[string][sha256.Size]byte // client id → SHA-256 of its secret
	lifetime time.Duration
}

// errAuth are the reasons a request is not authenticated; their text is the
// answer's message.
var (
	errNoToken      = errors.New("missing bearer token: send Authorization: Bearer <token>")
	errBadToken     = errors.New("invalid bearer token")
	errExpiredToken = errors.New("access token expired")
)

// authenticate returns the scopes of the request's bearer token.
func (a *authenticator) authenticate(r *http.Request) (Scope, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return 0, errNoToken
	}
	scheme, tok, ok := strings.Cut(h, " ")
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

func accessSubject(client string, sc Scope) string {
	return "oauth2\x00" + client + "\x00" + strconv.Itoa(int(sc))
}

// issue returns an access token for a client with the given scopes.
func (a *authenticator) issue(client string, sc Scope) string {
	mac := a.eng.IssueToken(purposeAccess, accessSubject(client, sc), a.lifetime)
	return accessPrefix + b64.EncodeToString([]byte(client)) + "." + strconv.Itoa(int(sc)) + "." + mac
}

func (a *authenticator) verifyAccess(tok string) (Scope, error) {
	rest := tok[len(accessPrefix):]
	enc, rest, ok1 := strings.Cut(rest, ".")
	scs, mac, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || len(enc) > 1024 {
		return 0, errBadToken
	}
	client, err := b64.DecodeString(enc)
	if err != nil {
		return 0, errBadToken
	}
	n, ok := parseUint(scs)
	if !ok || n == 0 || Scope(n)&^scopeAll != 0 {
		return 0, errBadToken
	}
	sc := Scope(n)
	if _, known := a.clients[string(client)]; !known {
		return 0, errBadToken
	}
	switch err := a.eng.VerifyToken(purposeAccess, accessSubject(string(client), sc), mac); {
	case err == nil:
		return sc, nil
	case errors.Is(err, basket.ErrTokenExpired):
		return 0, errExpiredToken
	}
	return 0, errBadToken
}
