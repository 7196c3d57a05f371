// Package btest holds test helpers for the basket packages.
package btest

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// Secret is a fixed recovery secret for tests.
var Secret = []byte("test-secret-0123456789abcdef")

// MustNewEngine returns an in-memory engine with opts (nil for defaults, a
// fixed secret added when none is set). At cleanup it checks the engine's
// invariants and closes it.
func MustNewEngine(t testing.TB, opts *basket.Options) *basket.Engine {
	t.Helper()
	var o basket.Options
	if opts != nil {
		o = *opts
	}
	if len(o.RecoverySecrets) == 0 {
		o.RecoverySecrets = [][]byte{Secret}
	}
	e, err := basket.New(&o)
	if err != nil {
		t.Fatalf("basket.New: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Check(); err != nil {
			t.Errorf("engine invariants: %v", err)
		}
		e.Close()
	})
	return e
}

// Clock is a settable clock for tests, safe for concurrent use.
type Clock struct {
	ns atomic.Int64 // unix nanoseconds
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.Set(t)
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// Set sets the clock.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Lookup returns a basket by id and whether there is one; any error other
// than basket.ErrNotFound fails the test.
func Lookup(t testing.TB, e *basket.Engine, id string) (basket.Basket, bool) {
	t.Helper()
	b, err := e.Get(context.Background(), id)
	if errors.Is(err, basket.ErrNotFound) {
		return basket.Basket{}, false
	}
	if err != nil {
		t.Fatalf("Get(%q): %v", id, err)
	}
	return b, true
}

// Stats returns the engine's counts; an error fails the test.
func Stats(t testing.TB, e *basket.Engine) basket.Stats {
	t.Helper()
	s, err := e.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return s
}

// FlipLast returns the base64url token s with the top bit of its last
// character's value flipped: a bit of the data whatever the length, so the
// token changes (a last character replaced by a fixed one is sometimes the
// same one, or differs only in bits a decoder ignores).
func FlipLast(t testing.TB, s string) string {
	t.Helper()
	const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(abc, s[len(s)-1])
	if i < 0 {
		t.Fatalf("token %q does not end in a base64url character", s)
	}
	return s[:len(s)-1] + string(abc[i^32])
}
