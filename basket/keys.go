package basket

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// MinSecretLen is the shortest secret Options.RecoverySecrets accepts. A
// secret should be random: 32 bytes from a cryptographic generator, as the
// engine generates when it is given none.
const MinSecretLen = 16

// key holds the keys derived from one secret. Each purpose has its own key,
// so a token of one purpose never verifies as another.
type key struct {
	// id is what tokens and cursors signed with this key carry as their
	// key id: the key's position in the keyring when it signed. It is a
	// hint and nothing more; it says nothing about the secret, so that
	// guesses of a secret cannot be filtered with it.
	id      [4]byte
	recover []byte // recovery and other link tokens
	cursor  []byte // cursor MACs

	// The email sealed in a cursor: a synthetic IV under one key, AES-CTR
	// under another.
	emailMAC []byte
	emailEnc cipher.Block

	recoverMACs *macPool
	cursorMACs  *macPool
}

// macPool reuses HMAC states of one key: a new one costs several
// allocations, which a page of results should not pay.
type macPool struct{ p sync.Pool }

// macState is one HMAC state with buffers for what it is given and what
// it gives back. The message is copied into in, and the MAC out of out,
// so that the callers' buffers, never handed to the hash.Hash interface,
// stay on their stacks: a cursor's bytes passed to Write were 512 bytes
// of heap for each page read.
type macState struct {
	h   hash.Hash
	in  []byte
	out [sha256.Size]byte
}

// maxPooledMACInput is the largest input buffer put back in a macPool.
const maxPooledMACInput = 8 << 10

func newMACPool(k []byte) *macPool {
	return &macPool{p: sync.Pool{New: func() any { return &macState{h: hmac.New(sha256.New, k)} }}}
}

// get returns a state with its input empty; give it back with put.
func (mp *macPool) get() *macState {
	st := mp.p.Get().(*macState)
	st.in = st.in[:0]
	return st
}

// put gives st back to mp; st must not be used after.
func (mp *macPool) put(st *macState) {
	if cap(st.in) <= maxPooledMACInput {
		mp.p.Put(st)
	}
}

// mac returns the MAC of st.in, valid until st is put back.
func (st *macState) mac() []byte {
	st.h.Reset()
	st.h.Write(st.in)
	return st.h.Sum(st.out[:0])
}

// sum appends the MAC of msg to dst. msg may be dst's bytes: it is
// copied in before the MAC is appended.
func (mp *macPool) sum(dst, msg []byte) []byte {
	st := mp.get()
	st.in = append(st.in, msg...)
	dst = append(dst, st.mac()...)
	mp.put(st)
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
		s, err := randomSecret()
		if err != nil {
			return nil, fmt.Errorf("generating a recovery secret: %w", err)
		}
		secrets = [][]byte{s}
	}
	kr := &keyring{}
	seen := map[[sha256.Size]byte]bool{}
	for i, s := range secrets {
		if len(s) < MinSecretLen {
			return nil, fmt.Errorf("recovery secret %d: shorter than %d bytes", i, MinSecretLen)
		}
		k := key{
			recover:  derive(s, "recover"),
			cursor:   derive(s, "cursor"),
			emailMAC: derive(s, "email-siv"),
		}
		b, err := aes.NewCipher(derive(s, "email-ctr")) // 32 bytes: AES-256
		if err != nil {
			return nil, fmt.Errorf("recovery secret %d: %w", i, err)
		}
		k.emailEnc = b
		binary.BigEndian.PutUint32(k.id[:], uint32(i))
		k.recoverMACs, k.cursorMACs = newMACPool(k.recover), newMACPool(k.cursor)
		fp := sha256.Sum256(k.recover)
		if seen[fp] {
			return nil, errors.New("recovery secrets: the same secret is given twice")
		}
		seen[fp] = true
		kr.keys = append(kr.keys, k)
	}
	return kr, nil
}

func (kr *keyring) signer() *key { return &kr.keys[0] }

// find returns the key under which ok holds (a MAC verifies): the key the
// id names first, then every other, newest first. Tokens signed before a
// rotation name another position, and those of earlier versions a
// fingerprint; they verify all the same. It returns nil if no key does.
func (kr *keyring) find(id []byte, ok func(k *key) bool) *key {
	hint := -1
	if len(id) == 4 {
		if n := binary.BigEndian.Uint32(id); n < uint32(len(kr.keys)) {
			hint = int(n)
			if ok(&kr.keys[hint]) {
				return &kr.keys[hint]
			}
		}
	}
	for i := range kr.keys {
		if i != hint && ok(&kr.keys[i]) {
			return &kr.keys[i]
		}
	}
	return nil
}

// sealEmail encrypts a normalised email for a cursor, deterministically (a
// synthetic IV: the email's MAC under a key of its own), so that a cursor
// shows no email and the same query gives the same cursor. The cursor's own
// MAC authenticates it.
func (k *key) sealEmail(norm string) []byte {
	m := hmac.New(sha256.New, k.emailMAC)
	m.Write([]byte(norm))
	iv := m.Sum(nil)[:aes.BlockSize]
	out := make([]byte, aes.BlockSize+len(norm))
	copy(out, iv)
	cipher.NewCTR(k.emailEnc, iv).XORKeyStream(out[aes.BlockSize:], []byte(norm))
	return out
}

// openEmail reverses sealEmail.
func (k *key) openEmail(sealed []byte) (string, bool) {
	if len(sealed) < aes.BlockSize {
		return "", false
	}
	iv := sealed[:aes.BlockSize]
	pt := make([]byte, len(sealed)-aes.BlockSize)
	cipher.NewCTR(k.emailEnc, iv).XORKeyStream(pt, sealed[aes.BlockSize:])
	m := hmac.New(sha256.New, k.emailMAC)
	m.Write(pt)
	if !hmac.Equal(m.Sum(nil)[:aes.BlockSize], iv) {
		return "", false
	}
	return string(pt), true
}
