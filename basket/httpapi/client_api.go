package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// IngestResult is the answer of an ingest.
type IngestResult struct {
	// Applied is the number of events the server accepted, a harmless
	// re-send included.
	Applied int
	// Position is the batch's place in a cluster's log; "" from a single
	// server.
	Position string
}

// Ingest posts a batch of events, a JSON array or NDJSON (one event per
// line), to POST /api/baskets/events. The server applies it whole or not at
// all; re-sending it is harmless, so it is retried. A refused batch is an
// *APIError naming the event at fault in Index (400: invalid, which
// errors.Is basket.ErrInvalidEvent; 409: an illegal transition; 413: over
// the server's limits).
func (c *Client) Ingest(ctx context.Context, body []byte) (IngestResult, error) {
	t := trimLeftJSONSpace(body)
	if len(t) == 0 {
		return IngestResult{}, errors.New("httpapi: Ingest: an empty batch: send a JSON array or NDJSON of events")
	}
	ct := "application/x-ndjson"
	if t[0] == '[' {
		ct = "application/json"
	}
	data, err := c.send(ctx, &request{method: http.MethodPost, path: c.ingest, body: body, contentType: ct})
	if err != nil {
		return IngestResult{}, err
	}
	return decodeIngest(data)
}

func decodeIngest(data []byte) (IngestResult, error) {
	var v struct {
		Applied  *int   `json:"applied"`
		Position string `json:"position"`
	}
	if json.Unmarshal(data, &v) != nil || v.Applied == nil || *v.Applied < 0 {
		return IngestResult{}, fmt.Errorf(`%w: the ingest answer is not {"applied":N}`, ErrBadAnswer)
	}
	return IngestResult{Applied: *v.Applied, Position: v.Position}, nil
}

// Abandoned returns a page of GET /api/checkout/abandoned: the abandoned
// baskets q matches, by (created, id). Every filter of q is sent; Count
// asks for the page's Total (-1 otherwise); a page's Cursor, given as
// q.Cursor with the filters left empty, continues the query. The items
// are contactable and abandoned (AbandonedAt is not part of the answer).
func (c *Client) Abandoned(ctx context.Context, q basket.Query) (basket.Page, error) {
	query, err := encodeQuery(&q)
	if err != nil {
		return basket.Page{}, err
	}
	data, err := c.send(ctx, &request{method: http.MethodGet, path: pathAbandoned, query: query})
	if err != nil {
		return basket.Page{}, err
	}
	return decodePage(data)
}

// encodeQuery checks q and encodes it as the endpoint's parameters. Its
// errors name the field and never repeat an email.
func encodeQuery(q *basket.Query) (string, error) {
	v := url.Values{}
	if q.Limit < 0 || q.Limit > basket.MaxLimit {
		return "", fmt.Errorf("httpapi: Query.Limit %d: want 1 to %d, or 0 for the server's default", q.Limit, basket.MaxLimit)
	}
	if q.Limit > 0 {
		v.Set(pLimit, strconv.Itoa(q.Limit))
	}
	if !q.CreatedAfter.IsZero() {
		v.Set(pCreatedAfter, q.CreatedAfter.UTC().Format(time.RFC3339Nano))
	}
	if !q.CreatedBefore.IsZero() {
		v.Set(pCreatedBefore, q.CreatedBefore.UTC().Format(time.RFC3339Nano))
	}
	if q.Email != "" {
		if err := basket.ValidateEmail(q.Email); err != nil {
			return "", fmt.Errorf("httpapi: Query.Email: %w", err)
		}
		v.Set(pEmail, q.Email)
	}
	if q.Tag != "" {
		if len(q.Tag) > basket.MaxFieldLen || !printable(q.Tag) {
			return "", fmt.Errorf("httpapi: Query.Tag: want printable UTF-8 of at most %d bytes", basket.MaxFieldLen)
		}
		v.Set(pTag, q.Tag)
	}
	if q.Count {
		v.Set(pCount, "exact")
	}
	if q.Cursor != "" {
		v.Set(pQueryMore, q.Cursor)
	}
	return v.Encode(), nil
}

// item is a basket as a page lists it, with what the feed and the
// customer endpoint add.
type item struct {
	basket.Basket
	AbandonedAt time.Time `json:"abandonedAt"`
	RecoveredAt time.Time `json:"recoveredAt"`
	CompletedAt time.Time `json:"completedAt"`
	Position    string    `json:"position"`
	State       string    `json:"state"`
}

// basket returns the item's basket, its times in UTC.
func (it *item) basket() basket.Basket {
	b := it.Basket
	b.Created = b.Created.UTC()
	b.AbandonedAt, b.RecoveredAt, b.CompletedAt = it.AbandonedAt.UTC(), it.RecoveredAt.UTC(), it.CompletedAt.UTC()
	return b
}

func decodePage(data []byte) (basket.Page, error) {
	var v struct {
		Items     *[]item `json:"items"`
		QueryMore *struct {
			From  string `json:"from"`
			Alias string `json:"alias"`
		} `json:"queryMore"`
		Total *int `json:"total"`
	}
	if err := json.Unmarshal(data, &v); err != nil || v.Items == nil {
		return basket.Page{}, fmt.Errorf("%w: the query's answer is not a page%s", ErrBadAnswer, answerProblem(err))
	}
	p := basket.Page{Items: make([]basket.Basket, len(*v.Items)), Total: -1}
	for i := range *v.Items {
		b := (*v.Items)[i].basket()
		b.State, b.Abandoned = basket.StateContactable, true
		p.Items[i] = b
	}
	if v.QueryMore != nil {
		if v.QueryMore.From == "" {
			return basket.Page{}, fmt.Errorf("%w: the query's answer has a queryMore without from", ErrBadAnswer)
		}
		p.Cursor, p.Alias = v.QueryMore.From, v.QueryMore.Alias
	}
	if v.Total != nil {
		if *v.Total < 0 {
			return basket.Page{}, fmt.Errorf("%w: the query's answer has a negative total", ErrBadAnswer)
		}
		p.Total = *v.Total
	}
	return p, nil
}

// answerProblem says briefly why an answer did not decode, without quoting
// it.
func answerProblem(err error) string {
	if err == nil {
		return ""
	}
	return ": " + describeJSONError(err)
}

// maxPosition is the largest feed position the API takes (19 digits).
const maxPosition = 9_999_999_999_999_999_999

// Feed returns a page of GET /api/checkout/abandoned/feed: up to limit
// baskets (0: the server's default) that became abandoned after position
// after (0: from the beginning), each with its AbandonedAt and
// FeedPosition, and the position to continue from. A position beyond the
// largest the API takes asks for the newest.
func (c *Client) Feed(ctx context.Context, after uint64, limit int) (basket.FeedPage, error) {
	if limit < 0 || limit > basket.MaxLimit {
		return basket.FeedPage{}, fmt.Errorf("httpapi: Feed limit %d: want 1 to %d, or 0 for the server's default", limit, basket.MaxLimit)
	}
	v := url.Values{}
	if limit > 0 {
		v.Set(pLimit, strconv.Itoa(limit))
	}
	if after = min(after, maxPosition); after > 0 {
		v.Set(pAfter, strconv.FormatUint(after, 10))
	}
	data, err := c.send(ctx, &request{method: http.MethodGet, path: pathFeed, query: v.Encode()})
	if err != nil {
		return basket.FeedPage{}, err
	}
	return decodeFeedPage(data)
}

func decodeFeedPage(data []byte) (basket.FeedPage, error) {
	var v struct {
		Items *[]item `json:"items"`
		Next  *string `json:"next"`
	}
	if err := json.Unmarshal(data, &v); err != nil || v.Items == nil || v.Next == nil {
		return basket.FeedPage{}, fmt.Errorf("%w: the feed's answer is not a page%s", ErrBadAnswer, answerProblem(err))
	}
	next, ok := parseUint(*v.Next)
	if !ok {
		return basket.FeedPage{}, fmt.Errorf("%w: the feed's next %q is not a position", ErrBadAnswer, truncate(*v.Next))
	}
	p := basket.FeedPage{Next: next, Items: make([]basket.Basket, len(*v.Items))}
	for i := range *v.Items {
		it := &(*v.Items)[i]
		b := it.basket()
		b.State, b.Abandoned = basket.StateContactable, true
		if b.AbandonedAt.IsZero() {
			b.AbandonedAt = b.Created
		}
		if it.Position != "" {
			if b.FeedPosition, ok = parseUint(it.Position); !ok {
				return basket.FeedPage{}, fmt.Errorf("%w: the feed's item %d: position %q is not a position", ErrBadAnswer, i, truncate(it.Position))
			}
		}
		p.Items[i] = b
	}
	return p, nil
}

// Customer returns every live basket of one customer, in any state, from
// GET /api/checkout/customer, with their State and their AbandonedAt,
// RecoveredAt and CompletedAt where set. The address travels in the
// query string, as the endpoint takes it; no error shows it.
func (c *Client) Customer(ctx context.Context, email string) ([]basket.Basket, error) {
	if err := basket.ValidateEmail(email); err != nil {
		return nil, fmt.Errorf("httpapi: Customer: email: %w", err)
	}
	data, err := c.send(ctx, &request{method: http.MethodGet, path: pathCustomer, query: url.Values{pEmail: {email}}.Encode()})
	if err != nil {
		return nil, err
	}
	return decodeCustomer(data)
}

