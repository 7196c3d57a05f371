package httpapi

import (
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	strictb64 "github.com/basketlab/abandoned/basket/internal/b64"
)

// Sign-in for pages other than the API's own (the web console): the same
// credentials as a bearer token or a client-credentials request, checked
// by the same code, counted against the same backoff of failed
// authentications from the caller's address.

// Grant is what a sign-in proved.
type Grant struct {
	// Scope are the scopes the credentials hold: every scope for a static
	// API token and for a client's id and secret (which may obtain either),
	// those named in it for an access token.
	Scope Scope
	// Subject names who signed in, for display: "API token", or
	// "client <id>" for an OAuth2 client or its access token. Never a
	// secret.
	Subject string
	// Expires is an access token's expiry; zero for credentials that do
	// not expire of themselves (static tokens, a client's secret).
	Expires time.Time
}

// Errors of Authenticate and AuthenticateClient.
var (
	// ErrBadCredentials: the token, or the client's id and secret, are not
	// valid here. It counts as a failed authentication.
	ErrBadCredentials = errors.New("invalid credentials")
	// ErrExpiredCredentials: an access token that was valid has expired.
	// It does not count as a failure.
	ErrExpiredCredentials = errors.New("access token expired")
	// ErrThrottled: the address failed too often lately; nothing was
	// checked. The error is a *ThrottledError.
	ErrThrottled = errors.New("too many failed authentications")
)

// ThrottledError says how long an address must wait before its
// credentials are looked at again. It unwraps to ErrThrottled.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return "too many failed authentications from this address; retry in " +
		strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)) + " s"
}

// Unwrap returns ErrThrottled.
func (e *ThrottledError) Unwrap() error { return ErrThrottled }

// Authenticate checks a token given to a sign-in form: a static API token
// or an OAuth2 access token, exactly as a bearer token is checked. A
// failure counts against r's address, and an address that failed too
// often lately gets a *ThrottledError whatever it sends.
func (s *Server) Authenticate(r *http.Request, token string) (Grant, error) {
	addr := clientAddr(r)
	if err := s.auth.backoff.check(addr); err != nil {
		return Grant{}, throttled(err)
	}
	a := s.auth
	tok := strings.TrimSpace(token)
	if strings.HasPrefix(tok, accessPrefix) && len(a.clients) > 0 {
		sc, err := a.verifyAccess(tok)
		switch {
		case err == errExpiredToken:
			return Grant{}, ErrExpiredCredentials
		case err != nil:
			a.backoff.fail(addr, "bearer")
			return Grant{}, ErrBadCredentials
		}
		client, exp := accessClaims(tok)
		return Grant{Scope: sc, Subject: "client " + client, Expires: exp}, nil
	}
	if tok == "" || !a.checkStatic(tok) {
		a.backoff.fail(addr, "bearer")
		return Grant{}, ErrBadCredentials
	}
	return Grant{Scope: scopeAll, Subject: "API token"}, nil
}

// AuthenticateClient checks an OAuth2 client's id and secret given to a
// sign-in form, as POST /oauth2/token does; the client may obtain every
// scope, so the grant holds every scope. A failure counts against r's
// address, as Authenticate's do.
func (s *Server) AuthenticateClient(r *http.Request, id, secret string) (Grant, error) {
	addr := clientAddr(r)
	if err := s.auth.backoff.check(addr); err != nil {
		return Grant{}, throttled(err)
	}
	if id == "" || secret == "" || !s.auth.checkClient(id, secret) {
		s.auth.backoff.fail(addr, "client")
		return Grant{}, ErrBadCredentials
	}
	return Grant{Scope: scopeAll, Subject: "client " + id}, nil
}

// CanRead reports whether the grant may read abandoned baskets (scope
// checkout).
func (g Grant) CanRead() bool { return g.Scope&ScopeCheckout != 0 }

// CanWrite reports whether the grant may change baskets (scope ingest).
func (g Grant) CanWrite() bool { return g.Scope&ScopeIngest != 0 }

func throttled(err error) error {
	var te *throttledError
	if errors.As(err, &te) {
		return &ThrottledError{RetryAfter: te.wait}
	}
	return err
}

// accessClaims returns the client and expiry of an access token that
// verifyAccess accepted.
func accessClaims(tok string) (client string, exp time.Time) {
	parts := strings.Split(tok[len(accessPrefix):], ".")
	var clientBuf [768]byte
	if n, ok := strictb64.Decode(clientBuf[:], parts[0]); ok {
		client = string(clientBuf[:n])
	}
	var body [4 + accessMACLen]byte
	if n, ok := strictb64.Decode(body[:], parts[2]); ok && n == len(body) {
		exp = time.Unix(int64(binary.BigEndian.Uint32(body[:4])), 0).UTC()
	}
	return client, exp
}

// Handle serves h at pattern (a net/http ServeMux pattern such as
// "/console/"), inside the API's own handler: with its access log (path
// only, never the query string), its request metrics under route
// pattern, its panic guard and gzip. The API's endpoints keep their
// patterns; h answers its own authentication. It must not be called
// after the server has begun to serve.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.wrap(pattern, 0, h.ServeHTTP))
}
