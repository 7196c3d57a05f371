package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/basketlab/abandoned/basket"
)

// row is a basket as the tables show it.
type row struct {
	ID, Href     string
	Created      time.Time
	Name, Email  string
	Items        string
	Channel      string
	AbandonedAt  time.Time
	FollowedUpAt time.Time
	FollowUpNote string
	Position     uint64
}

func newRow(b *basket.Basket) row {
	return row{
		ID: b.ID, Href: basketHref(b.ID), Created: b.Created,
		Name: fullName(&b.CustomerDetails), Email: b.CustomerDetails.Email,
		Items: itemNames(b.OrderItems), Channel: b.Tag(),
		AbandonedAt: b.AbandonedAt, FollowedUpAt: b.FollowedUpAt, FollowUpNote: b.FollowUpNote,
		Position: b.FeedPosition,
	}
}

func basketHref(id string) string { return Prefix + "baskets/" + url.PathEscape(id) }

func fullName(d *basket.CustomerDetails) string {
	return strings.TrimSpace(d.FirstName + " " + d.LastName)
}

func itemNames(items []basket.OrderItem) string {
	names := make([]string, 0, len(items))
	for _, it := range items {
		names = append(names, it.Name)
	}
	return strings.Join(names, ", ")
}

// listState is a list's query: its filters as the person gave them, and
// where it is. It travels in the list's URLs sealed (see sealer), so that
// the URL shows no filter and no email.
type listState struct {
	From   string `json:"f,omitempty"` // created from, inclusive, as typed (datetime-local)
	To     string `json:"t,omitempty"` // created before, exclusive, as typed
	TZ     string `json:"z,omitempty"` // the zone From and To are in; UTC if empty
	Email  string `json:"e,omitempty"`
	Tag    string `json:"g,omitempty"`
	Limit  int    `json:"l,omitempty"`
	Cursor string `json:"c,omitempty"` // the engine's cursor of this page; "" on the first
	Page   int    `json:"p,omitempty"` // 0 for the first
}

// filtered reports whether any filter is set.
func (st *listState) filtered() bool {
	return st.From != "" || st.To != "" || st.Email != "" || st.Tag != ""
}

// pageSizes are the sizes the form offers.
var pageSizes = []int{20, 50, 100, 200}

// Bounds of the filters.
const maxTagLen = 200

// datetime layouts a created bound may be given in.
var boundLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02T15:04:05.000", "2006-01-02"}

// zone returns the time zone of st's bounds.
func (st *listState) zone() *time.Location {
	if st.TZ == "" || st.TZ == "UTC" {
		return time.UTC
	}
	if loc, err := loadZone(st.TZ); err == nil {
		return loc
	}
	return time.UTC
}

// loadZone loads an IANA zone name as a browser names it.
func loadZone(name string) (*time.Location, error) {
	if name == "" || len(name) > 64 || name == "Local" || strings.ContainsFunc(name, func(r rune) bool {
		return !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("/_+-", r)))
	}) {
		return nil, errors.New("unknown time zone")
	}
	return time.LoadLocation(name)
}

// parseBound reads a created bound in loc.
func parseBound(field, s string, loc *time.Location) (time.Time, error) {
	for _, l := range boundLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s: %q is not a date and time such as 2024-03-26T15:04", field, s)
}

