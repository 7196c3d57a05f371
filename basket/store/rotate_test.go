package store

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowSyncFS is the operating system's file system whose log segments take
// a random time of up to max to fsync, which widens every window in which
// a sync and a close of the same segment could overlap.
type slowSyncFS struct {
	OS
	max   time.Duration
	syncs atomic.Int64
}

func (f *slowSyncFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	file, err := f.OS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasPrefix(filepath.Base(name), "wal-") {
		return file, err
	}
	return &slowSyncFile{File: file, fs: f}, nil
}

type slowSyncFile struct {
	File
	fs *slowSyncFS
}

func (f *slowSyncFile) Sync() error {
	f.fs.syncs.Add(1)
	time.Sleep(rand.N(f.fs.max))
	return f.File.Sync()
}

// TestRotateWhileSyncing: writers waiting for their fsync under SyncAlways
// while the log rotates over and over never see a failure, and the
// directory opens again.
func TestRotateWhileSyncing(t *testing.T) {
	rotations := 2000
	if testing.Short() {
		rotations = 300
	}
	dir := t.TempDir()
	fs := &slowSyncFS{max: 2 * time.Millisecond}
	s, _, _ := openReplay(t, dir, &Options{Sync: SyncAlways, FS: fs})
	var (
		acked atomic.Int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
		errs  = make(chan error, 64)
	)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tk, err := s.Append([]byte(fmt.Sprintf("w%d-%d", w, i)))
				if err == nil {
					err = s.Wait(tk)
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d, record %d: %w", w, i, err)
					return
				}
				acked.Add(1)
			}
		})
	}
	var seq uint64
	for i := range rotations {
		var err error
		if seq, err = s.Rotate(); err != nil {
			t.Errorf("Rotate %d: %v", i, err)
			break
		}
		if i%50 == 49 {
			// Now and then a snapshot, which removes the segments before it.
			if err := s.WriteSnapshot(seq, func(io.Writer) error { return nil }); err != nil {
				t.Errorf("WriteSnapshot %d: %v", i, err)
				break
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if acked.Load() == 0 || fs.syncs.Load() == 0 {
		t.Fatalf("acknowledged %d records with %d fsyncs; the test exercised nothing", acked.Load(), fs.syncs.Load())
	}
	s2, _, _ := openReplay(t, dir, nil)
	s2.Close()
	t.Logf("%d rotations, %d records acknowledged, %d fsyncs", rotations, acked.Load(), fs.syncs.Load())
}
