package campaign

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
	"github.com/basketlab/abandoned/basket/store"
)

// noFeed is a source Open never asks: a durable runner reads no feed
// before its first turn.
var noFeed = &HTTPSource{BaseURL: "http://127.0.0.1:1"}

func openAt(t *testing.T, dir string) *Runner {
	t.Helper()
	r, err := Open(dir, noFeed, &memSender{}, &Options{Name: "legacy", ShopURL: "shop.example.com"})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return r
}

// TestEmailHashKeyed: the hash of an address is keyed with the runner's
// own secret, so two runners hash it differently, and one runner the same
// across a restart; in memory, the key is random.
func TestEmailHashKeyed(t *testing.T) {
	ctx := context.Background()
	const ann = "ann@example.com"
	dirA, dirB := t.TempDir(), t.TempDir()
	a, b := openAt(t, dirA), openAt(t, dirB)
	ha, hb := a.st.hash(ann), b.st.hash(ann)
	if ha == hb || ha == legacyHash(ann) || hb == legacyHash(ann) {
		t.Fatalf("hashes %s and %s (unkeyed %s); want two different keyed ones", ha, hb, legacyHash(ann))
	}
	if err := a.Suppress(ctx, "Ann@Example.com", "bounced"); err != nil {
		t.Fatal(err)
	}
	if !a.Suppressed(ann) || b.Suppressed(ann) {
		t.Fatalf("Suppressed: %v in the runner told, %v in the other; want true, false", a.Suppressed(ann), b.Suppressed(ann))
	}
	if _, ok := a.st.Suppressed[ha]; !ok || len(a.st.Suppressed) != 1 {
		t.Fatalf("suppression list %v; want the keyed hash %s only", a.st.Suppressed, ha)
	}
	a.Close()
	b.Close()

	a = openAt(t, dirA)
	defer a.Close()
	if got := a.st.hash(ann); got != ha {
		t.Errorf("after a restart the hash is %s; want %s", got, ha)
	}
	if !a.Suppressed(ann) {
		t.Error("after a restart the address is not suppressed")
	}
	if err := a.Unsuppress(ctx, ann); err != nil || a.Suppressed(ann) {
		t.Errorf("Unsuppress = %v, suppressed %v; want nil, false", err, a.Suppressed(ann))
	}

	eng := btest.MustNewEngine(t, nil)
	m1, err1 := New(EngineSource{eng}, &memSender{}, &Options{ShopURL: "shop.example.com"})
	m2, err2 := New(EngineSource{eng}, &memSender{}, &Options{ShopURL: "shop.example.com"})
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	defer m1.Close()
	defer m2.Close()
	if h1, h2 := m1.st.hash(ann), m2.st.hash(ann); h1 == h2 || h1 == legacyHash(ann) {
		t.Errorf("in memory, hashes %s and %s; want random keys", h1, h2)
	}
}

// TestEmailHashSecretGuarded: a keyed state whose secret is missing or
// another's is refused (its suppression list would read as empty); a
// report reads it all the same.
func TestEmailHashSecretGuarded(t *testing.T) {
	dir := t.TempDir()
	r := openAt(t, dir)
	if err := r.Suppress(context.Background(), "ann@example.com", ""); err != nil {
		t.Fatal(err)
	}
	r.Close()
	path := filepath.Join(dir, hashSecretFile)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 || len(good) != 65 {
		t.Errorf("%s: mode %v, %d bytes; want 0600 and 64 hex digits and a newline", hashSecretFile, fi.Mode().Perm(), len(good))
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, noFeed, &memSender{}, &Options{Name: "legacy", ShopURL: "shop.example.com"}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), hashSecretFile) {
		t.Errorf("Open without the state's secret = %v; want ErrConfig", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused Open wrote a secret: %v", err)
	}
	if rep, err := ReadReport(dir, nil); err != nil || rep.Suppressed != 1 {
		t.Errorf("ReadReport without the secret = %d suppressed, %v; want 1, nil", rep.Suppressed, err)
	}
	if err := writeSecret(dir, hashSecretFile, newSecret()); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, noFeed, &memSender{}, &Options{Name: "legacy", ShopURL: "shop.example.com"}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), hashSecretFile) {
		t.Errorf("Open with another secret = %v; want ErrConfig", err)
	}
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	r = openAt(t, dir)
	defer r.Close()
	if !r.Suppressed("ann@example.com") {
		t.Error("with the secret back, the address is not suppressed")
	}
}

