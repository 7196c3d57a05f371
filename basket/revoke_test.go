package basket_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// abandonedLink abandons a basket and returns the token of its recovery
// link.
func abandonedLink(t *testing.T, eng *basket.Engine, id string, at time.Time) string {
	t.Helper()
	ctx := context.Background()
	if _, err := eng.Get(ctx, id); errors.Is(err, basket.ErrNotFound) {
		if _, err := eng.Apply(ctx,
			basket.Event{Type: basket.EventCreated, BasketID: id, At: at},
			basket.Event{Type: basket.EventEmailCaptured, BasketID: id, At: at, Email: "ann@example.com"},
		); err != nil {
			t.Fatal(err)
		}
	}
	return linkToken(t, eng, id)
}

func linkToken(t *testing.T, eng *basket.Engine, id string) string {
	t.Helper()
	b, ok := btest.Lookup(t, eng, id)
	if !ok || b.RecoveryLink == "" {
		t.Fatalf("%s has no recovery link", id)
	}
	u, err := url.Parse(b.RecoveryLink)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("recover")
}

// TestRevokeWhateverTheValidity: Revoke refuses every recovery token issued
// before it, one issued through IssueToken for a year as much as the
// engine's own link; a link issued after it works, until the next
// revocation, even one within the same second.
func TestRevokeWhateverTheValidity(t *testing.T) {
	ctx := context.Background()
	clock := btest.NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now})
	link := abandonedLink(t, eng, "b-1", clock.Now())
	long := eng.IssueToken(basket.PurposeRecover, "b-1", 365*24*time.Hour)
	for _, tok := range []string{link, long} {
		if err := eng.VerifyToken(basket.PurposeRecover, "b-1", tok); err != nil {
			t.Fatalf("before the revocation: %v", err)
		}
	}
	clock.Add(time.Hour)
	if err := eng.Revoke(ctx, "b-1"); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"link": link, "year-long token": long} {
		if _, err := eng.Recover(ctx, "b-1", tok); !errors.Is(err, basket.ErrTokenInvalid) {
			t.Errorf("Recover with the %s issued before the revocation = %v; want ErrTokenInvalid", name, err)
		}
		if err := eng.VerifyToken(basket.PurposeRecover, "b-1", tok); !errors.Is(err, basket.ErrTokenInvalid) {
			t.Errorf("VerifyToken with the %s issued before the revocation = %v; want ErrTokenInvalid", name, err)
		}
	}
	after := linkToken(t, eng, "b-1")
	issued := eng.IssueToken(basket.PurposeRecover, "b-1", time.Hour)
	for _, tok := range []string{after, issued} {
		if rec, err := eng.Recover(ctx, "b-1", tok); err != nil || rec.Outcome != basket.RecoverCheckout {
			t.Errorf("Recover with a token issued after the revocation = %+v, %v; want a checkout", rec, err)
		}
	}
	// Again in the same second: the tokens of the first revocation's
	// second go too.
	if err := eng.Revoke(ctx, "b-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Recover(ctx, "b-1", issued); !errors.Is(err, basket.ErrTokenInvalid) {
		t.Errorf("a token issued between two revocations in one second = %v; want ErrTokenInvalid", err)
	}
	if _, err := eng.Recover(ctx, "b-1", linkToken(t, eng, "b-1")); err != nil {
		t.Errorf("the link after the second revocation: %v", err)
	}
	// Another basket is untouched.
	other := abandonedLink(t, eng, "b-2", clock.Now())
	if _, err := eng.Recover(ctx, "b-2", other); err != nil {
		t.Errorf("another basket's link: %v", err)
	}
}

// TestRevokeAfterShorterValidity: links issued under a long validity, the
// engine reopened with a shorter one, then a revocation: the long links are
// refused, though they expire later than any link the engine now issues;
// the revocation survives another reopening, and so does the link issued
// after it.
func TestRevokeAfterShorterValidity(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := btest.NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	open := func(validity time.Duration) *basket.Engine {
		eng, err := basket.Open(dir, &basket.Options{Now: clock.Now, RecoverySecrets: [][]byte{btest.Secret}, RecoveryValidity: validity})
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}
	eng := open(90 * 24 * time.Hour)
	old := abandonedLink(t, eng, "b-1", clock.Now())
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute)
	eng = open(24 * time.Hour)
	if err := eng.VerifyToken(basket.PurposeRecover, "b-1", old); err != nil {
		t.Fatalf("the 90-day link after reopening: %v", err)
	}
	if err := eng.Revoke(ctx, "b-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Recover(ctx, "b-1", old); !errors.Is(err, basket.ErrTokenInvalid) {
		t.Errorf("the 90-day link after a revocation under a 1-day validity = %v; want ErrTokenInvalid", err)
	}
	fresh := linkToken(t, eng, "b-1")
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	eng = open(24 * time.Hour)
	defer eng.Close()
	if _, err := eng.Recover(ctx, "b-1", old); !errors.Is(err, basket.ErrTokenInvalid) {
		t.Errorf("after reopening, the revoked link = %v; want ErrTokenInvalid", err)
	}
	if rec, err := eng.Recover(ctx, "b-1", fresh); err != nil || rec.Outcome != basket.RecoverCheckout {
		t.Errorf("after reopening, the link issued after the revocation = %+v, %v", rec, err)
	}
}
