package campaign

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
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

// hashSecretFile is the name, in a state directory, of the secret the
// email-hash key is derived from (emailKey): the suppression list and the
// one-message window are kept by keyed hashes of the addresses. Every
// durable runner has one, made at its first run (or at the first run of
// this version on an older state). It is the state's: it cannot be
// rotated (the hashes cannot be computed again without the addresses),
// and a state whose secret is lost or replaced is refused rather than run
// with its suppression list unreadable.
const hashSecretFile = "email-hash.secret"

// emailKeyLabel labels the sub-key of the email hashes: the secret itself
// keys nothing.
const emailKeyLabel = "basketlab/campaign: email-hash key v1"

// emailKey derives the key of the email hashes from a secret, and its id,
// which the state records (kHashKey) so that a state is never read with
// another key.
func emailKey(secret []byte) (key []byte, id string) {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(emailKeyLabel))
	key = m.Sum(nil)
	m = hmac.New(sha256.New, key)
	m.Write([]byte("key id"))
	return key, hex.EncodeToString(m.Sum(nil)[:8])
}

// newSecret returns 32 random bytes.
func newSecret() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// readSecret reads the secret of a state directory's file: nil if the file
// is missing or empty (exists tells which).
func readSecret(dir, name string) (secret []byte, exists bool, err error) {
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("campaign: %w", err)
	case strings.TrimSpace(string(b)) == "":
		return nil, true, nil
	}
	secret, err = hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(secret) < basket.MinSecretLen {
		return nil, true, fmt.Errorf("%w: %s is not a secret (hex, %d bytes or more)", ErrConfig, path, basket.MinSecretLen)
	}
	return secret, true, nil
}

// writeSecret writes a secret to a state directory's file, as readSecret
// reads it.
func writeSecret(dir, name string, secret []byte) error {
	if err := writeFile(dir, name, []byte(hex.EncodeToString(secret)+"\n")); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	return nil
}

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
