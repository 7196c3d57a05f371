//go:build (postgres || redis) && !linux

package benchmarks

import (
	"os"
	"syscall"
)

// setDeathSignal does nothing: only Linux can signal a child when its
// parent dies. A server outlives a test binary killed at its timeout.
func setDeathSignal(attr *syscall.SysProcAttr, sig os.Signal) {}
