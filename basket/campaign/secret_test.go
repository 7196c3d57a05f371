package campaign

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/store"
)

// TestStateSecret: a durable runner whose source has no tokens keeps their
// secret in its state directory, under the directory's lock; tokens it
// issued verify after a restart; an empty secret (a crash of an older
// version) is replaced rather than stopping the campaign.
func TestStateSecret(t *testing.T) {
	src := &HTTPSource{BaseURL: "http://127.0.0.1:1"} // never asked: Open reads no feed
	opts := &Options{ShopURL: "shop.example.com"}
	dir := t.TempDir()
	path := filepath.Join(dir, secretFile)

	// Locked by a runner with tokens of its own: another Open writes nothing.
	eng, err := basket.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	holder, err := Open(dir, src, &memSender{}, &Options{ShopURL: "shop.example.com", Tokens: eng})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, src, &memSender{}, opts); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("Open of a locked directory = %v; want store.ErrLocked", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the secret was written without the lock: %v", err)
	}
	holder.Close()

	if err := os.WriteFile(path, nil, 0o600); err != nil { // what a crash left
		t.Fatal(err)
	}
	r, err := Open(dir, src, &memSender{}, opts)
	if err != nil {
		t.Fatalf("Open with an empty secret = %v; want a new secret", err)
	}
	r.mu.Lock()
	tok := r.ownToken("ann@example.com", t0, t0)
	r.mu.Unlock()
	r.Close()
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != 65 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file %v, %v; want 64 hex digits and a newline, mode 0600", fi, err)
	}
	if ents, _ := filepath.Glob(filepath.Join(dir, secretFile+".*")); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
	r, err = Open(dir, src, &memSender{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Unsubscribe(t.Context(), tok); err != nil || !r.Suppressed("ann@example.com") {
		t.Errorf("after a restart, Unsubscribe with a token of the last run = %v; want it suppressed", err)
	}
	r.Close()

	if err := os.WriteFile(path, []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, src, &memSender{}, opts); !errors.Is(err, ErrConfig) {
		t.Errorf("Open with a foreign secret file = %v; want ErrConfig", err)
	}
}
