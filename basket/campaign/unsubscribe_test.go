package campaign

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/httpapi"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// ownListSource is a source that keeps no suppression list: only the
// methods of Source.
type ownListSource struct{ Source }

// listSource is a source with a suppression list of its own, which hands
// out a fresh token at every question.
type listSource struct {
	Source
	mu    sync.Mutex
	list  map[string]bool
	asked int
	err   error
}

func (s *listSource) Suppression(_ context.Context, email string) (bool, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return false, "", s.err
	}
	s.asked++
	if s.list[basket.NormalizeEmail(email)] {
		return true, "", nil
	}
	return false, fmt.Sprintf("opaque-%d", s.asked), nil
}

func (s *listSource) suppress(email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list[email] = true
}

func tokenOf(t *testing.T, m *Message) string {
	t.Helper()
	u, err := url.Parse(m.UnsubscribeURL)
	if err != nil {
		t.Fatalf("unsubscribe URL %q: %v", m.UnsubscribeURL, err)
	}
	if q := u.Query(); len(q) != 1 || q.Get("token") == "" {
		t.Fatalf("unsubscribe URL %q: want one parameter, token", m.UnsubscribeURL)
	}
	return u.Query().Get("token")
}

// TestSourceSuppression: over a source that keeps a suppression list, the
// runner asks it at the moment of sending; the link carries the token it
// gave; an address listed after its basket was taken in is skipped as
// suppressed, and so are its later steps; the runner's own list is
// honoured too.
func TestSourceSuppression(t *testing.T) {
	f := newFixture(t, nil, nil)
	src := &listSource{Source: EngineSource{f.eng}, list: map[string]bool{}}
	r, err := New(src, f.snd, &Options{ShopURL: "shop.example.com", Steps: []time.Duration{time.Hour, 48 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f.r = r
	f.tick()
	f.basket("b-1", "ann@example.com", nil)
	f.basket("b-2", "bob@example.com", nil)
	f.basket("b-3", "cy@example.com", nil)
	f.run(30*time.Minute, 5*time.Minute) // taken in, nothing due
	src.suppress("bob@example.com")
	if err := r.Suppress(t.Context(), "cy@example.com", "bounced"); err != nil {
		t.Fatal(err)
	}
	f.run(time.Hour, 5*time.Minute)
	ms := f.snd.messages()
	if got := summary(ms); !slices.Equal(got, []string{"b-1/1"}) {
		t.Fatalf("messages = %v; want b-1/1 only", got)
	}
	if tok := tokenOf(t, ms[0]); !strings.HasPrefix(tok, "opaque-") ||
		!strings.HasPrefix(ms[0].UnsubscribeURL, "https://shop.example.com"+DefaultUnsubscribePath+"?token=") {
		t.Errorf("unsubscribe URL %q; want the source's token on the default path", ms[0].UnsubscribeURL)
	}
	// Unsubscribed between two steps: step 2 is not sent.
	src.suppress("ann@example.com")
	f.run(50*time.Hour, 10*time.Minute)
	if got := summary(f.snd.messages()); !slices.Equal(got, []string{"b-1/1"}) {
		t.Errorf("messages = %v; want no message after the unsubscribe", got)
	}
	if rep := r.Report(); rep.Skipped[ReasonSuppressed] != 3 {
		t.Errorf("skipped as suppressed %d; want 3 (bob's and cy's first steps, ann's second): %v", rep.Skipped[ReasonSuppressed], rep.Skipped)
	}
}

// TestSourceSuppressionFails: a source that cannot say whether an address
// is suppressed stops the turn: nothing is sent without the answer.
func TestSourceSuppressionFails(t *testing.T) {
	f := newFixture(t, nil, nil)
	src := &listSource{Source: EngineSource{f.eng}, list: map[string]bool{}, err: errors.New("server unreachable")}
	r, err := New(src, f.snd, &Options{ShopURL: "shop.example.com", Steps: []time.Duration{time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f.r = r
	f.tick()
	f.basket("b-1", "ann@example.com", nil)
	f.clock.Add(2 * time.Hour)
	if _, err := r.Tick(t.Context(), f.clock.Now()); err == nil || !strings.Contains(err.Error(), "suppression list") {
		t.Errorf("Tick with the list unreachable = %v; want an error naming the suppression list", err)
	}
	if n := len(f.snd.messages()); n != 0 {
		t.Errorf("%d messages sent without the list's answer; want 0", n)
	}
	src.mu.Lock()
	src.err = nil
	src.mu.Unlock()
	f.tick()
	if got := summary(f.snd.messages()); !slices.Equal(got, []string{"b-1/1"}) {
		t.Errorf("once the list answers: messages = %v; want b-1/1", got)
	}
}

// doubtOnce is a sender whose first delivery is in doubt (its answer
// lost after the point of no return) and which takes a repeat, as a
// webhook's service does.
type doubtOnce struct {
	memSender
	doubted bool
}

func (s *doubtOnce) Send(ctx context.Context, m *Message, commit func() error) error {
	if err := commit(); err != nil {
		return err
	}
	s.mu.Lock()
	first := !s.doubted
	s.doubted = true
	s.mu.Unlock()
	if first {
		return &SendError{"test", "post", fmt.Errorf("%w: answer lost", ErrInDoubt)}
	}
	return s.memSender.Send(ctx, m, func() error { return nil })
}

func (s *doubtOnce) Resolve(context.Context, *Message, bool) (Resolution, error) {
	return SendAgain, nil
}

// TestResendKeepsToken: a message sent again after a doubt carries the
// token of the first attempt, though the source hands out a new one at
// every question: a repeat is the same message.
func TestResendKeepsToken(t *testing.T) {
	f := newFixture(t, nil, nil)
	src := &listSource{Source: EngineSource{f.eng}, list: map[string]bool{}}
	snd := &doubtOnce{}
	r, err := New(src, snd, &Options{ShopURL: "shop.example.com", Steps: []time.Duration{time.Hour}, RetryAfter: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f.r = r
	f.tick()
	f.basket("b-1", "ann@example.com", nil)
	f.run(2*time.Hour, 5*time.Minute)
	ms := snd.messages()
	if len(ms) != 1 {
		t.Fatalf("%d messages delivered; want 1 (the repeat)", len(ms))
	}
	if tok := tokenOf(t, ms[0]); tok != "opaque-1" {
		t.Errorf("the repeat's token = %q; want the first attempt's, opaque-1", tok)
	}
	// Unsubscribed while a message is in doubt: it is not sent again.
	f.basket("b-2", "bob@example.com", nil)
	snd.mu.Lock()
	snd.doubted = false
	snd.mu.Unlock()
	f.run(65*time.Minute, 5*time.Minute) // b-2's first attempt: in doubt
	src.suppress("bob@example.com")
	f.run(time.Hour, 5*time.Minute)
	if got := summary(snd.messages()); !slices.Equal(got, []string{"b-1/1"}) {
		t.Errorf("messages = %v; want b-2's repeat not sent to an unsubscribed address", got)
	}
	if rep := r.Report(); len(rep.InDoubt) != 1 || rep.InDoubt[0].BasketID != "b-2" {
		t.Errorf("in doubt %v; want b-2's message", rep.InDoubt)
	}
}

// TestOwnUnsubscribe: over a source that keeps no list, the link carries
// the runner's own token, which names no address; Runner.Unsubscribe
// takes it (a tampered one changes nothing) and the next step is skipped
// as suppressed.
func TestOwnUnsubscribe(t *testing.T) {
	f := newFixture(t, nil, nil)
	r, err := New(ownListSource{EngineSource{f.eng}}, f.snd, &Options{ShopURL: "shop.example.com",
		UnsubscribeURL: "https://shop.example.com/mail/unsubscribe?list=news", Steps: []time.Duration{time.Hour, 48 * time.Hour}, Tokens: f.eng})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f.r = r
	f.tick()
	f.basket("b-1", "Ann@Example.com", nil)
	f.run(2*time.Hour, 5*time.Minute)
	ms := f.snd.messages()
	if len(ms) != 1 {
		t.Fatalf("%d messages; want 1", len(ms))
	}
	u, err := url.Parse(ms[0].UnsubscribeURL)
	if err != nil || u.Path != "/mail/unsubscribe" || u.Query().Get("list") != "news" {
		t.Fatalf("unsubscribe URL %q: %v; want the configured one with its parameters", ms[0].UnsubscribeURL, err)
	}
	tok := u.Query().Get("token")
	if tok == "" || strings.Contains(strings.ToLower(ms[0].UnsubscribeURL), "ann") || u.Query().Has("email") {
		t.Errorf("unsubscribe URL %q: want a token and no address", ms[0].UnsubscribeURL)
	}
	for _, bad := range []string{"", "x" + tok, btest.FlipLast(t, tok), strings.Replace(tok, ".", "", 1), strings.ToUpper(tok[:32]) + tok[32:]} {
		if err := r.Unsubscribe(t.Context(), bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("Unsubscribe(%q) = %v; want ErrBadToken", bad, err)
		}
	}
	if r.Suppressed("ann@example.com") || r.Report().Suppressed != 0 {
		t.Fatal("a bad token suppressed the address")
	}
	if err := r.Unsubscribe(t.Context(), tok); err != nil {
		t.Fatalf("Unsubscribe = %v; want nil", err)
	}
	if err := r.Unsubscribe(t.Context(), tok); err != nil {
		t.Errorf("Unsubscribe again = %v; want nil (harmless)", err)
	}
	if !r.Suppressed("ann@example.com") {
		t.Error("the address is not suppressed after Unsubscribe")
	}
	f.run(50*time.Hour, 10*time.Minute)
	if n := len(f.snd.messages()); n != 1 {
		t.Errorf("%d messages; want no second step after the unsubscribe", n)
	}
	if rep := r.Report(); rep.Skipped[ReasonSuppressed] != 1 || rep.Suppressed != 1 {
		t.Errorf("skipped as suppressed %d, list %d; want 1 and 1", rep.Skipped[ReasonSuppressed], rep.Suppressed)
	}
}

// TestOutboxHeaders: the outbox line carries the message's headers.
func TestOutboxHeaders(t *testing.T) {
	f := newFixture(t, nil, nil)
	path := t.TempDir() + "/outbox.jsonl"
	ob, err := OpenOutbox(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	r, err := New(EngineSource{f.eng}, ob, &Options{ShopURL: "shop.example.com", Steps: []time.Duration{time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f.r = r
	f.tick()
	f.basket("b-1", "ann@example.com", nil)
	f.run(2*time.Hour, 5*time.Minute)
	lines := readOutbox(t, path)
	if len(lines) != 1 {
		t.Fatalf("%d outbox lines; want 1", len(lines))
	}
	m := lines[0]
	if m.Headers[HeaderListUnsubscribe] != "<"+m.UnsubscribeURL+">" || m.Headers[HeaderListUnsubscribePost] != OneClick ||
		!strings.HasPrefix(m.UnsubscribeURL, "https://shop.example.com"+DefaultUnsubscribePath+"?token=") {
		t.Errorf("outbox line's headers %v, unsubscribe URL %q; want List-Unsubscribe <URL> and one-click", m.Headers, m.UnsubscribeURL)
	}
}

func readOutbox(t *testing.T, path string) []Message {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []Message
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m Message
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("outbox line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// TestWebhookHeaders: the webhook's JSON carries the message's headers.
func TestWebhookHeaders(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		bodies = append(bodies, v)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	f := newFixture(t, nil, nil)
	r, err := New(EngineSource{f.eng}, &Webhook{URL: srv.URL, Retries: -1}, &Options{ShopURL: "shop.example.com", Steps: []time.Duration{time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f.r = r
	f.tick()
	f.basket("b-1", "ann@example.com", nil)
	f.run(2*time.Hour, 5*time.Minute)
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 {
		t.Fatalf("%d posts; want 1", len(bodies))
	}
	h, _ := bodies[0]["headers"].(map[string]any)
	if h[HeaderListUnsubscribe] != "<"+bodies[0]["unsubscribeUrl"].(string)+">" || h[HeaderListUnsubscribePost] != OneClick {
		t.Errorf("the webhook's headers = %v; want List-Unsubscribe and List-Unsubscribe-Post", bodies[0]["headers"])
	}
}

// TestSMTPComposeHeaders: the SMTP message carries the message's headers,
// never one that would replace its own or break a line.
func TestSMTPComposeHeaders(t *testing.T) {
	m := testMessage("c1-h", "ann@example.com")
	m.UnsubscribeURL = "https://shop.example.com/api/checkout/unsubscribe?token=abc"
	m.Headers = unsubscribeHeaders(m.UnsubscribeURL)
	m.Headers["Bcc"] = "evil@example.com"
	m.Headers["X-Bad:Name"] = "v"
	m.Headers["X-Line"] = "a\r\nBcc: evil@example.com"
	m.Headers["X-Shop"] = "spring"
	s := &SMTP{From: "Shop <news@shop.example.com>"}
	from, _ := mail.ParseAddress(s.From)
	to, _ := mail.ParseAddress(m.To)
	body, err := s.compose(m, from, to)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	if h.Get("List-Unsubscribe") != "<"+m.UnsubscribeURL+">" || h.Get("List-Unsubscribe-Post") != OneClick || h.Get("X-Shop") != "spring" {
		t.Errorf("headers %v; want List-Unsubscribe, List-Unsubscribe-Post and X-Shop", h)
	}
	if h.Get("Bcc") != "" || h.Get("X-Line") != "" || strings.Contains(string(body), "X-Bad") {
		t.Errorf("a header that replaces one of ours or breaks a line went in:\n%s", body)
	}
}

// TestUnsubscribeEndToEnd: a message goes out over SMTP (a real server on
// loopback) with List-Unsubscribe and List-Unsubscribe-Post; the one-click
// POST of its link, made to the HTTP API over the same engine, puts the
// address on the engine's list (a GET shows a page and changes nothing, a
// tampered token is refused), and the next step is skipped as suppressed:
// for a campaign over the engine in process and over the server's API.
func TestUnsubscribeEndToEnd(t *testing.T) {
	for _, overHTTP := range []bool{false, true} {
		t.Run(map[bool]string{false: "engine", true: "http"}[overHTTP], func(t *testing.T) { unsubscribeEndToEnd(t, overHTTP) })
	}
}

func unsubscribeEndToEnd(t *testing.T, overHTTP bool) {
	f := newFixture(t, nil, nil)
	api, err := httpapi.New(f.eng, &httpapi.Options{APITokens: []string{"campaign-test-token"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	var src Source = EngineSource{f.eng}
	if overHTTP {
		src = &HTTPSource{BaseURL: srv.URL, Token: "campaign-test-token"}
	}
	mailSrv := newSMTPServer(t)
	r, err := New(src, mailSrv.sender(), &Options{ShopURL: "https://shop.example.com", Steps: []time.Duration{time.Hour, 48 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f.r = r
	f.tick()
	f.basket("b-1", "Ann@Example.com", nil)
	f.run(2*time.Hour, 10*time.Minute)

	mailSrv.mu.Lock()
	if len(mailSrv.raw) != 1 {
		mailSrv.mu.Unlock()
		t.Fatalf("%d messages delivered; want 1", len(mailSrv.raw))
	}
	raw := mailSrv.raw[0]
	mailSrv.mu.Unlock()
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	lu, post := msg.Header.Get("List-Unsubscribe"), msg.Header.Get("List-Unsubscribe-Post")
	if post != "List-Unsubscribe=One-Click" || !strings.HasPrefix(lu, "<https://shop.example.com"+DefaultUnsubscribePath+"?token=") || !strings.HasSuffix(lu, ">") {
		t.Fatalf("List-Unsubscribe %q, List-Unsubscribe-Post %q; want <https://shop.example.com%s?token=…> and one-click", lu, post, DefaultUnsubscribePath)
	}
	if strings.Contains(strings.ToLower(lu), "ann") {
		t.Errorf("List-Unsubscribe %q shows the address", lu)
	}
	link, err := url.Parse(strings.Trim(lu, "<>"))
	if err != nil {
		t.Fatal(err)
	}
	// The shop forwards the path to the server.
	target := srv.URL + link.Path + "?" + link.RawQuery
	suppressed := func() bool {
		t.Helper()
		s, _, err := f.eng.Suppression(t.Context(), "ann@example.com")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	onePost := func(u string) int {
		t.Helper()
		resp, err := http.Post(u, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tok := link.Query().Get("token")
	if code := onePost(srv.URL + link.Path + "?token=" + url.QueryEscape(tok[:len(tok)-2]+"AA")); code != http.StatusForbidden || suppressed() {
		t.Errorf("POST with a tampered token: %d, suppressed %v; want 403 and nothing changed", code, suppressed())
	}
	resp, err := http.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || suppressed() {
		t.Errorf("GET of the link: %d, suppressed %v; want a page and nothing changed", resp.StatusCode, suppressed())
	}
	if code := onePost(target); code != http.StatusOK || !suppressed() {
		t.Fatalf("the one-click POST: %d, suppressed %v; want 200 and the address on the list", code, suppressed())
	}
	f.run(50*time.Hour, 10*time.Minute)
	mailSrv.mu.Lock()
	n := len(mailSrv.raw)
	mailSrv.mu.Unlock()
	if n != 1 {
		t.Errorf("%d messages delivered; want no second step after the unsubscribe", n)
	}
	if rep := r.Report(); rep.Skipped[ReasonSuppressed] != 1 || rep.Total.Sent != 1 {
		t.Errorf("report: skipped as suppressed %d, sent %d; want 1 and 1", rep.Skipped[ReasonSuppressed], rep.Total.Sent)
	}
}
