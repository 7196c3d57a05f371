package basket_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

var (
	t0    = time.Date(2026, 3, 26, 15, 44, 54, 975_000_000, time.UTC)
	offer = []basket.OrderItem{{Name: "The Offer", Path: "/offers2/The Offer",
		Products: []basket.Product{{Path: "/products/Digital All Access", ProductCode: "SKU-00000001"}}}}
)

func created(id string, at time.Time) basket.Event {
	return basket.Event{Type: basket.EventCreated, BasketID: id, At: at, Entry: "/checkout", OrderItems: offer}
}

func email(id string, at time.Time, addr string) basket.Event {
	return basket.Event{Type: basket.EventEmailCaptured, BasketID: id, At: at, Email: addr}
}

func mustApply(t *testing.T, eng *basket.Engine, evs ...basket.Event) {
	t.Helper()
	if _, err := eng.Apply(context.Background(), evs...); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func abandonedIDs(t *testing.T, eng *basket.Engine, q basket.Query) []string {
	t.Helper()
	var ids []string
	for {
		p, err := eng.Abandoned(context.Background(), q)
		if err != nil {
			t.Fatalf("Abandoned(%+v): %v", q, err)
		}
		for _, b := range p.Items {
			ids = append(ids, b.ID)
		}
		if p.Cursor == "" {
			return ids
		}
		q = basket.Query{Cursor: p.Cursor, Limit: q.Limit}
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name  string
		ev    basket.Event
		field string
	}{
		{"no type", basket.Event{BasketID: "b", At: t0}, "type"},
		{"unknown type", basket.Event{Type: "deleted", BasketID: "b", At: t0}, "type"},
		{"no time", basket.Event{Type: basket.EventCreated, BasketID: "b"}, "at"},
		{"ancient time", basket.Event{Type: basket.EventCreated, BasketID: "b", At: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)}, "at"},
		{"no id", basket.Event{Type: basket.EventCreated, At: t0}, "basketId"},
		{"id with space", basket.Event{Type: basket.EventCreated, BasketID: "a b", At: t0}, "basketId"},
		{"long id", basket.Event{Type: basket.EventCreated, BasketID: strings.Repeat("x", 300), At: t0}, "basketId"},
		{"bad email", email("b", t0, "ann@"), "email"},
		{"display name", email("b", t0, "Ann <ann@example.com>"), "email"},
		{"no identity", basket.Event{Type: basket.EventIdentified, BasketID: "b", At: t0}, "identity"},
		{"identity without sub", basket.Event{Type: basket.EventIdentified, BasketID: "b", At: t0, Identity: &basket.Identity{Iss: "x"}}, "identity.sub"},
		{"claims with bad email", basket.Event{Type: basket.EventIdentified, BasketID: "b", At: t0,
			Identity: &basket.Identity{Sub: "s"}, CustomerDetails: &basket.CustomerDetails{Email: "nope"}}, "customerDetails.email"},
		{"no details", basket.Event{Type: basket.EventCustomerDetailsChanged, BasketID: "b", At: t0}, "customerDetails"},
		{"control char in name", basket.Event{Type: basket.EventCustomerDetailsChanged, BasketID: "b", At: t0,
			CustomerDetails: &basket.CustomerDetails{FirstName: "A\x07"}}, "customerDetails.firstName"},
		{"no items", basket.Event{Type: basket.EventItemsChanged, BasketID: "b", At: t0}, "orderItems"},
		{"erased with id", basket.Event{Type: basket.EventErased, BasketID: "b", Email: "a@example.com", At: t0}, "basketId"},
		{"erased without email", basket.Event{Type: basket.EventErased, At: t0}, "email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := btest.MustNewEngine(t, &basket.Options{Now: func() time.Time { return t0 }})
			mustApply(t, eng, created("ok", t0))
			before := btest.Stats(t, eng)
			_, err := eng.Apply(context.Background(), created("b2", t0), tt.ev)
			var ee *basket.EventError
			if !errors.As(err, &ee) || !errors.Is(err, basket.ErrInvalidEvent) {
				t.Fatalf("Apply(%+v) = %v; want an *EventError", tt.ev, err)
			}
			if ee.Index != 1 || ee.Field != tt.field {
				t.Errorf("Apply(%+v) = index %d field %q; want index 1 field %q", tt.ev, ee.Index, ee.Field, tt.field)
			}
			if after := btest.Stats(t, eng); after != before {
				t.Errorf("a rejected batch changed the engine: %+v -> %+v", before, after)
			}
		})
	}
}

