package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/basketlab/abandoned/basket/httpapi"
)

// Sessions are kept in memory, on the server: the cookie holds only a
// random id (32 bytes from crypto/rand, base64url), which the server keeps
// by its SHA-256 beside the sign-in's grant, its CSRF token and its
// expiry. Signing out deletes the session there, so that a copy of the
// cookie is worthless afterwards; a restart signs everybody out.

// Cookie names.
const (
	sessionCookie = "abandoned_console"
	signinCookie  = "abandoned_console_signin" // the sign-in form's CSRF token
)

// signinFormLifetime is how long a sign-in form may be filled in.
const signinFormLifetime = time.Hour

// maxForm bounds a form's body.
const maxForm = 64 << 10

// session is a signed-in person's.
type session struct {
	grant   httpapi.Grant
	csrf    string // the token every changing form carries
	created time.Time
	expires time.Time
}

// ReadOnly reports whether the session may only look: its credentials
// lack the ingest scope.
func (s *session) ReadOnly() bool { return !s.grant.CanWrite() }

// sessions are the live sessions, by the SHA-256 of their id.
type sessions struct {
	max int

	mu sync.Mutex // guards m
	m  map[[sha256.Size]byte]*session
}

func newSessions(max int) *sessions {
	return &sessions{max: max, m: map[[sha256.Size]byte]*session{}}
}

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("console: crypto/rand failed: " + err.Error()) // never on a supported platform
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// add keeps s and returns its new id.
func (ss *sessions) add(s *session, now time.Time) string {
	id := randomToken()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= ss.max {
		for k, v := range ss.m {
			if !now.Before(v.expires) {
				delete(ss.m, k)
			}
		}
		for len(ss.m) >= ss.max {
			var oldest [sha256.Size]byte
			var at time.Time
			for k, v := range ss.m {
				if at.IsZero() || v.created.Before(at) {
					oldest, at = k, v.created
				}
			}
			delete(ss.m, oldest)
		}
	}
	ss.m[sha256.Sum256([]byte(id))] = s
	return id
}

// get returns the live session of id, or nil; an expired one is deleted.
func (ss *sessions) get(id string, now time.Time) *session {
	if len(id) != 43 {
		return nil
	}
	k := sha256.Sum256([]byte(id))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[k]
	if s != nil && !now.Before(s.expires) {
		delete(ss.m, k)
		return nil
	}
	return s
}

// remove ends the session of id.
func (ss *sessions) remove(id string) {
	k := sha256.Sum256([]byte(id))
	ss.mu.Lock()
	delete(ss.m, k)
	ss.mu.Unlock()
}

// len is the number of sessions kept, expired ones included.
func (ss *sessions) len() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.m)
}

// cookie returns a console cookie: HttpOnly, SameSite=Strict, Secure when
// the request came over TLS (or a proxy says it did, in
// X-Forwarded-Proto: a false claim only keeps the cookie off plain HTTP),
// for the console's paths only.
func cookie(r *http.Request, name, value string, maxAge time.Duration) *http.Cookie {
	ck := &http.Cookie{
		Name: name, Value: value, Path: Prefix,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"),
	}
	if maxAge > 0 {
		ck.MaxAge = int(maxAge / time.Second)
		ck.Expires = time.Now().Add(maxAge).UTC()
	} else {
		ck.MaxAge = -1
		ck.Expires = time.Unix(0, 0)
	}
	return ck
}

// current returns the request's session and its id, or nil.
func (c *Console) current(r *http.Request) (*session, string) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, ""
	}
	s := c.sessions.get(ck.Value, c.now())
	if s == nil {
		return nil, ""
	}
	return s, ck.Value
}

// signedIn runs h with the request's session; without one it sends the
// person to the sign-in page, and back here afterwards (a GET).
func (c *Console) signedIn(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, _ := c.current(r)
		if s == nil {
			target := Prefix + "signin"
			if r.Method == http.MethodGet && r.URL.Path != Prefix+"signin" {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r, s)
	}
}

// checkCSRF reads a changing form and checks its token against want; if
// it is missing or wrong it answers 403 and reports false. The form's
// body is bounded.
func (c *Console) checkCSRF(w http.ResponseWriter, r *http.Request, s *session, want string) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, s, http.StatusBadRequest, "The form could not be read.")
		return false
	}
	got := r.PostFormValue("csrf")
	if want == "" || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		c.fail(w, r, s, http.StatusForbidden, "This form has expired or did not come from the console: reload the page and try again.")
		return false
	}
	return true
}

