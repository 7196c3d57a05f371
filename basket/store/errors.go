package store

import (
	"errors"
	"fmt"
)

// Errors of opening a directory.
var (
	// ErrLocked means another process holds the directory.
	ErrLocked = errors.New("store: data directory is in use by another process")

	// ErrVersion means a snapshot or log file has a format version this
	// build does not read.
	ErrVersion = errors.New("store: unsupported format version")

	// ErrMissingSnapshot means the log does not start at the beginning and
	// no snapshot covers what came before it.
	ErrMissingSnapshot = errors.New("store: log segments start after a snapshot that is missing")
)

// ErrCorrupt is wrapped by a *CorruptError.
var ErrCorrupt = errors.New("store: corrupt data")

// Errors of writing.
var (
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("store: closed")

	// ErrFailed wraps the first failure of a sync: after it, the store
	// refuses writes, since what is on disk is no longer known.
	ErrFailed = errors.New("store: failed")
)

// CorruptError reports corruption that is not a torn tail.
type CorruptError struct {
	File   string
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("store: %s at offset %d: %s", e.File, e.Offset, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }
