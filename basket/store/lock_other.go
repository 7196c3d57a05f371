//go:build !unix

package store

import "errors"

// Lock is not supported on this system.
func (OS) Lock(name string) (func() error, error) {
	return nil, errors.New("store: locking a data directory is supported on unix systems only")
}
