package btest

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/basketlab/abandoned/basket/store"
)

// SlowSyncFS is the operating system's file system whose log segments take
// a random time of up to Max to fsync, to widen the windows in which a sync
// races with something else.
type SlowSyncFS struct {
	store.OS
	Max   time.Duration
	syncs atomic.Int64
}

// Syncs returns how many fsyncs of log segments were made.
func (f *SlowSyncFS) Syncs() int64 { return f.syncs.Load() }

// OpenFile opens a file, slowing the fsyncs of log segments.
func (f *SlowSyncFS) OpenFile(name string, flag int, perm os.FileMode) (store.File, error) {
	file, err := f.OS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasPrefix(filepath.Base(name), "wal-") {
		return file, err
	}
	return &slowSyncFile{File: file, fs: f}, nil
}

type slowSyncFile struct {
	store.File
	fs *SlowSyncFS
}

func (f *slowSyncFile) Sync() error {
	f.fs.syncs.Add(1)
	if f.fs.Max > 0 {
		time.Sleep(rand.N(f.fs.Max))
	}
	return f.File.Sync()
}