// legacyState writes, in dir, the state an earlier version (unkeyed
// hashes) left: ann suppressed, bob suppressed and then not, and, in a
// snapshot, carol's one-message window from t0. Activated a minute before
// t0, from the feed's start.
func legacyState(t *testing.T, dir string, snapshot bool) {
	t.Helper()
	log, err := store.Open(dir, &store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if _, err := log.LoadSnapshot(func(io.Reader) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := log.Replay(func([]byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	activated := t0.Add(-time.Minute).UnixMilli()
	if snapshot {
		st := newState(nil)
		st.Name, st.Activated, st.ActivatedAt = "legacy", true, activated
		st.Suppressed[legacyHash("ann@example.com")] = "bounced"
		st.LastSent[legacyHash("carol@example.com")] = t0.UnixMilli()
		seq, err := log.Rotate()
		if err != nil {
			t.Fatal(err)
		}
		if err := log.WriteSnapshot(seq, st.encode); err != nil {
			t.Fatal(err)
		}
	} else {
		recs := []rec{{Kind: kActivate, At: activated, Text: "legacy"},
			{Kind: kSuppress, Email: legacyHash("ann@example.com"), Text: "bounced"}}
		for _, x := range recs {
			b, err := msgpack.Marshal(&x)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := log.Append(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	var last uint64
	for _, x := range []rec{{Kind: kSuppress, Email: legacyHash("bob@example.com"), Text: "unsubscribed"},
		{Kind: kUnsuppress, Email: legacyHash("bob@example.com")}} {
		b, err := msgpack.Marshal(&x)
		if err != nil {
			t.Fatal(err)
		}
		if last, err = log.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := log.Wait(last); err != nil {
		t.Fatal(err)
	}
}

// TestLegacyStateUpgraded: a state of an earlier version, which hashed
// addresses without a key, keeps working: its suppressed address is still
// suppressed (and can be unsuppressed), its windows still hold, and what
// it unsuppressed stays so. Its entries are keyed at the first Open, which
// snapshots the state so that no unkeyed hash stays in the directory.
func TestLegacyStateUpgraded(t *testing.T) {
	for _, snapshot := range []bool{false, true} {
		name := map[bool]string{false: "log", true: "snapshot"}[snapshot]
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			legacyState(t, dir, snapshot)
			clock := btest.NewClock(t0)
			eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now})
			snd := &memSender{}
			opts := &Options{Name: "legacy", ShopURL: "shop.example.com", Steps: []time.Duration{time.Hour}}
			r, err := Open(dir, EngineSource{eng}, snd, opts)
			if err != nil {
				t.Fatalf("Open of an earlier version's state: %v", err)
			}
			defer func() { r.Close() }()
			if !r.Suppressed("Ann@Example.com") || r.Suppressed("bob@example.com") {
				t.Fatalf("after the upgrade: ann suppressed %v, bob %v; want true, false",
					r.Suppressed("Ann@Example.com"), r.Suppressed("bob@example.com"))
			}
			if rep := r.Report(); rep.Suppressed != 1 {
				t.Errorf("report: %d suppressed; want 1", rep.Suppressed)
			}
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var snaps []string
			for _, e := range ents {
				if filepath.Ext(e.Name()) == ".snap" {
					snaps = append(snaps, e.Name())
				}
			}
			if len(snaps) != 1 || snaps[0] == "snapshot-0000000000000001.snap" && snapshot {
				t.Errorf("files after the upgrade: %v; want a new snapshot", ents)
			}

			// The upgraded state, reopened, runs: ann is not written to,
			// carol waits for the window (snapshot), bob and dave are.
			r.Close()
			if r, err = Open(dir, EngineSource{eng}, snd, opts); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct{ id, email string }{{"b-ann", "ANN@example.com"}, {"b-bob", "bob@example.com"},
				{"b-carol", "carol@example.com"}, {"b-dave", "dave@example.com"}} {
				at := clock.Now()
				if _, err := eng.Apply(ctx,
					basket.Event{Type: basket.EventCreated, BasketID: c.id, At: at, Entry: "/checkout",
						OrderItems: []basket.OrderItem{{Name: "Weekend", Path: "/offers/weekend"}}},
					basket.Event{Type: basket.EventEmailCaptured, BasketID: c.id, At: at, Email: c.email}); err != nil {
					t.Fatal(err)
				}
			}
			for range 5 {
				clock.Add(30 * time.Minute)
				if _, err := r.Tick(ctx, clock.Now()); err != nil {
					t.Fatal(err)
				}
			}
			want := []string{"b-bob/1", "b-carol/1", "b-dave/1"}
			if snapshot {
				want = []string{"b-bob/1", "b-dave/1"}
			}
			got := summary(snd.messages())
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("messages %v; want %v", got, want)
			}
			rep := r.Report()
			if rep.Skipped[ReasonSuppressed] != 1 || snapshot && rep.Deferred[ReasonDeduplicated] != 1 {
				t.Errorf("skipped %v, deferred %v; want ann suppressed (and carol held by the window)", rep.Skipped, rep.Deferred)
			}
			if err := r.Unsuppress(ctx, "ann@example.com"); err != nil || r.Suppressed("ann@example.com") {
				t.Errorf("Unsuppress of a migrated entry = %v, suppressed %v; want nil, false", err, r.Suppressed("ann@example.com"))
			}
		})
	}
}

// TestSuppressionDictionary: someone who reads a state directory's files,
// and hashes a list of addresses that holds the suppressed ones by the
// unkeyed scheme, finds none of them: neither in a new state nor in one
// upgraded from an earlier version.
func TestSuppressionDictionary(t *testing.T) {
	dict := []string{"ann@example.com", "bob@example.com", "carol@example.com", "dave@example.com", "eve@example.com"}
	look := func(t *testing.T, dir string, r *Runner) {
		t.Helper()
		if len(r.st.Suppressed) == 0 {
			t.Fatal("nothing suppressed")
		}
		files := map[string][]byte{}
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			files[filepath.Base(path)] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range dict {
			h := legacyHash(e)
			raw, _ := hex.DecodeString(h)
			for name, b := range files {
				if bytes.Contains(b, []byte(h)) || bytes.Contains(b, raw) || bytes.Contains(b, []byte(e)) {
					t.Errorf("%s holds %s's address or unkeyed hash", name, e)
				}
			}
			if _, ok := r.st.Suppressed[h]; ok {
				t.Errorf("the suppression list holds %s's unkeyed hash", e)
			}
		}
	}

	t.Run("new", func(t *testing.T) {
		ctx := context.Background()
		dir := t.TempDir()
		r := openAt(t, dir)
		defer r.Close()
		for _, e := range []string{"ann@example.com", "Carol@Example.com"} {
			if err := r.Suppress(ctx, e, "unsubscribed"); err != nil {
				t.Fatal(err)
			}
		}
		look(t, dir, r)
	})
	t.Run("upgraded", func(t *testing.T) {
		for _, snapshot := range []bool{false, true} {
			dir := t.TempDir()
			legacyState(t, dir, snapshot)
			r := openAt(t, dir)
			if !r.Suppressed("ann@example.com") {
				t.Error("ann not suppressed after the upgrade")
			}
			look(t, dir, r)
			r.Close()
		}
	})
	t.Run("upgrade interrupted", func(t *testing.T) {
		// The key recorded, the snapshot not written: the next Open writes it.
		dir := t.TempDir()
		legacyState(t, dir, true)
		secret := newSecret()
		if err := writeSecret(dir, hashSecretFile, secret); err != nil {
			t.Fatal(err)
		}
		_, id := emailKey(secret)
		log, err := store.Open(dir, &store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err1 := log.LoadSnapshot(func(io.Reader) error { return nil })
		_, err2 := log.Replay(func([]byte) error { return nil })
		b, err3 := msgpack.Marshal(&rec{Kind: kHashKey, Text: id})
		seq, err4 := log.Append(b)
		if err := errors.Join(err1, err2, err3, err4, log.Wait(seq), log.Close()); err != nil {
			t.Fatal(err)
		}
		r := openAt(t, dir)
		defer r.Close()
		if !r.Suppressed("ann@example.com") {
			t.Error("ann not suppressed after the upgrade")
		}
		look(t, dir, r)
	})
}
