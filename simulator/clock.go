package simulator

import (
	"sync/atomic"
	"time"
)

// Clock is the simulator's virtual clock, with millisecond resolution. The
// simulator moves it forward as it plays the journeys; give its Now method
// to the engine (basket.Options.Now) so that the engine lives in simulated
// time. It is safe for concurrent use.
type Clock struct {
	ms atomic.Int64 // unix milliseconds
}

// NewClock returns a clock that reads t, truncated to the millisecond.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.Set(t)
	return c
}

// Now returns the clock's time in UTC.
func (c *Clock) Now() time.Time { return time.UnixMilli(c.ms.Load()).UTC() }

// Set moves the clock to t, truncated to the millisecond. The simulator
// only moves it forward; Set itself accepts any time.
func (c *Clock) Set(t time.Time) { c.ms.Store(t.UnixMilli()) }

// Advance moves the clock forward by d (backward if d is negative) and
// returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	return time.UnixMilli(c.ms.Add(d.Milliseconds())).UTC()
}

func (c *Clock) setMS(ms int64) { c.ms.Store(ms) }
