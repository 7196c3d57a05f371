package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sync is the fsync policy of the log.
type Sync uint8

// The fsync policies.
const (
	// SyncAlways: a record is acknowledged only once it is on disk.
	// Concurrent writers share one fsync.
	SyncAlways Sync = iota
	// SyncInterval: the log is fsynced every Options.SyncInterval.
	SyncInterval
	// SyncNever: the log is left to the operating system.
	SyncNever
)

var syncNames = [...]string{"always", "interval", "never"}

func (s Sync) String() string {
	if int(s) < len(syncNames) {
		return syncNames[s]
	}
	return "Sync(" + strconv.Itoa(int(s)) + ")"
}

// ParseSync parses "always", "interval" or "never".
func ParseSync(s string) (Sync, error) {
	if i := slices.Index(syncNames[:], s); i >= 0 {
		return Sync(i), nil
	}
	return 0, fmt.Errorf("fsync policy %q: want always, interval or never", s)
}

// DefaultSyncInterval is the fsync interval of SyncInterval by default.
const DefaultSyncInterval = 200 * time.Millisecond

// MaxRecord is the largest record the log takes.
const MaxRecord = 256 << 20

// Options configure a Store. A nil *Options means the defaults.
type Options struct {
	// Sync is the fsync policy. Default SyncAlways.
	Sync Sync
	// SyncInterval is the period of SyncInterval. Default
	// DefaultSyncInterval.
	SyncInterval time.Duration
	// FS is the file system. Default OS{}.
	FS FS
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	walMagic    = "abndWAL\x00"
	snapMagic   = "abndSNP\x00"
	walVersion  = 1
	snapVersion = 1
	walHeader   = len(walMagic) + 4 + 8 // magic, version, seq
	snapHeader  = len(snapMagic) + 4    // magic, version
	snapTrailer = 8 + 4                 // payload length, CRC32C
	frameHeader = 8                     // length, CRC32C
)

// Report says what opening a directory found.
type Report struct {
	Snapshot     string // the snapshot loaded; "" if none
	Segments     int    // log segments replayed
	Records      int    // records replayed
	TornTail     bool   // a torn tail was cut off
	TornFile     string // the segment it was cut from
	TornAt       int64  // the offset it was cut at
	TornBytes    int64  // bytes cut off
	StaleRemoved int    // leftover files of an interrupted snapshot removed
}

// Store is an open data directory. Append, Wait and the snapshot methods are
// safe for concurrent use.
type Store struct {
	dir    string
	fs     FS
	opts   Options
	unlock func() error

	snapSeq  uint64 // the newest snapshot covers segments before it
	snapFile string
	segs     []uint64 // segment seqs on disk at open, ascending
	staleTmp int      // interrupted snapshots removed at open
	replayed bool

	// Lock order: syncMu, then mu. A segment file is closed only by the
	// holder of syncMu (syncTo, closeRetired, Close), so no fsync of it can
	// be running: Rotate hands the segment it replaces over in retired
	// instead of closing it.
	syncMu sync.Mutex // serialises fsyncs and closes of segments; guards synced
	synced uint64

	mu        sync.Mutex // guards the fields below
	seg       File
	segSeq    uint64
	segSize   int64
	written   uint64 // bytes appended since open, across segments
	sinceSnap int64  // bytes appended to segments since the snapshot
	retired   []File // segments Rotate replaced; closed by the holder of syncMu
	failed    error  // the first failure; also in failure, for Err
	closed    bool
	buf       []byte

	failure atomic.Pointer[error]

	stop chan struct{}
	done chan struct{}
}

func segName(seq uint64) string  { return fmt.Sprintf("wal-%016x.log", seq) }
func snapName(seq uint64) string { return fmt.Sprintf("snapshot-%016x.snap", seq) }

func parseSeq(name, prefix, suffix string) (uint64, bool) {
	if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		return 0, false
	}
	hex := name[len(prefix) : len(name)-len(suffix)]
	if len(hex) != 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(hex, 16, 64)
	return n, err == nil
}

