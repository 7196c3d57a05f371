//go:build (postgres || redis) && linux

package benchmarks

import (
	"os"
	"syscall"
)

// setDeathSignal has the kernel send sig to the server if this process
// dies without stopping it (a test binary killed at its timeout).
func setDeathSignal(attr *syscall.SysProcAttr, sig os.Signal) {
	if s, ok := sig.(syscall.Signal); ok {
		attr.Pdeathsig = s
	}
}
