package basket

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// TestOldLogRecords: records written before the log's records grew fields
// (a batch or a revocation of three fields) still read, and so do records
// of a later version with more.
func TestOldLogRecords(t *testing.T) {
	type v1 struct {
		_msgpack struct{} `msgpack:",as_array"`
		Now      int64
		Events   []Event
		Revoke   string
	}
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	evs := []Event{{Type: EventCreated, BasketID: "b", At: at}}
	b, err := msgpack.Marshal(&v1{Now: 42, Events: evs, Revoke: "r"})
	if err != nil {
		t.Fatal(err)
	}
	var rec walRecord
	if err := msgpack.Unmarshal(b, &rec); err != nil {
		t.Fatalf("a version 1 record: %v", err)
	}
	if rec.Now != 42 || rec.Revoke != "r" || len(rec.Events) != 1 || rec.Events[0].BasketID != "b" || !rec.Events[0].At.Equal(at) || rec.Seq != 0 {
		t.Fatalf("a version 1 record read as %+v", rec)
	}
	// Today's record round-trips, and one with a field more still reads.
	want := walRecord{Now: 7, Seq: 3, Epoch: 9, ID: "x", Settings: &settings{AbandonAfter: 1, TTL: 2, RecoveryValidity: 3}, Identity: []byte{1}}
	b, err = msgpack.Marshal(&want)
	if err != nil {
		t.Fatal(err)
	}
	var got walRecord
	if err := msgpack.Unmarshal(b, &got); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip = %+v, %v; want %+v", got, err, want)
	}
	type later struct {
		_msgpack   struct{} `msgpack:",as_array"`
		Now        int64
		Events     []Event
		Revoke     string
		Seq        uint64
		Settings   *settings
		Epoch      uint64
		ID         string
		Identity   []byte
		Checkpoint uint64
		Digest     uint64
		Extra      string
	}
	b, _ = msgpack.Marshal(&later{Now: 1, Seq: 2, Extra: "new"})
	got = walRecord{}
	if err := msgpack.Unmarshal(b, &got); err != nil || got.Now != 1 || got.Seq != 2 {
		t.Fatalf("a later record = %+v, %v", got, err)
	}
}