func decodeCustomer(data []byte) ([]basket.Basket, error) {
	var v struct {
		Items *[]item `json:"items"`
	}
	if err := json.Unmarshal(data, &v); err != nil || v.Items == nil {
		return nil, fmt.Errorf("%w: the customer answer is not a list of baskets%s", ErrBadAnswer, answerProblem(err))
	}
	out := make([]basket.Basket, len(*v.Items))
	for i := range *v.Items {
		it := &(*v.Items)[i]
		b := it.basket()
		switch it.State {
		case "open":
			b.State = basket.StateOpen
		case "contactable":
			b.State = basket.StateContactable
		case "completed":
			b.State = basket.StateCompleted
		default:
			return nil, fmt.Errorf("%w: the customer answer's item %d: unknown state %q", ErrBadAnswer, i, truncate(it.State))
		}
		b.Abandoned = !b.AbandonedAt.IsZero()
		out[i] = b
	}
	return out, nil
}

// Suppression asks POST /api/checkout/suppression whether campaigns must
// not mail an address (unsubscribed, bounced, erased), and for the opaque
// unsubscribe token of the address. The address travels in the body, never
// in the URL; no error shows it.
func (c *Client) Suppression(ctx context.Context, email string) (suppressed bool, token string, err error) {
	if err := basket.ValidateEmail(email); err != nil {
		return false, "", fmt.Errorf("httpapi: Suppression: email: %w", err)
	}
	body := append(appendString([]byte(`{"email":`), email), '}')
	data, err := c.send(ctx, &request{method: http.MethodPost, path: pathSuppression, body: body, contentType: "application/json"})
	if err != nil {
		return false, "", err
	}
	return decodeSuppression(data)
}

func decodeSuppression(data []byte) (bool, string, error) {
	var v struct {
		Suppressed *bool  `json:"suppressed"`
		Token      string `json:"token"`
	}
	if json.Unmarshal(data, &v) != nil || v.Suppressed == nil {
		return false, "", fmt.Errorf(`%w: the suppression answer is not {"suppressed":…,"token":…}`, ErrBadAnswer)
	}
	return *v.Suppressed, v.Token, nil
}

// Health is what GET /healthz answers.
type Health struct {
	// Status is "ok".
	Status string
	// Applied and Log are, on a node of a cluster, the position of the
	// last record the node applied and the log's last; 0 on a single
	// server.
	Applied, Log uint64
}

// Health asks GET /healthz of the node the client uses, once: a probe
// reports what it sees, without retrying or moving to another node. A
// server that does not serve answers an *APIError (503), which errors.Is
// basket.ErrCatchingUp, ErrStorage, ErrClosed or ErrDiverged as it says.
func (c *Client) Health(ctx context.Context) (Health, error) {
	data, err := c.send(ctx, &request{method: http.MethodGet, path: pathHealth, once: true})
	if err != nil {
		return Health{}, err
	}
	return decodeHealth(data)
}

func decodeHealth(data []byte) (Health, error) {
	var v struct {
		Status  string `json:"status"`
		Applied string `json:"applied"`
		Log     string `json:"log"`
	}
	if json.Unmarshal(data, &v) != nil || v.Status == "" {
		return Health{}, fmt.Errorf(`%w: the health answer is not {"status":…}`, ErrBadAnswer)
	}
	h := Health{Status: v.Status}
	for _, f := range []struct {
		s   string
		dst *uint64
	}{{v.Applied, &h.Applied}, {v.Log, &h.Log}} {
		if f.s == "" {
			continue
		}
		n, ok := parseUint(f.s)
		if !ok {
			return Health{}, fmt.Errorf("%w: the health answer's position %q is not one", ErrBadAnswer, truncate(f.s))
		}
		*f.dst = n
	}
	return h, nil
}

// ParseTime parses an ISO-8601 date or date-time as the query's
// createdAfter and createdBefore take it: "2020-12-01", "2020-12-01T16:00",
// "2020-12-01T16:00:00.000Z", "2020-12-01T16:00:00+01:00"; no zone means
// UTC. Its error says which forms are accepted, without the value.
func ParseTime(s string) (time.Time, error) { return parseTime(s) }

// AppendBasket appends b as an item of a page of the query, in exactly the
// JSON the server writes: what the server answered, decoded by a Client
// and appended again, is the same bytes.
func AppendBasket(dst []byte, b *basket.Basket) []byte { return appendBasket(dst, b, false) }