func TestTransitionErrors(t *testing.T) {
	clock := btest.NewClock(t0)
	eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now, TTL: time.Hour})
	mustApply(t, eng, created("done", t0), basket.Event{Type: basket.EventCompleted, BasketID: "done", At: t0})
	mustApply(t, eng, created("live", t0.Add(50*time.Minute)))
	mustApply(t, eng, created("gone", t0), email("gone", t0, "gone@example.com"),
		basket.Event{Type: basket.EventErased, Email: "GONE@example.com", At: t0})
	clock.Add(61 * time.Minute) // "done" and "gone" are past their TTL of an hour
	mustApply(t, eng, created("old", t0.Add(30*time.Minute)))

	tests := []struct {
		name  string
		ev    basket.Event
		want  error
		state basket.State
	}{
		{"unknown", email("nope", t0, "a@example.com"), basket.ErrUnknownBasket, 0},
		{"erased", email("gone", t0.Add(time.Hour), "a@example.com"), basket.ErrUnknownBasket, 0},
		{"created again after the erasure", created("gone", t0.Add(time.Minute)), basket.ErrUnknownBasket, 0},
		{"created differently", created("old", t0), basket.ErrConflict, basket.StateOpen},
		{"expired", email("done", t0.Add(time.Hour), "a@example.com"), basket.ErrExpired, 0},
		{"created beyond its TTL", created("ancient", t0.Add(-2*time.Hour)), basket.ErrExpired, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := btest.Stats(t, eng)
			_, err := eng.Apply(context.Background(), created("fresh-"+strings.ReplaceAll(tt.name, " ", "-"), clock.Now()), tt.ev)
			var te *basket.TransitionError
			if !errors.As(err, &te) || !errors.Is(err, tt.want) {
				t.Fatalf("Apply(%+v) = %v; want a TransitionError for %v", tt.ev, err, tt.want)
			}
			if te.Index != 1 || te.BasketID != tt.ev.BasketID || te.Event != tt.ev.Type || te.State != tt.state {
				t.Errorf("error = %+v; want index 1, basket %q, event %s, state %v", te, tt.ev.BasketID, tt.ev.Type, tt.state)
			}
			if after := btest.Stats(t, eng); after != before {
				t.Errorf("a rejected batch changed the engine: %+v -> %+v", before, after)
			}
		})
	}

	t.Run("completed", func(t *testing.T) {
		mustApply(t, eng, created("c", clock.Now()), basket.Event{Type: basket.EventCompleted, BasketID: "c", At: clock.Now()})
		_, err := eng.Apply(context.Background(), email("c", clock.Now().Add(time.Second), "a@example.com"))
		require.ErrorIs(t, err, basket.ErrCompleted)
		require.Contains(t, err.Error(), `"c"`)
		// A re-send of the completion, and news older than it, are harmless.
		mustApply(t, eng, basket.Event{Type: basket.EventCompleted, BasketID: "c", At: clock.Now()},
			email("c", clock.Now().Add(-time.Second), "a@example.com"))
	})
}

func TestIdempotentResend(t *testing.T) {
	eng := btest.MustNewEngine(t, &basket.Options{Now: func() time.Time { return t0 }})
	batch := []basket.Event{created("b", t0), email("b", t0, "ann@example.com")}
	mustApply(t, eng, batch...)
	first, _ := btest.Lookup(t, eng, "b")
	res, err := eng.Apply(context.Background(), batch...)
	if err != nil || res.Applied != 2 || res.Changed != 0 {
		t.Fatalf("re-send = %+v, %v; want 2 applied, 0 changed", res, err)
	}
	again, _ := btest.Lookup(t, eng, "b")
	if again.FeedPosition != first.FeedPosition || again.LastActivity != first.LastActivity {
		t.Errorf("re-send moved the basket: %+v -> %+v", first, again)
	}
}

