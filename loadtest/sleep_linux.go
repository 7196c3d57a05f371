package loadtest

import (
	"syscall"
	"time"
)

// preciseSleep sleeps for d with the kernel's high-resolution timers,
// which wake within tens of microseconds, where Go timers may wake a
// millisecond late when the process is idle. The thread blocks; the Go
// scheduler runs other goroutines meanwhile.
func preciseSleep(d time.Duration) {
	end := time.Now().Add(d)
	for d > 0 {
		ts := syscall.NsecToTimespec(int64(d))
		if err := syscall.Nanosleep(&ts, nil); err != nil && err != syscall.EINTR {
			time.Sleep(d)
			return
		}
		d = time.Until(end)
	}
}