// query is the engine's query for st.
func (st *listState) query() (basket.Query, error) {
	q := basket.Query{Limit: st.Limit, Count: true, Cursor: st.Cursor}
	if st.Cursor != "" {
		return q, nil // the cursor carries the filters
	}
	loc := st.zone()
	if st.From != "" {
		t, err := parseBound("Created from", st.From, loc)
		if err != nil {
			return q, err
		}
		q.CreatedAfter = t.Add(-time.Millisecond) // the engine's bound is exclusive
	}
	if st.To != "" {
		t, err := parseBound("Created before", st.To, loc)
		if err != nil {
			return q, err
		}
		q.CreatedBefore = t
	}
	if st.From != "" && st.To != "" && !q.CreatedBefore.After(q.CreatedAfter.Add(time.Millisecond)) {
		return q, errors.New("Created before: must be later than Created from")
	}
	if st.Email != "" {
		if err := basket.ValidateEmail(st.Email); err != nil {
			return q, fmt.Errorf("Email: %v", err)
		}
		q.Email = st.Email
	}
	if len(st.Tag) > maxTagLen || strings.ContainsFunc(st.Tag, unicode.IsControl) {
		return q, fmt.Errorf("Channel: at most %d characters, without control characters", maxTagLen)
	}
	q.Tag = st.Tag
	return q, nil
}

type listPage struct {
	S          listState
	Sizes      []int
	ZoneLabel  string
	Error      string
	Rows       []row
	Total      int
	First      int // 1-based index of the first row shown
	Last       int
	PageNo     int // 1-based
	Next       string
	FirstPage  string // the first page's URL, on a later page
	Filtered   bool
	Unfiltered string // the list without filters
}

// listURL is the URL of a list's page.
func (c *Console) listURL(st listState) (string, error) {
	if !st.filtered() && st.Cursor == "" && (st.Limit == 0 || st.Limit == DefaultPageSize) {
		return Prefix + "baskets", nil
	}
	q, err := c.seal.seal(&st)
	if err != nil {
		return "", err
	}
	return Prefix + "baskets?q=" + q, nil
}

// handleList shows a page of the abandoned baskets: the first, unfiltered,
// or the one a sealed state names.
func (c *Console) handleList(w http.ResponseWriter, r *http.Request, s *session) {
	st := listState{Limit: DefaultPageSize}
	if q := r.URL.Query().Get("q"); q != "" {
		if err := c.seal.open(q, &st); err != nil {
			c.fail(w, r, s, http.StatusBadRequest, "This page's link no longer works (it was changed, or the server restarted since): start again from the list.")
			return
		}
	}
	c.list(w, r, s, http.StatusOK, st, "")
}

