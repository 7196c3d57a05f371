package basket_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

func suppressed(t *testing.T, eng *basket.Engine, email string) bool {
	t.Helper()
	s, _, err := eng.Suppression(context.Background(), email)
	if err != nil {
		t.Fatalf("Suppression(%s): %v", email, err)
	}
	return s
}

// TestUnsubscribeToken: a token hides its address, is the same for the same
// address, unsubscribes that address and no other, and a token changed in
// any character, of another secret, or of another kind (a recovery token)
// is refused and changes nothing.
func TestUnsubscribeToken(t *testing.T) {
	ctx := context.Background()
	secret := []byte("0123456789abcdef0123456789abcdef")
	eng := btest.MustNewEngine(t, &basket.Options{RecoverySecrets: [][]byte{secret}})
	tok := eng.UnsubscribeToken(" Ann.Lee@Example.COM ")
	if again := eng.UnsubscribeToken("ann.lee@example.com"); again != tok {
		t.Fatalf("the token differs for the same address: %s, %s", tok, again)
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatalf("the token is not base64url: %v", err)
	}
	for _, s := range []string{"ann", "lee", "example"} {
		if strings.Contains(strings.ToLower(string(raw)), s) || strings.Contains(strings.ToLower(tok), s) {
			t.Fatalf("the token shows %q of the address", s)
		}
	}
	if _, token, _ := eng.Suppression(ctx, "ann.lee@example.com"); token != tok {
		t.Fatalf("Suppression gives another token: %s, want %s", token, tok)
	}

	refuse := func(what, bad string) {
		t.Helper()
		err := eng.Unsubscribe(ctx, bad)
		if !errors.Is(err, basket.ErrTokenInvalid) && !errors.Is(err, basket.ErrTokenMissing) {
			t.Fatalf("%s: Unsubscribe = %v; want ErrTokenInvalid", what, err)
		}
		if st := btest.Stats(t, eng); st.Suppressed != 0 {
			t.Fatalf("%s: %d addresses suppressed after a refused token", what, st.Suppressed)
		}
	}
	refuse("empty", "")
	refuse("truncated", tok[:len(tok)-1])
	refuse("extended", tok+"A")
	refuse("not base64", strings.Repeat("!", len(tok)))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range tok {
		for _, c := range []byte{alphabet[(strings.IndexByte(alphabet, tok[i])+1)%64], alphabet[(strings.IndexByte(alphabet, tok[i])+32)%64]} {
			refuse("changed at "+string(rune('0'+i%10)), tok[:i]+string(c)+tok[i+1:])
		}
	}
	other := btest.MustNewEngine(t, &basket.Options{RecoverySecrets: [][]byte{[]byte("fedcba9876543210fedcba9876543210")}})
	refuse("another secret", other.UnsubscribeToken("ann.lee@example.com"))
	refuse("a recovery token", eng.IssueToken(basket.PurposeRecover, "b-1", time.Hour))
	refuse("an old unsubscribe token", eng.IssueToken(basket.PurposeUnsubscribe, "ann.lee@example.com", time.Hour))

	if err := eng.Unsubscribe(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := eng.Unsubscribe(ctx, tok); err != nil {
		t.Fatalf("unsubscribing again: %v", err)
	}
	if !suppressed(t, eng, "ANN.LEE@example.com") || suppressed(t, eng, "bob@example.com") {
		t.Fatal("the wrong addresses are suppressed")
	}
	if st := btest.Stats(t, eng); st.Suppressed != 1 {
		t.Fatalf("Stats.Suppressed = %d, want 1", st.Suppressed)
	}

	// A rotated secret: the old one still opens the tokens it sealed.
	rotated := btest.MustNewEngine(t, &basket.Options{RecoverySecrets: [][]byte{[]byte("fedcba9876543210fedcba9876543210"), secret}})
	if err := rotated.Unsubscribe(ctx, tok); err != nil {
		t.Fatalf("a token of the second secret: %v", err)
	}
	if !suppressed(t, rotated, "ann.lee@example.com") {
		t.Fatal("the rotated engine did not suppress")
	}
	if _, _, err := eng.Suppression(ctx, "not an address"); !errors.Is(err, basket.ErrInvalidEvent) {
		t.Fatalf("Suppression of a bad address = %v; want ErrInvalidEvent", err)
	}
	if err := eng.Suppress(ctx, "bad@"); !errors.Is(err, basket.ErrInvalidEvent) {
		t.Fatalf("Suppress of a bad address = %v; want ErrInvalidEvent", err)
	}
}

// TestSuppressionErased: an erasure takes an address off the list if it
// was put there before the erasure; a re-sent erasure dated before a later
// unsubscription leaves it.
func TestSuppressionErased(t *testing.T) {
	ctx := context.Background()
	clock := btest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now})
	mustApply(t, eng,
		basket.Event{Type: basket.EventCreated, BasketID: "b-1", At: clock.Now()},
		basket.Event{Type: basket.EventEmailCaptured, BasketID: "b-1", At: clock.Now(), Email: "ann@example.com"})
	if err := eng.Suppress(ctx, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := eng.Suppress(ctx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	first := clock.Now()
	clock.Add(time.Minute)
	mustApply(t, eng, basket.Event{Type: basket.EventErased, Email: "Ann@Example.com", At: clock.Now()})
	if suppressed(t, eng, "ann@example.com") || !suppressed(t, eng, "bob@example.com") {
		t.Fatal("after the erasure: ann should be off the list, bob on it")
	}
	clock.Add(time.Minute)
	if err := eng.Unsubscribe(ctx, eng.UnsubscribeToken("ann@example.com")); err != nil {
		t.Fatal(err)
	}
	mustApply(t, eng, basket.Event{Type: basket.EventErased, Email: "ann@example.com", At: first.Add(time.Minute)})
	if !suppressed(t, eng, "ann@example.com") {
		t.Fatal("a re-sent erasure took off an unsubscription made after it")
	}
	// An erasure in a batch that fails changes nothing, the list included.
	clock.Add(time.Minute)
	_, err := eng.Apply(ctx,
		basket.Event{Type: basket.EventErased, Email: "ann@example.com", At: clock.Now()},
		basket.Event{Type: basket.EventCompleted, BasketID: "nobody", At: clock.Now()})
	if err == nil {
		t.Fatal("a batch with an unknown basket was applied")
	}
	if !suppressed(t, eng, "ann@example.com") {
		t.Fatal("a refused batch took an address off the list")
	}
}

// TestSuppressionDurable: the list survives a restart from the log alone,
// from a snapshot, and from a snapshot and the log after it.
func TestSuppressionDurable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := btest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	eng := openDurable(t, dir, clock, nil)
	if err := eng.Unsubscribe(ctx, eng.UnsubscribeToken("ann@example.com")); err != nil {
		t.Fatal(err)
	}
	reopen := func() {
		t.Helper()
		if err := eng.Close(); err != nil {
			t.Fatal(err)
		}
		eng = openDurable(t, dir, clock, nil)
	}
	reopen()
	if !suppressed(t, eng, "ann@example.com") {
		t.Fatal("the log lost the unsubscription")
	}
	if err := eng.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := eng.Suppress(ctx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	reopen()
	for _, a := range []string{"ann@example.com", "bob@example.com"} {
		if !suppressed(t, eng, a) {
			t.Fatalf("%s is off the list after a restart from a snapshot and the log", a)
		}
	}
	if err := eng.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	reopen()
	if st := btest.Stats(t, eng); st.Suppressed != 2 {
		t.Fatalf("after a restart from a snapshot alone: %d suppressed, want 2", st.Suppressed)
	}
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
}
