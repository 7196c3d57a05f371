package console

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/campaign"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// Defaults of Options.
const (
	DefaultSessionLifetime = 12 * time.Hour
	DefaultDashboardMaxAge = time.Minute
	DefaultDashboardScan   = 100_000
	DefaultMaxSessions     = 10_000
	DefaultPageSize        = 50
)

// Prefix is the path the console is served under; every path it answers
// and every link it writes starts with it.
const Prefix = "/console/"

// Authenticator checks what a person signs in with; *httpapi.Server is
// one, with the API's own checks and its backoff of failed
// authentications.
type Authenticator interface {
	// Authenticate checks a static API token or an OAuth2 access token.
	Authenticate(r *http.Request, token string) (httpapi.Grant, error)
	// AuthenticateClient checks an OAuth2 client's id and secret.
	AuthenticateClient(r *http.Request, id, secret string) (httpapi.Grant, error)
}

// Options configure a Console.
type Options struct {
	// Auth checks sign-ins. Required.
	Auth Authenticator

	// ShopURL is the shop's base URL ("https://shop.example.com"), which
	// forwards recovery links to the server: a basket's recovery link is
	// shown absolute with it, ready to paste into a message. Default none:
	// the link is shown as its path on this server.
	ShopURL string

	// CampaignDir is the state directory of a campaign whose report the
	// console shows. Default none: no campaign page.
	CampaignDir string

	// Campaign are that campaign's options, for its steps and attribution
	// window. Default: the campaign's defaults.
	Campaign *campaign.Options

	// SessionLifetime is how long a sign-in lasts; a session made with an
	// access token ends when the token expires, if that is sooner.
	// Default DefaultSessionLifetime (12 hours).
	SessionLifetime time.Duration

	// MaxSessions bounds the sessions kept; when full, expired sessions go
	// and then the oldest. Default DefaultMaxSessions.
	MaxSessions int

	// DashboardMaxAge is how long a dashboard, and a campaign report, is
	// shown before it is computed again. Default DefaultDashboardMaxAge (a
	// minute).
	DashboardMaxAge time.Duration

	// DashboardScan is the most abandoned baskets a dashboard reads: with
	// more, it reads the most recently created and says so. Default
	// DefaultDashboardScan.
	DashboardScan int

	// Now is the clock of sessions and of the dashboard's days. Default
	// time.Now.
	Now func() time.Time

	// Logger receives errors (never an email, a token or a session).
	// Default: none.
	Logger *slog.Logger
}

// Console is the web console over an engine: an http.Handler for the
// paths under Prefix. It keeps its sessions in memory.
type Console struct {
	eng   *basket.Engine
	opts  Options
	shop  string // ShopURL without a trailing slash; "" if none
	log   *slog.Logger
	now   func() time.Time
	seal  *sealer
	mux   *http.ServeMux
	pages *pages

	sessions *sessions
	dash     cache[*dashboard]
	report   cache[*campaignPage]
}

// New returns a Console over eng. The caller keeps ownership of eng.
func New(eng *basket.Engine, opts *Options) (*Console, error) {
	if eng == nil {
		return nil, errors.New("console: nil engine")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Auth == nil {
		return nil, errors.New("console: Options.Auth is required")
	}
	if o.SessionLifetime == 0 {
		o.SessionLifetime = DefaultSessionLifetime
	}
	if o.MaxSessions == 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.DashboardMaxAge == 0 {
		o.DashboardMaxAge = DefaultDashboardMaxAge
	}
	if o.DashboardScan == 0 {
		o.DashboardScan = DefaultDashboardScan
	}
	switch {
	case o.SessionLifetime < time.Minute:
		return nil, fmt.Errorf("console: SessionLifetime %v: want a minute or more", o.SessionLifetime)
	case o.MaxSessions < 1:
		return nil, fmt.Errorf("console: MaxSessions %d: want 1 or more", o.MaxSessions)
	case o.DashboardMaxAge < 0:
		return nil, fmt.Errorf("console: DashboardMaxAge %v is negative", o.DashboardMaxAge)
	case o.DashboardScan < 1:
		return nil, fmt.Errorf("console: DashboardScan %d: want 1 or more", o.DashboardScan)
	}
	c := &Console{eng: eng, opts: o, log: o.Logger, now: o.Now}
	if o.ShopURL != "" {
		u, err := url.Parse(o.ShopURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("console: ShopURL %q: want an http(s) URL such as https://shop.example.com", o.ShopURL)
		}
		c.shop = strings.TrimSuffix(u.String(), "/")
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	var err error
	if c.seal, err = newSealer(key); err != nil {
		return nil, err
	}
	c.sessions = newSessions(o.MaxSessions)
	c.pages = mustParsePages()
	c.routes()
	return c, nil
}

// ServeHTTP answers the console's paths. Every answer forbids framing and
// any script, style or image from elsewhere.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

// contentSecurityPolicy allows the console's own files and nothing else:
// no inline script or style, no frame around it, forms only to itself.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"

// routes registers the pages.
func (c *Console) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET "+Prefix+"assets/{name}", c.handleAsset)
	m.HandleFunc("GET "+Prefix+"signin", c.handleSignInPage)
	m.HandleFunc("POST "+Prefix+"signin", c.handleSignIn)
	m.HandleFunc("POST "+Prefix+"signout", c.signedIn(c.handleSignOut))
	m.HandleFunc("GET "+Prefix+"{$}", c.signedIn(func(w http.ResponseWriter, r *http.Request, s *session) {
		http.Redirect(w, r, Prefix+"baskets", http.StatusSeeOther)
	}))
	m.HandleFunc("GET "+Prefix+"baskets", c.signedIn(c.handleList))
	m.HandleFunc("POST "+Prefix+"baskets", c.signedIn(c.handleFilter))
	m.HandleFunc("GET "+Prefix+"baskets/{id}", c.signedIn(c.handleBasket))
	m.HandleFunc("POST "+Prefix+"baskets/{id}/follow-up", c.signedIn(c.handleFollowUp))
	m.HandleFunc("GET "+Prefix+"feed", c.signedIn(c.handleFeed))
	m.HandleFunc("GET "+Prefix+"feed.json", c.handleFeedJSON)
	m.HandleFunc("GET "+Prefix+"dashboard", c.signedIn(c.handleDashboard))
	m.HandleFunc("GET "+Prefix+"campaign", c.signedIn(c.handleCampaign))
	m.HandleFunc(Prefix, c.signedIn(func(w http.ResponseWriter, r *http.Request, s *session) {
		c.fail(w, r, s, http.StatusNotFound, "There is no such page.")
	}))
	c.mux = m
}

// cache keeps a value computed at most once per max age; concurrent
// readers of a stale value wait for one computation instead of making
// their own.
type cache[T any] struct {
	mu  sync.Mutex // guards at and v; held while computing
	at  time.Time
	v   T
	set bool
}

// get returns the cached value if it is younger than maxAge, or computes
// it with fn.
func (k *cache[T]) get(now time.Time, maxAge time.Duration, fn func() (T, error)) (T, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.set && now.Sub(k.at) < maxAge && !now.Before(k.at) {
		return k.v, nil
	}
	v, err := fn()
	if err != nil {
		return v, err
	}
	k.at, k.v, k.set = now, v, true
	return v, nil
}