// Open locks and reads the directory, creating it if needed. The caller
// then calls LoadSnapshot and Replay, in that order, before appending.
func Open(dir string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.FS == nil {
		o.FS = OS{}
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.Sync > SyncNever {
		return nil, fmt.Errorf("store: unknown fsync policy %v", o.Sync)
	}
	if err := o.FS.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	unlock, err := o.FS.Lock(filepath.Join(dir, "LOCK"))
	if err != nil {
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("store: locking %s: %w", dir, err)
	}
	s := &Store{dir: dir, fs: o.FS, opts: o, unlock: unlock}
	if err := s.scan(); err != nil {
		unlock()
		return nil, err
	}
	return s, nil
}

// scan finds the newest snapshot and the segments.
func (s *Store) scan() error {
	ents, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	var snaps []uint64
	for _, e := range ents {
		if seq, ok := parseSeq(e.Name(), "wal-", ".log"); ok {
			s.segs = append(s.segs, seq)
		} else if seq, ok := parseSeq(e.Name(), "snapshot-", ".snap"); ok {
			snaps = append(snaps, seq)
		} else if _, ok := parseSeq(e.Name(), "snapshot-", ".snap.tmp"); ok {
			// A snapshot interrupted by a crash: the log still has it all.
			if err := s.fs.Remove(s.path(e.Name())); err != nil {
				return fmt.Errorf("store: %w", err)
			}
			s.staleTmp++
		}
	}
	slices.Sort(s.segs)
	slices.Sort(snaps)
	if len(snaps) > 0 {
		s.snapSeq = snaps[len(snaps)-1]
		s.snapFile = snapName(s.snapSeq)
	}
	return nil
}

func (s *Store) path(name string) string { return filepath.Join(s.dir, name) }

// LoadSnapshot verifies the newest snapshot and passes its payload to load.
// It reports false, and does not call load, if there is no snapshot.
func (s *Store) LoadSnapshot(load func(r io.Reader) error) (bool, error) {
	if s.snapFile == "" {
		return false, nil
	}
	if err := ReadSnapshotFile(s.fs, s.path(s.snapFile), load); err != nil {
		return false, err
	}
	return true, nil
}

// ReadSnapshotFile verifies a snapshot file (its header, length and CRC)
// and passes its payload to load. The CRC is computed over the bytes as
// load reads them, so that the payload is read once: load may see a
// corrupt payload, and its caller must keep nothing of what it built when
// ReadSnapshotFile fails. A payload whose CRC does not match is a
// *CorruptError, whatever load returned.
func ReadSnapshotFile(fsys FS, name string, load func(r io.Reader) error) error {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	bad := func(off int64, reason string) error {
		return &CorruptError{File: filepath.Base(name), Offset: off, Reason: reason}
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if end < int64(snapHeader+snapTrailer) {
		return bad(0, "shorter than a snapshot's header and trailer")
	}
	var tr [snapTrailer]byte
	if _, err := f.Seek(end-snapTrailer, io.SeekStart); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if _, err := io.ReadFull(f, tr[:]); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	var head [snapHeader]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if string(head[:len(snapMagic)]) != snapMagic {
		return bad(0, "not a snapshot file")
	}
	if v := binary.BigEndian.Uint32(head[len(snapMagic):]); v != snapVersion {
		return fmt.Errorf("%w: %s has snapshot format version %d; this build reads version %d",
			ErrVersion, filepath.Base(name), v, snapVersion)
	}
	size := end - int64(snapHeader+snapTrailer)
	if int64(binary.BigEndian.Uint64(tr[:8])) != size {
		return bad(end-snapTrailer, "length in the trailer does not match the file")
	}
	h := crc32.New(castagnoli)
	h.Write(head[:])
	payload := io.TeeReader(io.LimitReader(f, size), h)
	loadErr := load(SizedReader{payload, size})
	// What load left unread is read for the CRC.
	if _, err := io.Copy(io.Discard, payload); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if binary.BigEndian.Uint32(tr[8:]) != h.Sum32() {
		return bad(end-snapTrailer, "checksum mismatch")
	}
	if loadErr != nil {
		return fmt.Errorf("store: loading %s: %w", filepath.Base(name), loadErr)
	}
	return nil
}

// SizedReader is a reader of a payload whose length is known, such as the
// one ReadSnapshotFile passes: a loader can size its tables from it
// before it has read the payload.
type SizedReader struct {
	io.Reader
	N int64 // the payload's length in bytes
}

// Size returns the payload's length in bytes.
func (r SizedReader) Size() int64 { return r.N }

// Replay passes every record logged after the snapshot to apply, in order,
// cuts off a torn tail, and readies the log for appending. An error from
// apply stops it.
func (s *Store) Replay(apply func(rec []byte) error) (Report, error) {
	rep := Report{Snapshot: s.snapFile, StaleRemoved: s.staleTmp}
	if s.replayed {
		return rep, errors.New("store: Replay called twice")
	}
	s.replayed = true
	var live []uint64
	for _, seq := range s.segs {
		if seq < s.snapSeq {
			// Covered by the snapshot: left over from an interrupted clean-up.
			if err := s.fs.Remove(s.path(segName(seq))); err != nil {
				return rep, fmt.Errorf("store: %w", err)
			}
			rep.StaleRemoved++
			continue
		}
		live = append(live, seq)
	}
	if len(live) > 0 && live[0] != s.snapSeq {
		if s.snapFile == "" {
			return rep, fmt.Errorf("%w: the first segment is %s", ErrMissingSnapshot, segName(live[0]))
		}
		return rep, &CorruptError{File: segName(s.snapSeq), Reason: "segment missing after the snapshot"}
	}
	for i, seq := range live {
		if i > 0 && seq != live[i-1]+1 {
			return rep, &CorruptError{File: segName(live[i-1] + 1), Reason: "segment missing"}
		}
		last := i == len(live)-1
		size, err := s.replaySegment(seq, last, apply, &rep)
		if err != nil {
			return rep, err
		}
		rep.Segments++
		if last {
			f, err := s.fs.OpenFile(s.path(segName(seq)), os.O_WRONLY, 0)
			if err != nil {
				return rep, fmt.Errorf("store: %w", err)
			}
			if _, err := f.Seek(size, io.SeekStart); err != nil {
				f.Close()
				return rep, fmt.Errorf("store: %w", err)
			}
			s.seg, s.segSeq, s.segSize = f, seq, size
		}
		s.sinceSnap += size
	}
	if s.seg == nil {
		if err := s.newSegment(s.snapSeq); err != nil {
			return rep, err
		}
	}
	if s.opts.Sync == SyncInterval {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.syncLoop()
	}
	return rep, nil
}

// replaySegment reads one segment and returns the size of its valid part.
func (s *Store) replaySegment(seq uint64, last bool, apply func([]byte) error, rep *Report) (int64, error) {
	name := segName(seq)
	f, err := s.fs.OpenFile(s.path(name), os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return 0, fmt.Errorf("store: reading %s: %w", name, err)
	}
	torn := func(at int64) (int64, error) {
		if err := f.Truncate(at); err != nil {
			return 0, fmt.Errorf("store: cutting the torn tail of %s: %w", name, err)
		}
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("store: %w", err)
		}
		rep.TornTail, rep.TornFile, rep.TornAt, rep.TornBytes = true, name, at, int64(len(data))-at
		return at, nil
	}
	if len(data) < walHeader {
		if last && !hasFrame(data, 0) {
			// A crash while the segment was being started.
			if _, err := torn(0); err != nil {
				return 0, err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return 0, err
			}
			if _, err := f.Write(segHeader(seq)); err != nil {
				return 0, fmt.Errorf("store: %w", err)
			}
			return int64(walHeader), f.Sync()
		}
		return 0, &CorruptError{File: name, Reason: "shorter than a segment header"}
	}
	if string(data[:len(walMagic)]) != walMagic {
		return 0, &CorruptError{File: name, Reason: "not a log segment"}
	}
	if v := binary.BigEndian.Uint32(data[len(walMagic):]); v != walVersion {
		return 0, fmt.Errorf("%w: %s has log format version %d; this build reads version %d", ErrVersion, name, v, walVersion)
	}
	if got := binary.BigEndian.Uint64(data[len(walMagic)+4:]); got != seq {
		return 0, &CorruptError{File: name, Reason: fmt.Sprintf("segment header says sequence %d", got)}
	}
	off := walHeader
	for off < len(data) {
		n, ok := frameAt(data, off)
		if !ok {
			if last && !hasFrame(data, off+1) {
				return torn(int64(off))
			}
			return 0, &CorruptError{File: name, Offset: int64(off), Reason: "record checksum or length mismatch before the end of the log"}
		}
		if err := apply(data[off+frameHeader : off+frameHeader+n]); err != nil {
			return 0, fmt.Errorf("store: replaying %s at offset %d: %w", name, off, err)
		}
		rep.Records++
		off += frameHeader + n
	}
	return int64(off), nil
}

// frameAt checks the frame at off and returns its payload length.
func frameAt(data []byte, off int) (int, bool) {
	if len(data)-off < frameHeader {
		return 0, false
	}
	n := int(binary.BigEndian.Uint32(data[off:]))
	if n == 0 || n > MaxRecord || n > len(data)-off-frameHeader {
		return 0, false
	}
	sum := binary.BigEndian.Uint32(data[off+4:])
	return n, crc32.Checksum(data[off+frameHeader:off+frameHeader+n], castagnoli) == sum
}

// hasFrame reports whether a valid frame starts anywhere at or after from.
func hasFrame(data []byte, from int) bool {
	for off := from; off+frameHeader < len(data); off++ {
		if _, ok := frameAt(data, off); ok {
			return true
		}
	}
	return false
}

func segHeader(seq uint64) []byte {
	b := make([]byte, walHeader)
	copy(b, walMagic)
	binary.BigEndian.PutUint32(b[len(walMagic):], walVersion)
	binary.BigEndian.PutUint64(b[len(walMagic)+4:], seq)
	return b
}

// newSegment creates segment seq, durably, and makes it current. s.mu must
// be held (or the store not yet shared).
func (s *Store) newSegment(seq uint64) error {
	name := s.path(segName(seq))
	f, err := s.fs.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if _, err := f.Write(segHeader(seq)); err != nil {
		f.Close()
		s.fs.Remove(name) //nolint:errcheck // the write error is the one to report
		return fmt.Errorf("store: starting %s: %w", segName(seq), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		s.fs.Remove(name) //nolint:errcheck // the fsync error is the one to report
		return fmt.Errorf("store: %w: fsync of a new log segment: %v", ErrFailed, err)
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		f.Close()
		s.fs.Remove(name) //nolint:errcheck // the fsync error is the one to report
		return fmt.Errorf("store: %w: fsync of the data directory: %v", ErrFailed, err)
	}
	s.seg, s.segSeq, s.segSize = f, seq, int64(walHeader)
	return nil
}

// Append writes a record to the log (not yet fsynced) and returns a ticket
// for Wait. A failed write leaves the log as it was.
func (s *Store) Append(rec []byte) (uint64, error) {
	if len(rec) == 0 || len(rec) > MaxRecord {
		return 0, fmt.Errorf("store: record of %d bytes: want 1 to %d", len(rec), MaxRecord)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return 0, ErrClosed
	case s.failed != nil:
		return 0, s.failed
	case s.seg == nil:
		return 0, errors.New("store: Append before Replay")
	}
	b := s.buf[:0]
	b = binary.BigEndian.AppendUint32(b, uint32(len(rec)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(rec, castagnoli))
	b = append(b, rec...)
	s.buf = b
	if cap(s.buf) > 1<<20 {
		s.buf = nil
	}
	n, err := s.seg.Write(b)
	if err != nil {
		if n > 0 {
			// Take the partial frame back, so the log stays well formed.
			if terr := s.seg.Truncate(s.segSize); terr != nil {
				return 0, s.setFailed(fmt.Errorf("%w: %v; then cutting it back: %v", ErrFailed, err, terr))
			}
			if _, serr := s.seg.Seek(s.segSize, io.SeekStart); serr != nil {
				return 0, s.setFailed(fmt.Errorf("%w: %v", ErrFailed, serr))
			}
		}
		return 0, fmt.Errorf("store: writing the log: %w", err)
	}
	s.segSize += int64(n)
	s.sinceSnap += int64(n)
	s.written += uint64(n)
	return s.written, nil
}

// Mark returns a ticket for everything appended so far, so that Wait on it
// returns once all of it is on disk.
func (s *Store) Mark() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written
}

// Wait returns once the record with the ticket is on disk under SyncAlways;
// under the other policies it returns at once. Concurrent waiters share one
// fsync.
func (s *Store) Wait(ticket uint64) error {
	if s.opts.Sync != SyncAlways {
		return nil
	}
	return s.syncTo(ticket)
}

func (s *Store) syncTo(ticket uint64) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.synced >= ticket {
		return nil
	}
	s.mu.Lock()
	if s.failed != nil {
		s.mu.Unlock()
		return s.failed
	}
	target, seg, retired := s.written, s.seg, s.retired
	s.retired = nil
	s.mu.Unlock()
	// Segments Rotate replaced were fsynced by it; they are closed here,
	// where no fsync of them can be running.
	var err error
	for _, f := range retired {
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		return s.fail("closing a replaced log segment", err)
	}
	if seg == nil {
		return ErrClosed
	}
	if err := seg.Sync(); err != nil {
		return s.fail("fsync of the log", err)
	}
	s.synced = target
	return nil
}

// fail records the store's first failure and returns it.
func (s *Store) fail(what string, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setFailed(fmt.Errorf("%w: %s: %v", ErrFailed, what, err))
}

// setFailed records err as the store's failure unless it has one already,
// and returns the failure. s.mu must be held.
func (s *Store) setFailed(err error) error {
	if s.failed == nil {
		s.failed = err
		s.failure.Store(&err)
	}
	return s.failed
}

// Err returns the failure that makes the store refuse writes (it wraps
// ErrFailed), or nil. It takes no lock, so a health probe may call it as
// often as it likes.
func (s *Store) Err() error {
	if p := s.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// closeRetired closes the segments Rotate replaced.
func (s *Store) closeRetired() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	retired := s.retired
	s.retired = nil
	s.mu.Unlock()
	var err error
	for _, f := range retired {
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		return fmt.Errorf("store: closing a replaced log segment: %w", err)
	}
	return nil
}

func (s *Store) syncLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			w := s.written
			s.mu.Unlock()
			s.syncTo(w) //nolint:errcheck // recorded in s.failed, reported by the next Append
		}
	}
}

