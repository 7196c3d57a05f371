package basket

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// MinSecretLen is the shortest secret Options.RecoverySecrets accepts.
const MinSecretLen = 16

// key holds the keys derived from one secret. Each purpose has its own key,
// so a token of one purpose never verifies as another.
type key struct {
	id      [4]byte
	recover []byte // recovery and other link tokens
	cursor  []byte // cursor MACs
	email   []byte // seals emails in cursors

	recoverMACs *macPool
	cursorMACs  *macPool
}

// macPool reuses HMAC states of one key: a new one costs several
// allocations, which a page of results should not pay.
type macPool struct{ p sync.Pool }

func newMACPool(k []byte) *macPool {
	return &macPool{p: sync.Pool{New: func() any { return hmac.New(sha256.New, k) }}}
}

// sum appends the MAC of the concatenated parts to dst.
func (mp *macPool) sum(dst []byte, parts ...[]byte) []byte {
	m := mp.p.Get().(hash.Hash)
	m.Reset()
	for _, p := range parts {
		m.Write(p)
	}
	dst = m.Sum(dst)
	mp.p.Put(m)
	return dst
}

// keyring is the list of keys: the first signs, all verify. It is immutable.
type keyring struct {
	keys []key
}

func derive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("abandoned/v1/" + label))
	return m.Sum(nil)
}

func newKeyring(secrets [][]byte) (*keyring, error) {
	if len(secrets) == 0 {
		s := make([]byte, 32)
		if _, err := rand.Read(s); err != nil {
			return nil, fmt.Errorf("generating a recovery secret: %w", err)
		}
		secrets = [][]byte{s}
	}
	kr := &keyring{}
	seen := map[[4]byte]bool{}
	for i, s := range secrets {
		if len(s) < MinSecretLen {
			return nil, fmt.Errorf("recovery secret %d: shorter than %d bytes", i, MinSecretLen)
		}
		k := key{
			recover: derive(s, "recover"),
			cursor:  derive(s, "cursor"),
			email:   derive(s, "email"),
		}
		copy(k.id[:], derive(s, "kid"))
		k.recoverMACs, k.cursorMACs = newMACPool(k.recover), newMACPool(k.cursor)
		if seen[k.id] {
			return nil, errors.New("recovery secrets: the same secret is given twice")
		}
		seen[k.id] = true
		kr.keys = append(kr.keys, k)
	}
	return kr, nil
}

func (kr *keyring) signer() *key { return &kr.keys[0] }

func (kr *keyring) lookup(id []byte) *key {
	for i := range kr.keys {
		if hmac.Equal(kr.keys[i].id[:], id) {
			return &kr.keys[i]
		}
	}
	return nil
}

// sealEmail encrypts a normalised email for a cursor, deterministically (a
// synthetic IV: the email's MAC), so that a cursor shows no email and the
// same query gives the same cursor. The cursor's own MAC authenticates it.
func (k *key) sealEmail(norm string) []byte {
	m := hmac.New(sha256.New, k.email)
	m.Write([]byte(norm))
	iv := m.Sum(nil)[:aes.BlockSize]
	out := make([]byte, aes.BlockSize+len(norm))
	copy(out, iv)
	k.emailStream(iv).XORKeyStream(out[aes.BlockSize:], []byte(norm))
	return out
}

// openEmail reverses sealEmail.
func (k *key) openEmail(sealed []byte) (string, bool) {
	if len(sealed) < aes.BlockSize {
		return "", false
	}
	iv := sealed[:aes.BlockSize]
	pt := make([]byte, len(sealed)-aes.BlockSize)
	k.emailStream(iv).XORKeyStream(pt, sealed[aes.BlockSize:])
	m := hmac.New(sha256.New, k.email)
	m.Write(pt)
	if !hmac.Equal(m.Sum(nil)[:aes.BlockSize], iv) {
		return "", false
	}
	return string(pt), true
}

func (k *key) emailStream(iv []byte) cipher.Stream {
	b, err := aes.NewCipher(k.email) // 32 bytes: AES-256
	if err != nil {
		panic("basket: derived key of the wrong size: " + err.Error())
	}
	return cipher.NewCTR(b, iv)
}