// TestOpenVersion1Directory: a data directory written by the version before
// records carried sequences and settings (testdata/datadir-v1: a format 1
// snapshot and log) opens, replays to the same baskets, feed positions and
// times, and takes writes.
func TestOpenVersion1Directory(t *testing.T) {
	dir := copyDataDir(t, "datadir-v1")
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	now := t0.Add(time.Hour)
	opts := oldDirOptions(now)
	for round := range 2 {
		e, err := Open(dir, opts)
		if err != nil {
			t.Fatalf("round %d: Open: %v", round, err)
		}
		ctx := context.Background()
		if b, err := e.Get(ctx, "old-1"); err != nil || b.State != StateCompleted {
			t.Errorf("round %d: old-1 = %+v, %v; want completed", round, b.State, err)
		}
		if _, err := e.Get(ctx, "old-2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("round %d: old-2 (erased) = %v; want ErrNotFound", round, err)
		}
		b, err := e.Get(ctx, "old-3")
		if err != nil || !b.Abandoned || b.FeedPosition != 3 || !b.AbandonedAt.Equal(t0.Add(25*time.Minute)) {
			t.Errorf("round %d: old-3 = abandoned %v at %d since %v, %v; want abandoned at 3 since %v", round,
				b.Abandoned, b.FeedPosition, b.AbandonedAt, err, t0.Add(25*time.Minute))
		}
		if err := e.Check(); err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		if _, err := e.Apply(ctx, Event{Type: EventCreated, BasketID: fmt.Sprint("new-", round), At: now}); err != nil {
			t.Errorf("round %d: Apply: %v", round, err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenVersion2Directory: a data directory written by the version
// before the suppression list (testdata/datadir-v2: a format 2 snapshot and
// a log after it) opens with its baskets, positions and times, starts with
// an empty list, and keeps one after a snapshot of the current format.
func TestOpenVersion2Directory(t *testing.T) {
	dir := copyDataDir(t, "datadir-v2")
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	now := t0.Add(time.Hour)
	opts := oldDirOptions(now)
	ctx := context.Background()
	for round := range 3 {
		e, err := Open(dir, opts)
		if err != nil {
			t.Fatalf("round %d: Open: %v", round, err)
		}
		b, err := e.Get(ctx, "v2-1")
		if err != nil || !b.Abandoned || b.FeedPosition != 1814892134400001 || !b.AbandonedAt.Equal(t0.Add(10*time.Minute)) {
			t.Errorf("round %d: v2-1 = abandoned %v at %d since %v, %v", round, b.Abandoned, b.FeedPosition, b.AbandonedAt, err)
		}
		if b, err := e.Get(ctx, "v2-2"); err != nil || b.State != StateCompleted {
			t.Errorf("round %d: v2-2 = %v, %v; want completed", round, b.State, err)
		}
		s, _, err := e.Suppression(ctx, "ann@example.com")
		if err != nil || s != (round > 0) {
			t.Errorf("round %d: ann suppressed %v, %v", round, s, err)
		}
		if err := e.Check(); err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		switch round {
		case 0:
			if err := e.Suppress(ctx, "ann@example.com"); err != nil {
				t.Fatal(err)
			}
			if err := e.Snapshot(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenVersion3Directory: a data directory whose snapshot spells its
// cached recovery links out as text (testdata/datadir-v3: a format 3
// snapshot and a log after it) opens with the same links, which verify;
// after a snapshot of format 4, which keeps them as their MACs, it opens
// with them again.
func TestOpenVersion3Directory(t *testing.T) {
	dir := copyDataDir(t, "datadir-v3")
	// The links the version that wrote the directory gave.
	want := map[string]string{
		"v3-1": "/api/checkout/recover?basketId=v3-1&recover=AAAAAGnLlBisS4Ulf_T06BfaE3mvQZhu",
		"v3+2": "/api/checkout/recover?basketId=v3%2B2&recover=AAAAAGnLlBjjsKSK4JMyRfjezKEbqWQD",
	}
	opts := oldDirOptions(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	ctx := context.Background()
	for round := range 3 {
		e, err := Open(dir, opts)
		if err != nil {
			t.Fatalf("round %d: Open: %v", round, err)
		}
		for id, link := range want {
			h, r := e.recs.lookup(id)
			if h == 0 || r.linkExp == 0 {
				t.Fatalf("round %d: %s has no cached link", round, id)
			}
			b, err := e.Get(ctx, id)
			if err != nil || b.RecoveryLink != link {
				t.Errorf("round %d: %s's link = %q, %v; want %q", round, id, b.RecoveryLink, err, link)
			}
			token := link[len(link)-b64.EncodedLen(tokenLen):]
			if err := e.VerifyToken(PurposeRecover, id, token); err != nil {
				t.Errorf("round %d: %s's token: %v", round, id, err)
			}
		}
		if b, err := e.Get(ctx, "v3-3"); err != nil || b.State != StateCompleted {
			t.Errorf("round %d: v3-3 = %v, %v; want completed", round, b.State, err)
		}
		if _, err := e.Get(ctx, "v3-4"); err != nil {
			t.Errorf("round %d: v3-4, from the log: %v", round, err)
		}
		if err := e.Check(); err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		if round == 0 {
			if err := e.Snapshot(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// copyDataDir copies testdata/name, a data directory of an earlier
// version (a snapshot and a log after it), into a new temporary directory.
func copyDataDir(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"snapshot-0000000000000001.snap", "wal-0000000000000001.log"} {
		b, err := os.ReadFile(filepath.Join("testdata", name, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// oldDirOptions are the options the directories of testdata were written
// with, at the fixed time now.
func oldDirOptions(now time.Time) *Options {
	return &Options{Now: func() time.Time { return now }, AbandonAfter: 10 * time.Minute, TTL: NoExpiry,
		RecoverySecrets: [][]byte{[]byte("test-secret-0123456789abcdef")}, SnapshotEvery: -1}
}

// TestEventsOnly: a record with any field set besides its events, time
// and sequence is not applied by the shortcut (applyEventsShared), which
// applies events and nothing else; a field added to walRecord and not to
// eventsOnly fails here.
func TestEventsOnly(t *testing.T) {
	evs := []Event{{Type: EventCreated, BasketID: "b-1"}}
	if r := (walRecord{Now: 5, Events: evs}); !r.eventsOnly() {
		t.Fatal("a record of events alone is not eventsOnly")
	}
	if r := (walRecord{Now: 5, Seq: 9, Events: evs}); !r.eventsOnly() {
		t.Fatal("a logged record of events alone is not eventsOnly")
	}
	if r := (walRecord{Now: 5}); r.eventsOnly() {
		t.Fatal("a record of no events is eventsOnly")
	}
	typ := reflect.TypeFor[walRecord]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() || f.Name == "Now" || f.Name == "Events" || f.Name == "Seq" {
			continue
		}
		r := walRecord{Now: 5, Events: evs}
		v := reflect.ValueOf(&r).Elem().Field(i)
		if v.Kind() == reflect.Pointer {
			v.Set(reflect.New(f.Type.Elem()))
		} else {
			poison(v)
		}
		if r.eventsOnly() {
			t.Errorf("a record of events with %s set is eventsOnly", f.Name)
		}
	}
}