// SinceSnapshot returns the bytes logged since the newest snapshot.
func (s *Store) SinceSnapshot() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sinceSnap
}

// Rotate starts a new segment and returns its sequence: a snapshot of the
// state as of now covers every segment before it. The caller must hold
// whatever keeps Append from running, so the switch is exact. The old
// segment is fsynced here and closed later by the holder of syncMu, since a
// Wait may be fsyncing it right now.
func (s *Store) Rotate() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if s.failed != nil {
		return 0, s.failed
	}
	if err := s.seg.Sync(); err != nil {
		return 0, s.setFailed(fmt.Errorf("%w: fsync of the log: %v", ErrFailed, err))
	}
	old := s.seg
	next := s.segSeq + 1
	if err := s.newSegment(next); err != nil {
		if errors.Is(err, ErrFailed) {
			return 0, s.setFailed(err)
		}
		return 0, err
	}
	s.retired = append(s.retired, old)
	s.sinceSnap = int64(walHeader)
	return next, nil
}

// WriteSnapshot writes a snapshot covering the segments before seq (as
// returned by Rotate): fn writes the payload. The file is written aside,
// fsynced and renamed into place, and then the segments and snapshots it
// supersedes are removed. On error nothing is lost: the log still holds
// everything.
func (s *Store) WriteSnapshot(seq uint64, fn func(w io.Writer) error) (err error) {
	if err := s.closeRetired(); err != nil {
		return err
	}
	if err := WriteSnapshotFile(s.fs, s.dir, snapName(seq), fn); err != nil {
		return err
	}
	s.mu.Lock()
	s.snapSeq, s.snapFile = seq, snapName(seq)
	s.mu.Unlock()
	return s.removeBefore(seq)
}

