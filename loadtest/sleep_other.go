//go:build !linux

package loadtest

import "time"

// preciseSleep sleeps for d. Outside Linux it is time.Sleep, which may
// wake late by the resolution of the system's timers.
func preciseSleep(d time.Duration) { time.Sleep(d) }