func TestAbandonAfter(t *testing.T) {
	clock := btest.NewClock(t0)
	eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now, AbandonAfter: 30 * time.Minute})
	start := btest.Stats(t, eng).LastPosition // positions start where the engine started
	mustApply(t, eng, created("b", t0), email("b", t0, "ann@example.com"))
	if ids := abandonedIDs(t, eng, basket.Query{}); len(ids) != 0 {
		t.Fatalf("abandoned before idle: %v", ids)
	}
	clock.Add(30 * time.Minute)
	if ids := abandonedIDs(t, eng, basket.Query{}); len(ids) != 1 {
		t.Fatalf("not abandoned after idle: %v", ids)
	}
	b, _ := btest.Lookup(t, eng, "b")
	if !b.AbandonedAt.Equal(t0.Add(30*time.Minute)) || b.FeedPosition != start+1 {
		t.Fatalf("AbandonedAt, FeedPosition = %v, %d; want %v, %d", b.AbandonedAt, b.FeedPosition, t0.Add(30*time.Minute), start+1)
	}
	// Reading is not activity.
	for range 3 {
		btest.Lookup(t, eng, "b")
		eng.Feed(context.Background(), 0, 10)
	}
	// Activity makes it active again, then abandoned again with a new position.
	clock.Add(time.Minute)
	mustApply(t, eng, basket.Event{Type: basket.EventItemsChanged, BasketID: "b", At: clock.Now(), OrderItems: offer[:0]})
	if ids := abandonedIDs(t, eng, basket.Query{}); len(ids) != 0 {
		t.Fatalf("still abandoned after activity: %v", ids)
	}
	clock.Add(30 * time.Minute)
	if err := eng.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, _ = btest.Lookup(t, eng, "b")
	if !b.Abandoned || b.FeedPosition != start+2 || len(b.OrderItems) != 0 {
		t.Fatalf("after idle again: %+v; want abandoned at position %d with no items", b, start+2)
	}
}

func TestExpiry(t *testing.T) {
	clock := btest.NewClock(t0)
	eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now, TTL: 24 * time.Hour})
	mustApply(t, eng, created("b", t0), email("b", t0, "ann@example.com"))
	b, _ := btest.Lookup(t, eng, "b")
	clock.Add(24 * time.Hour)
	if _, ok := btest.Lookup(t, eng, "b"); ok {
		t.Fatal("basket still there after its TTL")
	}
	if st := btest.Stats(t, eng); st.Expired != 1 || st.Abandoned != 0 || st.Contactable != 0 {
		t.Fatalf("Stats = %+v; want 1 expired and nothing else", st)
	}
	_, err := eng.Apply(context.Background(), email("b", clock.Now(), "bob@example.com"))
	require.ErrorIs(t, err, basket.ErrExpired)
	// Its recovery link now leads to a purchase link for the same offer.
	u, _ := url.Parse(b.RecoveryLink)
	rec, err := eng.Recover(context.Background(), "b", u.Query().Get("recover"))
	require.NoError(t, err)
	require.Equal(t, basket.Recovery{Outcome: basket.RecoverRepurchase, BasketID: "b", OfferPath: "/offers2/The Offer"}, rec)
}

func TestErasure(t *testing.T) {
	eng := btest.MustNewEngine(t, &basket.Options{Now: func() time.Time { return t0 }})
	mustApply(t, eng, created("a1", t0), email("a1", t0, "Ann@Example.com"),
		created("a2", t0), basket.Event{Type: basket.EventIdentified, BasketID: "a2", At: t0,
			Identity: &basket.Identity{Sub: "s"}, CustomerDetails: &basket.CustomerDetails{Email: "ann@example.com"}},
		created("b1", t0), email("b1", t0, "bob@example.com"))
	a1, _ := btest.Lookup(t, eng, "a1")
	mustApply(t, eng, basket.Event{Type: basket.EventErased, Email: " ANN@example.com", At: t0})
	require.Equal(t, []string{"b1"}, abandonedIDs(t, eng, basket.Query{}))
	require.Empty(t, abandonedIDs(t, eng, basket.Query{Email: "ann@example.com"}))
	u, _ := url.Parse(a1.RecoveryLink)
	_, err := eng.Recover(context.Background(), "a1", u.Query().Get("recover"))
	require.ErrorIs(t, err, basket.ErrTokenInvalid)
	_, err = eng.Apply(context.Background(), email("a1", t0.Add(time.Hour), "new@example.com"))
	require.ErrorIs(t, err, basket.ErrUnknownBasket)
}

