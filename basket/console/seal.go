package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// sealer encrypts and authenticates what the console puts in its own URLs
// (a list's filters and the engine's cursor), with AES-256-GCM under a key
// of the process: a URL shows nothing of the filters, an email least of
// all, and a tampered one is refused.
type sealer struct{ aead cipher.AEAD }

// sealLabel is the additional data of every sealed value.
var sealLabel = []byte("abandoned/console/v1/list")

func newSealer(key []byte) (*sealer, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return &sealer{aead: g}, nil
}

// errUnsealed is any sealed value that does not open: tampered,
// truncated, or sealed by another process (before a restart).
var errUnsealed = errors.New("console: the link does not open")

// maxSealed bounds a sealed value's text.
const maxSealed = 8 << 10

// seal returns v, as JSON, sealed and base64url.
func (s *sealer) seal(v any) (string, error) {
	msg, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(msg)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, msg, sealLabel)), nil
}

// open decodes what seal wrote into v.
func (s *sealer) open(text string, v any) error {
	if len(text) > maxSealed {
		return errUnsealed
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(text)
	if err != nil || len(b) < s.aead.NonceSize()+s.aead.Overhead() {
		return errUnsealed
	}
	ns := s.aead.NonceSize()
	msg, err := s.aead.Open(nil, b[:ns], b[ns:], sealLabel)
	if err != nil {
		return errUnsealed
	}
	if err := json.Unmarshal(msg, v); err != nil {
		return errUnsealed
	}
	return nil
}
