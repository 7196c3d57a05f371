package basket_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// fuzzEngine returns an engine with a few abandoned baskets.
func fuzzEngine(f *testing.F) *basket.Engine {
	clock := btest.NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	eng := btest.MustNewEngine(f, &basket.Options{Now: clock.Now, Alias: "fuzz"})
	for i, id := range []string{"b-1", "b-2", "b-3", "b-4"} {
		at := clock.Now().Add(time.Duration(i) * time.Minute)
		_, err := eng.Apply(context.Background(),
			basket.Event{Type: basket.EventCreated, BasketID: id, At: at, Tracking: map[string]string{"tag": "direct"}},
			basket.Event{Type: basket.EventEmailCaptured, BasketID: id, At: at, Email: "ann@example.com"},
		)
		if err != nil {
			f.Fatal(err)
		}
	}
	return eng
}

// FuzzCursor: any string as a cursor gives a page or an ErrInvalidCursor,
// never a panic or another error.
func FuzzCursor(f *testing.F) {
	eng := fuzzEngine(f)
	ctx := context.Background()
	for _, q := range []basket.Query{{Limit: 1}, {Limit: 1, Email: "ann@example.com"}, {Limit: 2, Tag: "direct", CreatedAfter: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}} {
		p, err := eng.Abandoned(ctx, q)
		if err != nil || p.Cursor == "" {
			f.Fatalf("Abandoned(%+v) = %v, %v; want a cursor", q, p.Cursor, err)
		}
		f.Add(p.Cursor)
		f.Add(p.Cursor[:len(p.Cursor)-1])
	}
	f.Fuzz(func(t *testing.T, cursor string) {
		p, err := eng.Abandoned(ctx, basket.Query{Cursor: cursor})
		if err != nil {
			if !errors.Is(err, basket.ErrInvalidCursor) {
				t.Fatalf("Abandoned(cursor %q) = %v; want ErrInvalidCursor", cursor, err)
			}
			return
		}
		if len(p.Items) > basket.DefaultLimit {
			t.Fatalf("Abandoned(cursor %q) gave %d items", cursor, len(p.Items))
		}
	})
}

// FuzzRecoveryToken: any token gives one of the three token errors or, for
// an authentic one, a recovery; never a panic.
func FuzzRecoveryToken(f *testing.F) {
	eng := fuzzEngine(f)
	ctx := context.Background()
	b, ok := btest.Lookup(f, eng, "b-1")
	if !ok || b.RecoveryLink == "" {
		f.Fatal("b-1 has no recovery link")
	}
	tok := b.RecoveryLink[strings.LastIndex(b.RecoveryLink, "=")+1:]
	f.Add("b-1", tok)
	f.Add("b-2", tok)
	f.Add("b-1", tok[:len(tok)-2])
	f.Add("b-1", "")
	f.Fuzz(func(t *testing.T, id, token string) {
		if err := eng.VerifyToken(basket.PurposeUnsubscribe, id, token); err == nil {
			t.Fatalf("VerifyToken(unsubscribe, %q, %q) accepted a token of another purpose or none", id, token)
		}
		_, err := eng.Recover(ctx, id, token)
		switch {
		case err == nil:
			if id != "b-1" || token != tok {
				t.Fatalf("Recover(%q, %q) accepted a forged token", id, token)
			}
		case errors.Is(err, basket.ErrTokenMissing), errors.Is(err, basket.ErrTokenInvalid), errors.Is(err, basket.ErrTokenExpired):
		default:
			t.Fatalf("Recover(%q, %q) = %v", id, token, err)
		}
	})
}

// FuzzEmail: the validator never panics; what it accepts is bounded, has an
// @, no control or space characters, and normalises idempotently.
func FuzzEmail(f *testing.F) {
	for _, s := range []string{"ann@example.com", " Ann@Example.COM ", "a@b", "<ann@example.com>", "Ann <ann@example.com>", "a@@b.c", "\"quoted local\"@example.com", "ann@exa\x00mple.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := basket.ValidateEmail(s)
		n := basket.NormalizeEmail(s)
		if basket.NormalizeEmail(n) != n {
			t.Fatalf("NormalizeEmail not idempotent on %q", s)
		}
		if err != nil {
			return
		}
		trimmed := strings.TrimSpace(s)
		if len(trimmed) > 254 || !strings.Contains(trimmed, "@") {
			t.Fatalf("ValidateEmail(%q) accepted a bad address", s)
		}
		for _, r := range trimmed {
			if unicode.IsControl(r) || unicode.IsSpace(r) {
				t.Fatalf("ValidateEmail(%q) accepted a control or space character", s)
			}
		}
	})
}