// WriteSnapshotFile writes a snapshot file called name in dir, whose
// payload fn writes, with a header, its length and a CRC: aside, fsynced,
// renamed into place, and the directory fsynced. On error no file of that
// name is changed.
func WriteSnapshotFile(fsys FS, dir, name string, fn func(w io.Writer) error) (err error) {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := fsys.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			fsys.Remove(tmp) //nolint:errcheck // the first error is the one to report
		}
	}()
	h := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	head := make([]byte, snapHeader)
	copy(head, snapMagic)
	binary.BigEndian.PutUint32(head[len(snapMagic):], snapVersion)
	bw.Write(head)
	cw := &countWriter{w: bw}
	if err := fn(cw); err != nil {
		return fmt.Errorf("store: writing a snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("store: writing a snapshot: %w", err)
	}
	var tr [snapTrailer]byte
	binary.BigEndian.PutUint64(tr[:8], uint64(cw.n))
	binary.BigEndian.PutUint32(tr[8:], h.Sum32())
	if _, err := f.Write(tr[:]); err != nil {
		return fmt.Errorf("store: writing a snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := fsys.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// removeBefore removes segments and snapshots older than seq.
func (s *Store) removeBefore(seq uint64) error {
	ents, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, e := range ents {
		n := e.Name()
		if q, ok := parseSeq(n, "wal-", ".log"); ok && q < seq {
			err = errors.Join(err, s.fs.Remove(s.path(n)))
		} else if q, ok := parseSeq(n, "snapshot-", ".snap"); ok && q < seq {
			err = errors.Join(err, s.fs.Remove(s.path(n)))
		}
	}
	if err != nil {
		return fmt.Errorf("store: removing superseded files: %w", err)
	}
	return s.fs.SyncDir(s.dir)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Close fsyncs the log and releases the directory. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	seg, retired, failed := s.seg, s.retired, s.failed
	s.seg, s.retired = nil, nil
	s.mu.Unlock()
	var err error
	for _, f := range retired {
		err = errors.Join(err, f.Close())
	}
	if seg != nil {
		if failed == nil {
			err = errors.Join(err, seg.Sync())
		}
		err = errors.Join(err, seg.Close())
	}
	return errors.Join(err, s.unlock())
}
