package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/basketlab/abandoned/basket"
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

// HTTPSource reads a server's API: the feed (GET
// /api/checkout/abandoned/feed) and, to check a customer again before
// sending, every basket of the customer in any state (GET
// /api/checkout/customer?email=), so completed and ordered_since are
// checked as with an engine. It cannot look a basket up by id: a basket
// that left the customer's list (purged, erased, or moved to another
// address) is skipped as expired, and outcomes are settled from what the
// customer's baskets showed once Options.Watch has passed.
type HTTPSource struct {
	// BaseURL is the server's base URL, e.g. http://127.0.0.1:8080, or the
	// URLs of several nodes of a cluster, comma-separated: a request that
	// fails on one node goes to the next, where it stays.
	BaseURL string
	// Token is the bearer token (scope checkout).
	Token string
	// Client is the HTTP client. Default: one with a 30 s timeout.
	Client *http.Client
	// Retries is how many times a failed request (5xx, 429, transport) is
	// tried again, with exponential backoff from 250 ms; with several
	// nodes, at least once on each. Default 3.
	Retries int

	node atomic.Uint32 // the node of BaseURL requests go to
}

// maxAPIPosition is the largest feed position the API accepts.
const maxAPIPosition = 9_999_999_999_999_999_999

// Feed reads a page of the server's feed.
func (s *HTTPSource) Feed(ctx context.Context, after uint64, limit int) (basket.FeedPage, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	// The API takes positions of up to 19 digits; the newest position is
	// asked for with the largest.
	after = min(after, maxAPIPosition)
	if after > 0 {
		q.Set("after", strconv.FormatUint(after, 10))
	}
	body, err := s.get(ctx, "/api/checkout/abandoned/feed", q)
	if err != nil {
		return basket.FeedPage{}, err
	}
	var page struct {
		Items []feedItem `json:"items"`
		Next  string     `json:"next"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return basket.FeedPage{}, fmt.Errorf("campaign: the server's feed page: %v", err)
	}
	next, err := strconv.ParseUint(page.Next, 10, 64)
	if err != nil {
		return basket.FeedPage{}, fmt.Errorf("campaign: the server's feed page: next %q is not a position", truncate(page.Next))
	}
	p := basket.FeedPage{Next: next, Items: make([]basket.Basket, len(page.Items))}
	for i := range page.Items {
		p.Items[i] = page.Items[i].basket()
	}
	return p, nil
}

// Customer returns every live basket of the customer, whatever its state,
// from GET /api/checkout/customer.
func (s *HTTPSource) Customer(ctx context.Context, email string) ([]basket.Basket, bool, error) {
	body, err := s.get(ctx, "/api/checkout/customer", url.Values{"email": {email}})
	if err != nil {
		return nil, false, err
	}
	var page struct {
		Items []customerItem `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, false, fmt.Errorf("campaign: the server's customer answer: %v", err)
	}
	out := make([]basket.Basket, len(page.Items))
	for i := range page.Items {
		if out[i], err = page.Items[i].basket(); err != nil {
			return nil, false, err
		}
	}
	return out, true, nil
}

// customerItem is a basket as GET /api/checkout/customer shows it.
type customerItem struct {
	basket.Basket
	StateName   string    `json:"state"`
	AbandonedAt time.Time `json:"abandonedAt"`
	RecoveredAt time.Time `json:"recoveredAt"`
	CompletedAt time.Time `json:"completedAt"`
}

func (it *customerItem) basket() (basket.Basket, error) {
	b := it.Basket
	switch it.StateName {
	case "open":
		b.State = basket.StateOpen
	case "contactable":
		b.State = basket.StateContactable
	case "completed":
		b.State = basket.StateCompleted
	default:
		return b, fmt.Errorf("campaign: the server's customer answer: unknown state %q", truncate(it.StateName))
	}
	b.AbandonedAt, b.RecoveredAt, b.CompletedAt = it.AbandonedAt.UTC(), it.RecoveredAt.UTC(), it.CompletedAt.UTC()
	b.Abandoned = !b.AbandonedAt.IsZero()
	return b, nil
}

// Basket is not supported over HTTP.
func (s *HTTPSource) Basket(context.Context, string) (basket.Basket, bool, error) {
	return basket.Basket{}, false, ErrUnsupported
}

// feedItem is a basket as the API shows it.
type feedItem struct {
	basket.Basket
	AbandonedAt time.Time `json:"abandonedAt"`
}

func (it *feedItem) basket() basket.Basket {
	b := it.Basket
	b.State, b.Abandoned = basket.StateContactable, true
	if !it.AbandonedAt.IsZero() {
		b.AbandonedAt = it.AbandonedAt.UTC()
	} else {
		b.AbandonedAt = b.Created
	}
	return b
}

// get fetches a page, retrying what may succeed on another try. Neither
// the URL (it may hold an email) nor the token appears in its errors.
func (s *HTTPSource) get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	var nodes []string
	for _, n := range strings.Split(s.BaseURL, ",") {
		base, err := url.Parse(strings.TrimRight(strings.TrimSpace(n), "/"))
		if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
			return nil, fmt.Errorf("%w: source URL: want an http(s) URL, or several comma-separated", ErrConfig)
		}
		base.Path += path
		base.RawQuery = q.Encode()
		nodes = append(nodes, base.String())
	}
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	retries := s.Retries
	if retries == 0 {
		retries = 3
	}
	retries = max(retries, len(nodes)-1)
	var last error
	for attempt := 0; ; attempt++ {
		node := s.node.Load() % uint32(len(nodes))
		if attempt > 0 && len(nodes) > 1 {
			// The node failed: the next one, from now on.
			node = (node + 1) % uint32(len(nodes))
			s.node.Store(node)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, nodes[node], nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+s.Token)
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			last = fmt.Errorf("campaign: GET %s: request failed", path)
		} else {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
			resp.Body.Close()
			switch {
			case rerr != nil:
				last = fmt.Errorf("campaign: GET %s: reading the answer: %v", path, rerr)
			case resp.StatusCode == http.StatusOK:
				return body, nil
			case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
				last = fmt.Errorf("campaign: GET %s: server answered %d", path, resp.StatusCode)
			default:
				return nil, fmt.Errorf("campaign: GET %s: server answered %d%s", path, resp.StatusCode, message(body))
			}
		}
		if attempt >= retries {
			return nil, last
		}
		d := 250 * time.Millisecond << attempt
		d = d/2 + rand.N(d/2+1)
		if attempt < len(nodes)-1 {
			d = 0 // another node may answer at once
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func message(body []byte) string {
	var v struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &v) == nil && v.Message != "" {
		return ": " + truncate(v.Message)
	}
	return ""
}