func TestRecover(t *testing.T) {
	clock := btest.NewClock(t0)
	eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now, TTL: basket.NoExpiry, AbandonAfter: time.Minute})
	mustApply(t, eng, created("b", t0), email("b", t0, "ann@example.com"), created("c", t0), email("c", t0, "cy@example.com"))
	clock.Add(time.Minute)
	b, _ := btest.Lookup(t, eng, "b")
	require.True(t, b.Abandoned)
	u, err := url.Parse(b.RecoveryLink)
	require.NoError(t, err)
	require.Equal(t, "/api/checkout/recover", u.Path)
	tok := u.Query().Get("recover")
	ctx := context.Background()

	for _, tt := range []struct {
		id, token string
		want      error
	}{
		{"b", "", basket.ErrTokenMissing},
		{"b", "garbage", basket.ErrTokenInvalid},
		{"c", tok, basket.ErrTokenInvalid},
		{"b", btest.FlipLast(t, tok), basket.ErrTokenInvalid},
	} {
		if _, err := eng.Recover(ctx, tt.id, tt.token); !errors.Is(err, tt.want) {
			t.Errorf("Recover(%q, %q) = %v; want %v", tt.id, tt.token, err, tt.want)
		}
	}
	if err := eng.VerifyToken(basket.PurposeUnsubscribe, "b", tok); !errors.Is(err, basket.ErrTokenInvalid) {
		t.Errorf("a recovery token verified as an unsubscribe token: %v", err)
	}

	rec, err := eng.Recover(ctx, "b", tok)
	require.NoError(t, err)
	require.Equal(t, basket.RecoverCheckout, rec.Outcome)
	b, _ = btest.Lookup(t, eng, "b")
	require.False(t, b.Abandoned, "a recovery click is activity")
	require.Equal(t, clock.Now(), b.LastActivity)

	// Revoked tokens are invalid; expired ones are told apart.
	require.NoError(t, eng.Revoke(ctx, "b"))
	_, err = eng.Recover(ctx, "b", tok)
	require.ErrorIs(t, err, basket.ErrTokenInvalid)
	c, _ := btest.Lookup(t, eng, "c")
	cu, _ := url.Parse(c.RecoveryLink)
	clock.Add(basket.DefaultRecoveryValidity + time.Second)
	_, err = eng.Recover(ctx, "c", cu.Query().Get("recover"))
	require.ErrorIs(t, err, basket.ErrTokenExpired)
	// A fresh link is handed out once the cached one has expired.
	c, _ = btest.Lookup(t, eng, "c")
	cu, _ = url.Parse(c.RecoveryLink)
	rec, err = eng.Recover(ctx, "c", cu.Query().Get("recover"))
	require.NoError(t, err)
	require.Equal(t, basket.RecoverCheckout, rec.Outcome)
}

func TestKeyRotation(t *testing.T) {
	oldKey, newKey := []byte("old-secret-0123456789"), []byte("new-secret-0123456789")
	events := []basket.Event{created("b1", t0), email("b1", t0, "ann@example.com"), created("b2", t0), email("b2", t0, "bob@example.com")}
	engine := func(secrets ...[]byte) *basket.Engine {
		eng := btest.MustNewEngine(t, &basket.Options{Now: func() time.Time { return t0 }, RecoverySecrets: secrets, Alias: "prod"})
		mustApply(t, eng, events...)
		return eng
	}
	before := engine(oldKey)
	rotated := engine(newKey, oldKey)
	dropped := engine(newKey)

	p, err := before.Abandoned(context.Background(), basket.Query{Limit: 1})
	require.NoError(t, err)
	link, _ := url.Parse(p.Items[0].RecoveryLink)
	tok := link.Query().Get("recover")

	_, err = rotated.Recover(context.Background(), "b1", tok)
	require.NoError(t, err, "a token of the old key verifies after rotation")
	p2, err := rotated.Abandoned(context.Background(), basket.Query{Cursor: p.Cursor})
	require.NoError(t, err, "a cursor of the old key continues after rotation")
	require.Equal(t, "b2", p2.Items[0].ID)

	_, err = dropped.Recover(context.Background(), "b1", tok)
	require.ErrorIs(t, err, basket.ErrTokenInvalid)
	_, err = dropped.Abandoned(context.Background(), basket.Query{Cursor: p.Cursor})
	require.ErrorIs(t, err, basket.ErrInvalidCursor)

	_, err = basket.New(&basket.Options{RecoverySecrets: [][]byte{[]byte("short")}})
	require.Error(t, err)
}

func TestCursor(t *testing.T) {
	ctx := context.Background()
	eng := btest.MustNewEngine(t, &basket.Options{Now: func() time.Time { return t0 }, Alias: "prod"})
	other := btest.MustNewEngine(t, &basket.Options{Now: func() time.Time { return t0 }, Alias: "staging"})
	for i, id := range []string{"b1", "b2", "b3"} {
		at := t0.Add(time.Duration(i) * time.Second)
		ev := []basket.Event{created(id, at), email(id, at, "ann@example.com")}
		ev[0].Tracking = map[string]string{"tag": "direct"}
		mustApply(t, eng, ev...)
		mustApply(t, other, ev...)
	}
	q := basket.Query{Limit: 1, Email: "Ann@example.com", Tag: "direct", CreatedAfter: t0.Add(-time.Hour)}
	p, err := eng.Abandoned(ctx, q)
	require.NoError(t, err)
	require.NotEmpty(t, p.Cursor)
	raw, err := base64.RawURLEncoding.DecodeString(p.Cursor)
	require.NoError(t, err)
	require.NotContains(t, strings.ToLower(string(raw)), "ann@example.com", "a cursor must not show the email")

	tests := []struct {
		name string
		q    basket.Query
		want error
	}{
		{"alone", basket.Query{Cursor: p.Cursor}, nil},
		{"with the same filters", basket.Query{Cursor: p.Cursor, Email: "ann@EXAMPLE.com", Tag: "direct", CreatedAfter: t0.Add(-time.Hour)}, nil},
		{"another limit", basket.Query{Cursor: p.Cursor, Limit: 7}, nil},
		{"another email", basket.Query{Cursor: p.Cursor, Email: "bob@example.com"}, basket.ErrCursorMismatch},
		{"another tag", basket.Query{Cursor: p.Cursor, Tag: "social"}, basket.ErrCursorMismatch},
		{"another createdAfter", basket.Query{Cursor: p.Cursor, CreatedAfter: t0}, basket.ErrCursorMismatch},
		{"a createdBefore", basket.Query{Cursor: p.Cursor, CreatedBefore: t0}, basket.ErrCursorMismatch},
		{"truncated", basket.Query{Cursor: p.Cursor[:len(p.Cursor)-3]}, basket.ErrInvalidCursor},
		{"tampered", basket.Query{Cursor: "A" + p.Cursor[1:]}, basket.ErrInvalidCursor},
		{"not base64", basket.Query{Cursor: "???"}, basket.ErrInvalidCursor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p2, err := eng.Abandoned(ctx, tt.q)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Abandoned(%+v) = %v; want %v", tt.q, err, tt.want)
			}
			if err == nil && p2.Items[0].ID != "b2" {
				t.Fatalf("Abandoned(%+v) continued at %s; want b2", tt.q, p2.Items[0].ID)
			}
			if err != nil {
				var qe *basket.QueryError
				require.ErrorAs(t, err, &qe)
				require.NotEmpty(t, qe.Param)
			}
		})
	}
	_, err = other.Abandoned(ctx, basket.Query{Cursor: p.Cursor})
	require.ErrorIs(t, err, basket.ErrInvalidCursor, "a cursor of another environment")
}

func TestQueryBounds(t *testing.T) {
	eng := btest.MustNewEngine(t, &basket.Options{Now: func() time.Time { return t0 }})
	for i, id := range []string{"a", "b", "c"} {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		mustApply(t, eng, created(id, at), email(id, at, id+"@example.com"))
	}
	tests := []struct {
		q    basket.Query
		want []string
	}{
		{basket.Query{}, []string{"a", "b", "c"}},
		{basket.Query{CreatedAfter: t0}, []string{"b", "c"}},
		{basket.Query{CreatedAfter: t0.Add(500 * time.Microsecond)}, []string{"b", "c"}},
		{basket.Query{CreatedBefore: t0.Add(2 * time.Millisecond)}, []string{"a", "b"}},
		{basket.Query{CreatedBefore: t0.Add(1500 * time.Microsecond)}, []string{"a", "b"}},
		{basket.Query{CreatedAfter: t0, CreatedBefore: t0.Add(2 * time.Millisecond)}, []string{"b"}},
		{basket.Query{CreatedAfter: t0.Add(time.Hour)}, nil},
		{basket.Query{Tag: "none"}, nil},
		{basket.Query{Email: "B@example.com "}, []string{"b"}},
	}
	for _, tt := range tests {
		for _, limit := range []int{1, 2, 0} {
			tt.q.Limit = limit
			if got := abandonedIDs(t, eng, tt.q); !equalIDs(got, tt.want) {
				t.Errorf("Abandoned(%+v) = %v; want %v", tt.q, got, tt.want)
			}
		}
		tt.q.Count = true
		p, err := eng.Abandoned(context.Background(), tt.q)
		if err != nil || p.Total != len(tt.want) {
			t.Errorf("Abandoned(%+v).Total = %d, %v; want %d", tt.q, p.Total, err, len(tt.want))
		}
	}
	for _, limit := range []int{-1, 1001} {
		_, err := eng.Abandoned(context.Background(), basket.Query{Limit: limit})
		var qe *basket.QueryError
		if !errors.As(err, &qe) || qe.Param != "limit" || !errors.Is(err, basket.ErrInvalidQuery) {
			t.Errorf("Abandoned(limit %d) = %v; want a limit error", limit, err)
		}
	}
}

