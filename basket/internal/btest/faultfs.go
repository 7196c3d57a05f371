package btest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/basketlab/abandoned/basket/store"
)

// ErrInjected is the error of an fsync that FaultFS fails.
var ErrInjected = errors.New("injected fsync failure")

// FaultFS is the operating system's file system with faults for the log's
// segments: an fsync can be held until released, or fail (FailSync), and
// Crash drops what was written to a segment since its last successful fsync,
// as a power cut would. Its lock is held in the process only, so that a test
// can "crash" an engine by abandoning it and open the directory again.
type FaultFS struct {
	store.OS

	// FailSync, if set, is asked before each fsync of a segment; true makes
	// the fsync fail with ErrInjected, syncing nothing.
	FailSync func() bool

	mu      sync.Mutex       // guards the fields below
	durable map[string]int64 // segment -> its size at its last fsync
	gate    chan struct{}    // if set, fsyncs wait for it to be closed
	entered chan struct{}    // signalled when an fsync waits at the gate
}

// Hold makes fsyncs of segments wait until Release; the returned channel
// receives once for each fsync that waits.
func (f *FaultFS) Hold() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = make(chan struct{})
	f.entered = make(chan struct{}, 64)
	return f.entered
}

// Release lets held fsyncs go on.
func (f *FaultFS) Release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gate != nil {
		close(f.gate)
		f.gate = nil
	}
}

// Crash cuts every segment of dir back to what its last successful fsync
// made durable. The engine that wrote them must not be used again.
func (f *FaultFS) Crash(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := filepath.Join(dir, e.Name())
		if !strings.HasPrefix(e.Name(), "wal-") {
			continue
		}
		size, ok := f.durable[name]
		if !ok {
			size = 0 // never synced: nothing of it is known to be on disk
		}
		if err := os.Truncate(name, size); err != nil {
			return err
		}
	}
	f.durable = nil
	return nil
}

// OpenFile opens a file; log segments get the faults.
func (f *FaultFS) OpenFile(name string, flag int, perm os.FileMode) (store.File, error) {
	file, err := f.OS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasPrefix(filepath.Base(name), "wal-") {
		return file, err
	}
	if flag&os.O_CREATE == 0 {
		// An existing segment, as it is on disk now.
		if fi, err := os.Stat(name); err == nil {
			f.mu.Lock()
			if f.durable == nil {
				f.durable = map[string]int64{}
			}
			if _, ok := f.durable[name]; !ok {
				f.durable[name] = fi.Size()
			}
			f.mu.Unlock()
		}
	}
	return &fFile{File: file, fs: f, name: name}, nil
}

// Lock takes an in-process lock that a crash leaves behind harmlessly.
func (f *FaultFS) Lock(string) (func() error, error) { return func() error { return nil }, nil }

type fFile struct {
	store.File
	fs   *FaultFS
	name string
}

func (f *fFile) Sync() error {
	f.fs.mu.Lock()
	gate, entered := f.fs.gate, f.fs.entered
	f.fs.mu.Unlock()
	if gate != nil {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-gate
	}
	if f.fs.FailSync != nil && f.fs.FailSync() {
		return ErrInjected
	}
	if err := f.File.Sync(); err != nil {
		return err
	}
	fi, err := os.Stat(f.name)
	if err != nil {
		return err
	}
	f.fs.mu.Lock()
	if f.fs.durable == nil {
		f.fs.durable = map[string]int64{}
	}
	f.fs.durable[f.name] = fi.Size()
	f.fs.mu.Unlock()
	return nil
}