// safeNext is where to go after signing in: a console path of this
// server, or the list.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.Scheme != "" || u.Host != "" || u.Opaque != "" ||
		strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return Prefix + "baskets"
	}
	clean := path.Clean(u.Path)
	if !strings.HasPrefix(clean+"/", Prefix) || strings.HasPrefix(clean, Prefix+"signin") || strings.HasPrefix(clean, Prefix+"assets/") {
		return Prefix + "baskets"
	}
	if strings.HasSuffix(u.Path, "/") && !strings.HasSuffix(clean, "/") {
		clean += "/"
	}
	u.Path, u.RawPath = clean, ""
	return u.RequestURI()
}

type signinData struct {
	CSRF    string
	Next    string
	Message string
	Client  string // the client id typed, shown again after a failure
}

// handleSignInPage shows the sign-in form, with a fresh CSRF token in a
// cookie of its own and in the form. A person signed in already goes to
// the list.
func (c *Console) handleSignInPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s, _ := c.current(r); s != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.signinForm(w, r, http.StatusOK, "", "")
}

func (c *Console) signinForm(w http.ResponseWriter, r *http.Request, status int, msg, client string) {
	tok := randomToken()
	http.SetCookie(w, cookie(r, signinCookie, tok, signinFormLifetime))
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostFormValue("next")
	}
	c.render(w, r, status, "signin", nil, &signinData{CSRF: tok, Next: safeNext(next), Message: msg, Client: client})
}

// handleSignIn checks a sign-in: a token (static API token or OAuth2
// access token) or an OAuth2 client's id and secret. Credentials that
// cannot read baskets are refused; a checkout-only access token signs in
// read-only.
func (c *Console) handleSignIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ck, err := r.Cookie(signinCookie)
	want := ""
	if err == nil {
		want = ck.Value
	}
	if !c.checkCSRF(w, r, nil, want) {
		return
	}
	token := r.PostFormValue("token")
	id, secret := strings.TrimSpace(r.PostFormValue("client_id")), strings.TrimSpace(r.PostFormValue("client_secret"))
	var g httpapi.Grant
	switch {
	case strings.TrimSpace(token) != "":
		g, err = c.opts.Auth.Authenticate(r, token)
	case id != "" || secret != "":
		if id == "" || secret == "" {
			c.signinForm(w, r, http.StatusBadRequest, "Give both the client's id and its secret.", id)
			return
		}
		g, err = c.opts.Auth.AuthenticateClient(r, id, secret)
	default:
		c.signinForm(w, r, http.StatusBadRequest, "Give a token, or a client's id and secret.", "")
		return
	}
	var te *httpapi.ThrottledError
	switch {
	case errors.As(err, &te):
		w.Header().Set("Retry-After", strconv.Itoa(int((te.RetryAfter+time.Second-1)/time.Second)))
		c.signinForm(w, r, http.StatusTooManyRequests, "Too many failed sign-ins from your address: "+te.Error()+".", id)
		return
	case errors.Is(err, httpapi.ErrExpiredCredentials):
		c.signinForm(w, r, http.StatusUnauthorized, "That access token has expired: get a new one, or sign in with the client's id and secret.", id)
		return
	case err != nil:
		c.signinForm(w, r, http.StatusUnauthorized, "Those credentials are not valid here.", id)
		return
	case !g.CanRead():
		c.signinForm(w, r, http.StatusForbidden, "Those credentials may only send events (scope ingest): signing in to the console needs the checkout scope.", id)
		return
	}
	now := c.now()
	exp := now.Add(c.opts.SessionLifetime)
	if !g.Expires.IsZero() && g.Expires.Before(exp) {
		exp = g.Expires
	}
	s := &session{grant: g, csrf: randomToken(), created: now, expires: exp}
	sid := c.sessions.add(s, now)
	http.SetCookie(w, cookie(r, sessionCookie, sid, exp.Sub(now)))
	http.SetCookie(w, cookie(r, signinCookie, "", 0))
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// handleSignOut ends the session on the server and drops its cookie.
func (c *Console) handleSignOut(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.checkCSRF(w, r, s, s.csrf) {
		return
	}
	if _, id := c.current(r); id != "" {
		c.sessions.remove(id)
	}
	http.SetCookie(w, cookie(r, sessionCookie, "", 0))
	http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
}
