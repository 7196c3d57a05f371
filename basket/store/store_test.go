package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func openReplay(t *testing.T, dir string, o *Options) (*Store, [][]byte, Report) {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var recs [][]byte
	rep, err := s.Replay(func(b []byte) error {
		recs = append(recs, bytes.Clone(b))
		return nil
	})
	if err != nil {
		s.Close()
		t.Fatalf("Replay: %v", err)
	}
	return s, recs, rep
}

func TestAppendReplay(t *testing.T) {
	dir := t.TempDir()
	s, recs, _ := openReplay(t, dir, nil)
	if len(recs) != 0 {
		t.Fatalf("a new directory replayed %d records", len(recs))
	}
	var want [][]byte
	for i := range 100 {
		rec := []byte(fmt.Sprintf("record %d %s", i, bytes.Repeat([]byte{'x'}, i)))
		tk, err := s.Append(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Wait(tk); err != nil {
			t.Fatal(err)
		}
		want = append(want, rec)
	}
	if _, err := s.Append(nil); err == nil {
		t.Fatal("Append(empty) succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v; want ErrClosed", err)
	}
	s, recs, rep := openReplay(t, dir, nil)
	defer s.Close()
	if rep.Records != 100 || len(recs) != 100 {
		t.Fatalf("replayed %d records (%+v); want 100", len(recs), rep)
	}
	for i := range want {
		if !bytes.Equal(recs[i], want[i]) {
			t.Fatalf("record %d = %q; want %q", i, recs[i], want[i])
		}
	}
}

func TestSnapshotRotation(t *testing.T) {
	dir := t.TempDir()
	s, _, _ := openReplay(t, dir, &Options{Sync: SyncNever})
	s.Append([]byte("before"))
	seq, err := s.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	s.Append([]byte("after"))
	if err := s.WriteSnapshot(seq, func(w io.Writer) error { _, err := w.Write([]byte("state")); return err }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "wal-*.log"))
	if len(segs) != 1 {
		t.Fatalf("segments after a snapshot: %v; want one", segs)
	}
	s2, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var state []byte
	ok, err := s2.LoadSnapshot(func(r io.Reader) error {
		state, err = io.ReadAll(r)
		return err
	})
	if !ok || err != nil || string(state) != "state" {
		t.Fatalf("LoadSnapshot = %v, %v, %q; want the state", ok, err, state)
	}
	var recs []string
	if _, err := s2.Replay(func(b []byte) error { recs = append(recs, string(b)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0] != "after" {
		t.Fatalf("replayed %q; want only what came after the snapshot", recs)
	}
}

func TestGroupCommit(t *testing.T) {
	s, _, _ := openReplay(t, t.TempDir(), &Options{Sync: SyncAlways})
	defer s.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			for i := range 20 {
				tk, err := s.Append([]byte(fmt.Sprint(w, i)))
				if err == nil {
					err = s.Wait(tk)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s.Mark() != s.synced {
		t.Fatalf("after every Wait returned, synced %d of %d bytes", s.synced, s.Mark())
	}
}

func TestParseSync(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Sync
		ok   bool
	}{{"always", SyncAlways, true}, {"interval", SyncInterval, true}, {"never", SyncNever, true}, {"sometimes", 0, false}, {"", 0, false}} {
		got, err := ParseSync(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSync(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && got.String() != tt.in {
			t.Errorf("Sync(%d).String() = %q; want %q", got, got.String(), tt.in)
		}
	}
}

// FuzzReplay: whatever bytes follow a valid segment header, Replay either
// replays whole records or fails with an error; it never panics, and what
// it replays is a prefix of well-framed records.
func FuzzReplay(f *testing.F) {
	frame := func(p string) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(p)))
		b = binary.BigEndian.AppendUint32(b, crc32.Checksum([]byte(p), castagnoli))
		return append(b, p...)
	}
	f.Add([]byte{})
	f.Add(frame("abc"))
	f.Add(append(frame("abc"), frame("torn")[:6]...))
	f.Add(append(append(frame("abc"), 0xff), frame("def")...))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{255, 255, 255, 255, 1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		data := append(segHeader(0), tail...)
		if err := os.WriteFile(filepath.Join(dir, segName(0)), data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, &Options{Sync: SyncNever})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		n := 0
		rep, err := s.Replay(func(b []byte) error {
			if len(b) == 0 {
				t.Fatal("replayed an empty record")
			}
			n++
			return nil
		})
		if err == nil && rep.Records != n {
			t.Fatalf("Report.Records = %d; replayed %d", rep.Records, n)
		}
	})
}

// TestReadSnapshotFileChecksLoadedBytes: the CRC is checked over the bytes
// the loader reads, and what it left unread. A corrupt payload is a
// *CorruptError whether the loader took it, refused it, or stopped early;
// an intact one passes the loader's own error through.
func TestReadSnapshotFileChecksLoadedBytes(t *testing.T) {
	dir := t.TempDir()
	payload := bytes.Repeat([]byte("basket state "), 10_000)
	if err := WriteSnapshotFile(OS{}, dir, "s.snap", func(w io.Writer) error { _, err := w.Write(payload); return err }); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "s.snap")
	intact, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	refuse := errors.New("the loader refuses it")
	loaders := map[string]func(r io.Reader) error{
		"reads all": func(r io.Reader) error {
			got, err := io.ReadAll(r)
			if err == nil && len(got) != len(payload) {
				err = fmt.Errorf("read %d bytes of %d", len(got), len(payload))
			}
			return err
		},
		"reads a little": func(r io.Reader) error {
			_, err := io.ReadFull(r, make([]byte, 100))
			return err
		},
		"refuses": func(r io.Reader) error {
			io.ReadFull(r, make([]byte, 100))
			return refuse
		},
	}
	for what, load := range loaders {
		if err := os.WriteFile(name, intact, 0o600); err != nil {
			t.Fatal(err)
		}
		err := ReadSnapshotFile(OS{}, name, load)
		if what == "refuses" {
			if !errors.Is(err, refuse) {
				t.Errorf("%s, intact: %v; want the loader's error", what, err)
			}
		} else if err != nil {
			t.Errorf("%s, intact: %v", what, err)
		}
		// A flipped byte at the start (read by every loader) and near
		// the end (read by none but the first).
		for _, off := range []int{snapHeader + 10, len(intact) - snapTrailer - 10} {
			b := bytes.Clone(intact)
			b[off] ^= 0x20
			if err := os.WriteFile(name, b, 0o600); err != nil {
				t.Fatal(err)
			}
			var ce *CorruptError
			if err := ReadSnapshotFile(OS{}, name, load); !errors.As(err, &ce) || ce.Reason != "checksum mismatch" {
				t.Errorf("%s, byte %d flipped: %v; want a checksum mismatch", what, off, err)
			}
		}
	}
	// Whatever the loader, a file cut short is refused before it is called.
	if err := os.WriteFile(name, intact[:len(intact)-1], 0o600); err != nil {
		t.Fatal(err)
	}
	called := false
	var ce *CorruptError
	if err := ReadSnapshotFile(OS{}, name, func(io.Reader) error { called = true; return nil }); !errors.As(err, &ce) || called {
		t.Errorf("a file cut short: %v (loader called %v); want a *CorruptError before loading", err, called)
	}
}
