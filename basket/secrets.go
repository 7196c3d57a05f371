package basket

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/basketlab/abandoned/basket/store"
)

// GeneratedSecretLen is the length of the secrets the engine generates.
const GeneratedSecretLen = 32

// randomSecret returns GeneratedSecretLen random bytes.
func randomSecret() ([]byte, error) {
	s := make([]byte, GeneratedSecretLen)
	if _, err := rand.Read(s); err != nil {
		return nil, err
	}
	return s, nil
}

// KeepSecret returns the secret kept in the file name of the directory dir
// (hex, one line), generating GeneratedSecretLen random bytes and writing
// them there if the file is absent: written aside with mode 0600, fsynced,
// renamed, and the directory fsynced. A kept secret shorter than
// GeneratedSecretLen is refused. Call it on the data directory of an open
// engine (after Open, which locks the directory), so that no other process
// writes the same file.
func KeepSecret(dir, name string) ([]byte, error) {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("basket: secret file %q: want a plain file name", name)
	}
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err == nil {
		s, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(s) < GeneratedSecretLen {
			return nil, fmt.Errorf("basket: %s is not a valid secret (want %d or more bytes in hex); remove it to have a new one generated", path, GeneratedSecretLen)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("basket: %w", err)
	}
	s, err := randomSecret()
	if err != nil {
		return nil, fmt.Errorf("basket: generating a secret: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("basket: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(s) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = store.OS{}.SyncDir(dir)
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("basket: keeping the secret %s: %w", name, err)
	}
	return s, nil
}
