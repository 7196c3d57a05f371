package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
)

// maxTokenForm bounds the body of a token request.
const maxTokenForm = 64 << 10

// oauthError answers an OAuth2 error (RFC 6749, section 5.2): "error" for
// OAuth2 clients and "message" like every other error of the API.
func (s *Server) oauthError(w http.ResponseWriter, status int, code, msg string) {
	s.metrics.tokens.WithLabelValues(code).Inc()
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	h["Pragma"] = []string{"no-cache"}
	if status == http.StatusUnauthorized {
		h["Www-Authenticate"] = []string{`Basic realm="abandoned"`}
	}
	b := append([]byte(`{"error":`), appendString(nil, code)...)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	b = append(b, "}\n"...)
	writeJSON(w, status, b)
}

// tokenParams are the parameters of a token request, each of which may be
// given once (RFC 6749, section 3.1).
var tokenParams = [...]string{"grant_type", "client_id", "client_secret", "scope"}

// handleToken is POST /oauth2/token: the client-credentials grant, with the
// client's credentials in HTTP Basic authentication or in the form
// (client_id, client_secret), not both (RFC 6749, section 2.3). The form
// must be the request's body; a secret in the query string is refused, and
// so is a parameter given twice. An address that failed too often lately
// is answered 429 whatever it sends.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	addr := clientAddr(r)
	if err := s.auth.backoff.check(addr); err != nil {
		te := err.(*throttledError)
		w.Header().Set("Retry-After", strconv.Itoa(te.seconds()))
		s.oauthError(w, http.StatusTooManyRequests, "slow_down", te.Error())
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenForm)
	if r.Header.Get("Content-Type") == "" {
		// Some clients send the form without saying so: read it as one.
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if err := r.ParseForm(); err != nil {
		s.oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be an application/x-www-form-urlencoded form")
		return
	}
	form := r.PostForm
	if q, _ := url.ParseQuery(r.URL.RawQuery); q.Has("client_secret") {
		s.oauthError(w, http.StatusBadRequest, "invalid_request", "send client_secret in the body, never in the URL")
		return
	}
	for _, p := range tokenParams {
		if len(form[p]) > 1 {
			s.oauthError(w, http.StatusBadRequest, "invalid_request", p+": given more than once")
			return
		}
	}
	if len(r.Header["Authorization"]) > 1 {
		s.oauthError(w, http.StatusBadRequest, "invalid_request", "Authorization: given more than once")
		return
	}
	if gt := form.Get("grant_type"); gt != "client_credentials" {
		if gt == "" {
			s.oauthError(w, http.StatusBadRequest, "invalid_request", "grant_type: missing")
		} else {
			s.oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type: only client_credentials is supported")
		}
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749, section 2.3.1: Basic credentials are form-encoded.
		if v, err := url.QueryUnescape(id); err == nil {
			id = v
		}
		if v, err := url.QueryUnescape(secret); err == nil {
			secret = v
		}
		// One authentication method per request: a secret in the form
		// beside Basic credentials is refused, and so is another client id.
		if form.Has("client_secret") || (form.Has("client_id") && form.Get("client_id") != id) {
			s.oauthError(w, http.StatusBadRequest, "invalid_request", "client credentials both in the Authorization header and in the form: use one")
			return
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" || secret == "" {
		s.oauthError(w, http.StatusUnauthorized, "invalid_client", "client_id and client_secret are required")
		return
	}
	if !s.auth.checkClient(id, secret) {
		s.auth.backoff.fail(addr, "client")
		s.oauthError(w, http.StatusUnauthorized, "invalid_client", "invalid client credentials")
		return
	}
	sc, ok := parseScope(form.Get("scope"))
	if !ok {
		s.oauthError(w, http.StatusBadRequest, "invalid_scope", `scope: the scopes are "checkout" and "ingest"`)
		return
	}
	tok := s.auth.issue(id, sc)
	s.metrics.tokens.WithLabelValues("issued").Inc()
	b := append([]byte(`{"access_token":`), appendString(nil, tok)...)
	b = append(b, `,"token_type":"Bearer","expires_in":`...)
	b = strconv.AppendInt(b, int64(s.opts.TokenLifetime.Seconds()), 10)
	b = append(b, "}\n"...)
	h := w.Header()
	h["Cache-Control"] = hdrNoStore
	h["Pragma"] = []string{"no-cache"}
	writeJSON(w, http.StatusOK, b)
}
