package basket_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/basketlab/abandoned/basket"
)

// TestKeepSecret: a secret is generated once, kept in hex with mode 0600,
// and read back; a kept secret that is short or not hex is refused, and so
// is a name that is not a plain file name.
func TestKeepSecret(t *testing.T) {
	dir := t.TempDir()
	s1, err := basket.KeepSecret(dir, "access.secret")
	if err != nil || len(s1) != basket.GeneratedSecretLen {
		t.Fatalf("KeepSecret = %d bytes, %v", len(s1), err)
	}
	s2, err := basket.KeepSecret(dir, "access.secret")
	if err != nil || !bytes.Equal(s1, s2) {
		t.Fatalf("KeepSecret again = %x, %v; want %x", s2, err, s1)
	}
	other, err := basket.KeepSecret(dir, "other.secret")
	if err != nil || bytes.Equal(other, s1) {
		t.Fatalf("another file: %x, %v; want another secret", other, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "access.secret"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the file: %v, %v; want mode 0600", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "access.secret.tmp")); !os.IsNotExist(err) {
		t.Errorf("the temporary file remains: %v", err)
	}
	for _, content := range []string{strings.Repeat("ab", 31) + "\n", "not hex at all\n", ""} {
		if err := os.WriteFile(filepath.Join(dir, "bad.secret"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := basket.KeepSecret(dir, "bad.secret"); err == nil {
			t.Errorf("a kept secret %q was accepted", content)
		}
	}
	for _, name := range []string{"", "../x.secret", "sub/x.secret", ".hidden"} {
		if _, err := basket.KeepSecret(dir, name); err == nil {
			t.Errorf("KeepSecret(%q) accepted the name", name)
		}
	}
}
