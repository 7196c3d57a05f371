package campaign

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// Source is where a campaign reads baskets.
type Source interface {
	// Feed returns a page of the abandonment feed after a position (see
	// basket.Engine.Feed); position math.MaxUint64 asks for the newest
	// position only.
	Feed(ctx context.Context, after uint64, limit int) (basket.FeedPage, error)
	// Customer returns a customer's baskets. complete reports whether the
	// list holds every live basket in any state (completed ones with their
	// CompletedAt), or only the baskets abandoned now.
	Customer(ctx context.Context, email string) (bs []basket.Basket, complete bool, err error)
	// Basket returns a basket by id, and false if it is gone (purged or
	// erased). A source that cannot look baskets up returns
	// ErrUnsupported.
	Basket(ctx context.Context, id string) (basket.Basket, bool, error)
}

// EngineSource reads an engine in process (in memory or opened on a data
// directory). It is a complete source: every state, every time.
type EngineSource struct{ Engine *basket.Engine }

// Feed reads the engine's feed.
func (s EngineSource) Feed(ctx context.Context, after uint64, limit int) (basket.FeedPage, error) {
	return s.Engine.Feed(ctx, after, limit)
}

// Customer returns every live basket of the customer.
func (s EngineSource) Customer(ctx context.Context, email string) ([]basket.Basket, bool, error) {
	bs, err := s.Engine.Customer(ctx, email)
	return bs, true, err
}

// Basket looks a basket up.
func (s EngineSource) Basket(ctx context.Context, id string) (basket.Basket, bool, error) {
	b, err := s.Engine.Get(ctx, id)
	if errors.Is(err, basket.ErrNotFound) {
		return basket.Basket{}, false, nil
	}
	return b, err == nil, err
}

// IssueToken issues a token with the engine's keys.
func (s EngineSource) IssueToken(p basket.TokenPurpose, subject string, validity time.Duration) string {
	return s.Engine.IssueToken(p, subject, validity)
}

// VerifyToken verifies a token with the engine's keys.
func (s EngineSource) VerifyToken(p basket.TokenPurpose, subject, token string) error {
	return s.Engine.VerifyToken(p, subject, token)
}

// Suppression asks the engine's suppression list about an address, and
// gives the token of its unsubscribe link, which the server's
// /api/checkout/unsubscribe takes (see Suppressions).
func (s EngineSource) Suppression(ctx context.Context, email string) (bool, string, error) {
	return s.Engine.Suppression(ctx, email)
}

// HTTPSource reads a server's API through an httpapi.Client: the feed (GET
// /api/checkout/abandoned/feed) and, to check a customer again before
// sending, every basket of the customer in any state (GET
// /api/checkout/customer?email=), so completed and ordered_since are
// checked as with an engine. It cannot look a basket up by id: a basket
// that left the customer's list (purged, erased, or moved to another
// address) is skipped as expired, and outcomes are settled from what the
// customer's baskets showed once Options.Watch has passed.
//
// Its fields may change between calls (a changed field makes a new
// client); they must not change during one.
type HTTPSource struct {
	// BaseURL is the server's base URL, e.g. http://127.0.0.1:8080, or the
	// URLs of several nodes of a cluster, comma-separated: a request that
	// fails on one node goes to the next, where it stays.
	BaseURL string
	// Host, if set, is the Host header of every request: the environment
	// of a server that holds several, when BaseURL does not name it.
	Host string
	// Token is the bearer token (scope checkout).
	Token string
	// ClientID and ClientSecret, instead of Token, obtain access tokens
	// (scope checkout) with the OAuth2 client-credentials grant. Default
	// none.
	ClientID, ClientSecret string
	// Client is the HTTP client. Default: one with a 30 s timeout.
	Client *http.Client
	// Retries is how many times a failed request (5xx, 429, transport) is
	// tried again, with exponential backoff from 250 ms and full jitter,
	// or after the server's Retry-After; with several nodes, at least once
	// on each. Default 3; negative: only on the other nodes.
	Retries int

	mu     sync.Mutex // guards api and config
	api    *httpapi.Client
	config httpSourceConfig // the fields api was made with
}

// httpSourceConfig is what an HTTPSource's client is made of.
type httpSourceConfig struct {
	baseURL, host, token, clientID, clientSecret string
	client                                       *http.Client
	retries                                      int
}

// client returns the API client of the source's fields, made anew if
// they changed.
func (s *HTTPSource) client() (*httpapi.Client, error) {
	cfg := httpSourceConfig{s.BaseURL, s.Host, s.Token, s.ClientID, s.ClientSecret, s.Client, s.Retries}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.api != nil && s.config == cfg {
		return s.api, nil
	}
	var scopes []string
	if cfg.clientID != "" {
		scopes = []string{"checkout"}
	}
	api, err := httpapi.NewClient(cfg.baseURL, &httpapi.ClientOptions{
		Token: cfg.token, ClientID: cfg.clientID, ClientSecret: cfg.clientSecret, Scopes: scopes,
		HTTPClient: cfg.client, Retries: cfg.retries, Host: cfg.host,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: source: %v", ErrConfig, err)
	}
	s.api, s.config = api, cfg
	return api, nil
}

// Feed reads a page of the server's feed; position math.MaxUint64 asks
// for the newest position.
func (s *HTTPSource) Feed(ctx context.Context, after uint64, limit int) (basket.FeedPage, error) {
	api, err := s.client()
	if err != nil {
		return basket.FeedPage{}, err
	}
	p, err := api.Feed(ctx, after, limit)
	if err != nil {
		return basket.FeedPage{}, fmt.Errorf("campaign: the server's feed: %w", err)
	}
	return p, nil
}

// Customer returns every live basket of the customer, whatever its state,
// from GET /api/checkout/customer.
func (s *HTTPSource) Customer(ctx context.Context, email string) ([]basket.Basket, bool, error) {
	api, err := s.client()
	if err != nil {
		return nil, false, err
	}
	bs, err := api.Customer(ctx, email)
	if err != nil {
		return nil, false, fmt.Errorf("campaign: the customer's baskets: %w", err)
	}
	return bs, true, nil
}

// Suppression asks the server whether campaigns must not mail an address,
// and for the token of its unsubscribe link (POST
// /api/checkout/suppression; the address travels in the body).
func (s *HTTPSource) Suppression(ctx context.Context, email string) (suppressed bool, token string, err error) {
	api, err := s.client()
	if err != nil {
		return false, "", err
	}
	suppressed, token, err = api.Suppression(ctx, email)
	if err != nil {
		return false, "", fmt.Errorf("campaign: the suppression list: %w", err)
	}
	return suppressed, token, nil
}

// Basket is not supported over HTTP.
func (s *HTTPSource) Basket(context.Context, string) (basket.Basket, bool, error) {
	return basket.Basket{}, false, ErrUnsupported
}
