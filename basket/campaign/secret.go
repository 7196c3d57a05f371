package campaign

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/basketlab/abandoned/basket"
)

// secretFile is the name, in a state directory, of the secret that signs
// the unsubscribe tokens of a campaign whose source has none (HTTPSource).
const secretFile = "unsubscribe.secret"

// stateTokens returns tokens signed with the secret kept in dir, which it
// creates at the first run. The directory must be locked: the state's
// store holds the lock.
func stateTokens(dir string, logger *slog.Logger) (*basket.Engine, error) {
	path := filepath.Join(dir, secretFile)
	b, err := os.ReadFile(path)
	var secret []byte
	switch {
	case err == nil && strings.TrimSpace(string(b)) != "":
		secret, err = hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(secret) < basket.MinSecretLen {
			return nil, fmt.Errorf("%w: %s is not an unsubscribe secret (hex, %d bytes or more)", ErrConfig, path, basket.MinSecretLen)
		}
	case err == nil || errors.Is(err, os.ErrNotExist):
		if err == nil {
			// Only a crash in the middle of writing it (before it was
			// written aside) leaves it empty.
			logger.Warn("campaign: the unsubscribe secret is empty; a new one is made", "path", path)
		}
		secret = make([]byte, 32)
		rand.Read(secret)
		if err := writeFile(dir, secretFile, []byte(hex.EncodeToString(secret)+"\n")); err != nil {
			return nil, fmt.Errorf("campaign: %w", err)
		}
	default:
		return nil, fmt.Errorf("campaign: %w", err)
	}
	return basket.New(&basket.Options{RecoverySecrets: [][]byte{secret}})
}

// writeFile replaces dir/name with data, mode 0600, so that a crash leaves
// the old file or the new one, whole: it writes aside, fsyncs, renames and
// fsyncs the directory.
func writeFile(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
