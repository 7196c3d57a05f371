//go:build unix

package store

import (
	"os"
	"path/filepath"
	"syscall"
)

// Lock takes flock(2) LOCK_EX|LOCK_NB on the file.
func (OS) Lock(name string) (func() error, error) {
	f, err := os.OpenFile(filepath.Clean(name), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, ErrLocked
		}
		return nil, err
	}
	return func() error {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it too
		return f.Close()
	}, nil
}
