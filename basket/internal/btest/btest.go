// Package btest holds test helpers for the basket packages.
package btest

import (
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