func equalIDs(a, b []string) bool {
	return len(a) == len(b) && strings.Join(a, ",") == strings.Join(b, ",")
}

func TestClose(t *testing.T) {
	eng, err := basket.New(&basket.Options{SweepInterval: time.Millisecond})
	require.NoError(t, err)
	require.True(t, eventually(backgroundRunning), "no sweeper runs")
	require.NoError(t, eng.Close())
	require.NoError(t, eng.Close(), "Close is idempotent")
	_, err = eng.Apply(context.Background(), created("b", t0))
	require.ErrorIs(t, err, basket.ErrClosed)
	_, err = eng.Abandoned(context.Background(), basket.Query{})
	require.ErrorIs(t, err, basket.ErrClosed)
	_, err = eng.Feed(context.Background(), 0, 0)
	require.ErrorIs(t, err, basket.ErrClosed)
	// Close waited for it; the goroutine's last instructions may still be
	// on its way out.
	require.True(t, eventually(func() bool { return !backgroundRunning() }), "the sweeper outlived Close")
}

// eventually reports whether cond holds within five seconds.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

// backgroundRunning reports whether any engine's background goroutine runs.
func backgroundRunning() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "basket.(*Engine).background")
}

func TestCanceledContext(t *testing.T) {
	eng := btest.MustNewEngine(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := eng.Apply(ctx, created("b", time.Now()))
	require.ErrorIs(t, err, context.Canceled)
	_, err = eng.Abandoned(ctx, basket.Query{})
	require.ErrorIs(t, err, context.Canceled)
}

func TestCustomer(t *testing.T) {
	eng := btest.MustNewEngine(t, &basket.Options{Now: func() time.Time { return t0 }})
	mustApply(t, eng, created("a2", t0.Add(time.Minute)), email("a2", t0.Add(time.Minute), "ann@example.com"),
		created("a1", t0), email("a1", t0, "ANN@example.com"), basket.Event{Type: basket.EventCompleted, BasketID: "a1", At: t0.Add(2 * time.Minute)},
		created("b", t0), email("b", t0, "bob@example.com"))
	got, err := eng.Customer(context.Background(), " Ann@Example.com")
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "a1", got[0].ID)
	require.True(t, got[0].Completed)
	require.Equal(t, t0.Add(2*time.Minute), got[0].CompletedAt)
	require.Equal(t, "a2", got[1].ID)
	require.True(t, got[1].Abandoned)
}

// TestRecoveryLinkFresh: a reader is never handed a link with less than
// half its validity left.
func TestRecoveryLinkFresh(t *testing.T) {
	clock := btest.NewClock(t0)
	eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now, TTL: basket.NoExpiry})
	mustApply(t, eng, created("b", t0), email("b", t0, "ann@example.com"))
	first, _ := btest.Lookup(t, eng, "b")
	clock.Add(basket.DefaultRecoveryValidity / 3)
	if b, _ := btest.Lookup(t, eng, "b"); b.RecoveryLink != first.RecoveryLink {
		t.Fatalf("link changed at a third of its validity")
	}
	clock.Add(basket.DefaultRecoveryValidity / 3)
	late, _ := btest.Lookup(t, eng, "b")
	if late.RecoveryLink == first.RecoveryLink {
		t.Fatal("a link with a third of its validity left was handed out")
	}
	clock.Add(basket.DefaultRecoveryValidity / 2)
	u, _ := url.Parse(late.RecoveryLink)
	if _, err := eng.Recover(context.Background(), "b", u.Query().Get("recover")); err != nil {
		t.Fatalf("the fresh link expired early: %v", err)
	}
}