// handleFilter takes the filter form (POST, so that an email never shows
// in a URL) and sends the person to the first page of its results.
func (c *Console) handleFilter(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.checkCSRF(w, r, s, s.csrf) {
		return
	}
	f := r.PostForm
	st := listState{
		From: strings.TrimSpace(f.Get("from")), To: strings.TrimSpace(f.Get("to")),
		Email: strings.TrimSpace(f.Get("email")), Tag: strings.TrimSpace(f.Get("tag")),
		TZ: "UTC", Limit: DefaultPageSize,
	}
	if tz := f.Get("tz"); tz != "" {
		if _, err := loadZone(tz); err == nil {
			st.TZ = tz
		}
	}
	if v := f.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > basket.MaxLimit {
			c.list(w, r, s, http.StatusBadRequest, st, fmt.Sprintf("Per page: %q is not a number from 1 to %d.", v, basket.MaxLimit))
			return
		}
		st.Limit = n
	}
	if _, err := st.query(); err != nil {
		c.list(w, r, s, http.StatusBadRequest, st, err.Error()+".")
		return
	}
	u, err := c.listURL(st)
	if err != nil {
		c.engineError(w, r, s, err)
		return
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// list runs st's query and renders its page; with a message, the form
// and the message only.
func (c *Console) list(w http.ResponseWriter, r *http.Request, s *session, status int, st listState, msg string) {
	d := &listPage{S: st, Sizes: pageSizes, Filtered: st.filtered(), Unfiltered: Prefix + "baskets", PageNo: st.Page + 1, ZoneLabel: "UTC"}
	if st.TZ != "" {
		d.ZoneLabel = st.TZ
	}
	if msg != "" {
		d.Error = msg
		c.render(w, r, status, "list", s, d)
		return
	}
	q, err := st.query()
	if err != nil {
		d.Error = err.Error() + "."
		c.render(w, r, http.StatusBadRequest, "list", s, d)
		return
	}
	p, err := c.eng.AbandonedFunc(r.Context(), q, func(b *basket.Basket) {
		d.Rows = append(d.Rows, newRow(b))
	})
	if err != nil {
		c.engineError(w, r, s, err)
		return
	}
	d.Total = p.Total
	if len(d.Rows) > 0 {
		d.First = st.Page*st.Limit + 1
		d.Last = d.First + len(d.Rows) - 1
	}
	if p.Cursor != "" {
		next := st
		next.Cursor, next.Page = p.Cursor, st.Page+1
		if d.Next, err = c.listURL(next); err != nil {
			c.engineError(w, r, s, err)
			return
		}
	}
	if st.Page > 0 {
		first := st
		first.Cursor, first.Page = "", 0
		if d.FirstPage, err = c.listURL(first); err != nil {
			c.engineError(w, r, s, err)
			return
		}
	}
	c.render(w, r, status, "list", s, d)
}

type field struct{ Name, Value string }

type basketPage struct {
	B            basket.Basket
	Name         string
	Link         string // the recovery link to copy
	LinkIsPath   bool   // the link is a path on this server (no ShopURL)
	Tracking     []field
	CustomFields []field
	Action       string // the follow-up form's
	Saved        bool
	Error        string
	Note         string
}

// handleBasket shows one basket.
func (c *Console) handleBasket(w http.ResponseWriter, r *http.Request, s *session) {
	c.basket(w, r, s, http.StatusOK, r.PathValue("id"), "", "")
}

func (c *Console) basket(w http.ResponseWriter, r *http.Request, s *session, status int, id, msg, note string) {
	b, err := c.eng.Get(r.Context(), id)
	if err != nil {
		c.engineError(w, r, s, err)
		return
	}
	d := &basketPage{B: b, Name: fullName(&b.CustomerDetails), Saved: r.URL.Query().Get("saved") == "1" && msg == "", Error: msg, Note: note,
		Action: basketHref(b.ID) + "/follow-up"}
	if b.RecoveryLink != "" {
		d.Link, d.LinkIsPath = c.shop+b.RecoveryLink, c.shop == ""
	}
	for _, k := range slices.Sorted(maps.Keys(b.Tracking)) {
		d.Tracking = append(d.Tracking, field{k, b.Tracking[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(b.CustomFields)) {
		v, err := json.Marshal(b.CustomFields[k])
		if err != nil {
			v = []byte(fmt.Sprint(b.CustomFields[k]))
		}
		d.CustomFields = append(d.CustomFields, field{k, string(v)})
	}
	c.render(w, r, status, "basket", s, d)
}

// handleFollowUp marks a basket followed up, with a note. A read-only
// session may not.
func (c *Console) handleFollowUp(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.checkCSRF(w, r, s, s.csrf) {
		return
	}
	id := r.PathValue("id")
	if s.ReadOnly() {
		c.fail(w, r, s, http.StatusForbidden, "You signed in read-only (credentials with the checkout scope only): you can look at baskets but not mark them followed up.")
		return
	}
	note := strings.ReplaceAll(r.PostFormValue("note"), "\r\n", "\n")
	note = strings.TrimSpace(note)
	if err := basket.ValidateFollowUpNote(note); err != nil {
		c.basket(w, r, s, http.StatusBadRequest, id, "The note was not kept: "+err.Error()+".", note)
		return
	}
	if err := c.eng.FollowUp(r.Context(), id, note); err != nil {
		if errors.Is(err, basket.ErrInvalidEvent) {
			c.basket(w, r, s, http.StatusBadRequest, id, "The note was not kept: "+err.Error()+".", note)
			return
		}
		c.engineError(w, r, s, err)
		return
	}
	http.Redirect(w, r, basketHref(id)+"?saved=1", http.StatusSeeOther)
}

// Feed pages.

// feedShown is how many of the newest abandonments the feed page shows.
const feedShown = 50

// maxFeedRead bounds what one feed page reads looking for the newest
// abandonments, when most positions have left the feed.
const maxFeedRead = 20_000

type feedPage struct {
	Rows []row // newest first
	Next uint64
	Poll string // the JSON to poll
}

// newestFeed returns up to n of the newest abandonments, newest first,
// and the newest position.
func (c *Console) newestFeed(r *http.Request, n int) ([]row, uint64, error) {
	st, err := c.eng.Stats(r.Context())
	if err != nil {
		return nil, 0, err
	}
	last := st.LastPosition
	var rows []row
	// Widen a window back from the newest position until it holds n
	// baskets: positions of baskets no longer abandoned are gaps.
	hi := last
	read := 0
	for window := uint64(4 * n); hi > 0 && len(rows) < n && read < maxFeedRead; window *= 4 {
		lo := hi - min(window, hi)
		var part []row
		after := lo
		for after < hi && read < maxFeedRead {
			p, err := c.eng.FeedFunc(r.Context(), after, basket.MaxLimit, func(b *basket.Basket) {
				if b.FeedPosition <= hi {
					part = append(part, newRow(b))
				}
			})
			if err != nil {
				return nil, 0, err
			}
			read += basket.MaxLimit
			if p.Next <= after {
				break
			}
			after = p.Next
		}
		// part is oldest first: the newest of it come first in rows.
		slices.Reverse(part)
		rows = append(rows, part...)
		hi = lo
	}
	if len(rows) > n {
		rows = rows[:n]
	}
	return rows, last, nil
}

func (c *Console) handleFeed(w http.ResponseWriter, r *http.Request, s *session) {
	rows, next, err := c.newestFeed(r, feedShown)
	if err != nil {
		c.engineError(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "feed", s, &feedPage{Rows: rows, Next: next, Poll: Prefix + "feed.json"})
}

// feedJSON is an answer of feed.json: the abandonments after a position,
// oldest first, for the feed page's script.
type feedJSON struct {
	Next  string         `json:"next"`
	Items []feedJSONItem `json:"items"`
}

type feedJSONItem struct {
	ID          string `json:"id"`
	Href        string `json:"href"`
	Created     string `json:"created"`
	Name        string `json:"name"`
	Email       string `json:"email"`
	Items       string `json:"items"`
	Channel     string `json:"channel"`
	AbandonedAt string `json:"abandonedAt"`
	Position    string `json:"position"`
}

// feedPoll is the most one poll answers.
const feedPoll = 100

// handleFeedJSON answers the feed page's polls: ?after=<position>. Without
// a session it answers 401.
func (c *Console) handleFeedJSON(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	if s, _ := c.current(r); s == nil {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"message":"signed out: reload the page to sign in"}` + "\n")) //nolint:errcheck
		return
	}
	after, err := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"message":"after: want a feed position, a whole number"}` + "\n")) //nolint:errcheck
		return
	}
	out := feedJSON{Items: []feedJSONItem{}}
	iso := funcs["iso"].(func(time.Time) string)
	p, err := c.eng.FeedFunc(r.Context(), after, feedPoll, func(b *basket.Basket) {
		out.Items = append(out.Items, feedJSONItem{
			ID: b.ID, Href: basketHref(b.ID), Created: iso(b.Created),
			Name: fullName(&b.CustomerDetails), Email: b.CustomerDetails.Email,
			Items: itemNames(b.OrderItems), Channel: b.Tag(), AbandonedAt: iso(b.AbandonedAt),
			Position: strconv.FormatUint(b.FeedPosition, 10),
		})
	})
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"message":"the feed cannot be read now"}` + "\n")) //nolint:errcheck
		return
	}
	out.Next = strconv.FormatUint(p.Next, 10)
	json.NewEncoder(w).Encode(&out) //nolint:errcheck // the client went away
}
