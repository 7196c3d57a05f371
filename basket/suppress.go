package basket

import (
	"context"
	"crypto/aes"
	"crypto/hmac"
	"fmt"

	strictb64 "github.com/basketlab/abandoned/basket/internal/b64"
)

// The engine keeps a suppression list: the addresses whose owners
// unsubscribed through a link of a message (Unsubscribe), which every
// campaign asks about at the moment of sending (Suppression). It is kept
// like the baskets, through the log and in snapshots, and an erasure of an
// address removes it from the list with the address's baskets.
//
// An unsubscribe link carries an opaque token: the normalised address
// sealed (deterministic authenticated encryption, as in cursors) under the
// first recovery secret, and a MAC of its own purpose, so that neither a
// cursor nor a recovery token can pass for it. It does not expire: a link
// in an old message still unsubscribes, until the secret that sealed it is
// taken out of rotation.

// purposeUnsubscribeLink is the MAC purpose of unsubscribe tokens.
const purposeUnsubscribeLink TokenPurpose = 'l'

// Bounds of an unsubscribe token's decoded length: key id, the sealed
// address (IV and at least one byte), MAC.
const (
	unsubMinLen = 4 + aes.BlockSize + 1 + tokenMACLen
	unsubMaxLen = 4 + aes.BlockSize + maxEmailLen + tokenMACLen
)

// UnsubscribeToken returns the token of an unsubscribe link for an
// address: opaque (the address does not show in it), signed with the first
// recovery secret, and the same for the same address and secret, so a
// link is stable from message to message. The address is normalised as
// everywhere (NormalizeEmail); an address that is not valid gets a token
// that Unsubscribe refuses.
func (e *Engine) UnsubscribeToken(email string) string {
	k := e.keys.signer()
	sealed := k.sealEmail(NormalizeEmail(email))
	buf := make([]byte, 0, 4+len(sealed)+tokenMACLen)
	buf = append(buf, k.id[:]...)
	buf = append(buf, sealed...)
	var mac [tokenMACLen]byte
	k.tokenMAC(&mac, purposeUnsubscribeLink, "", buf)
	buf = append(buf, mac[:]...)
	return b64.EncodeToString(buf)
}

// openUnsubscribe returns the normalised address an unsubscribe token
// names: ErrTokenMissing or ErrTokenInvalid if it names none.
func (kr *keyring) openUnsubscribe(token string) (string, error) {
	if token == "" {
		return "", ErrTokenMissing
	}
	if len(token) < b64.EncodedLen(unsubMinLen) || len(token) > b64.EncodedLen(unsubMaxLen) {
		return "", ErrTokenInvalid
	}
	buf := make([]byte, b64.DecodedLen(len(token)))
	n, ok := strictb64.Decode(buf, token)
	if !ok || n < unsubMinLen || n > unsubMaxLen {
		return "", ErrTokenInvalid
	}
	buf = buf[:n]
	body, mac := buf[:n-tokenMACLen], buf[n-tokenMACLen:]
	var want [tokenMACLen]byte
	k := kr.find(body[:4], func(k *key) bool {
		k.tokenMAC(&want, purposeUnsubscribeLink, "", body)
		return hmac.Equal(want[:], mac)
	})
	if k == nil {
		return "", ErrTokenInvalid
	}
	email, ok := k.openEmail(body[4:])
	if !ok || validateEmail(email) != nil || NormalizeEmail(email) != email {
		return "", ErrTokenInvalid
	}
	return email, nil
}

// Unsubscribe puts the address an unsubscribe token names on the
// suppression list. A token that is missing, malformed, tampered with or
// sealed under a secret no longer given is ErrTokenMissing or
// ErrTokenInvalid, and changes nothing. An address already on the list
// stays on it with its first time; unsubscribing again is harmless.
func (e *Engine) Unsubscribe(ctx context.Context, token string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	email, err := e.keys.openUnsubscribe(token)
	if err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	_, err = e.submit(ctx, &walRecord{Unsubscribe: email})
	return err
}

// Suppress puts an address on the suppression list, as Unsubscribe does
// for the address of a token: for an operator's list, or a bounce. The
// address must be valid (ErrInvalidEvent otherwise, naming the field).
func (e *Engine) Suppress(ctx context.Context, email string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidateEmail(email); err != nil {
		return fmt.Errorf("%w: email: %v", ErrInvalidEvent, err)
	}
	_, err := e.submit(ctx, &walRecord{Unsubscribe: NormalizeEmail(email)})
	return err
}

// Suppression reports whether an address is on the suppression list, and
// returns the token of its unsubscribe link (see UnsubscribeToken), which
// a campaign puts in the message it is about to send. Like every read, it
// reflects every write acknowledged before it started.
func (e *Engine) Suppression(ctx context.Context, email string) (suppressed bool, token string, err error) {
	if err := ctx.Err(); err != nil {
		return false, "", err
	}
	if err := ValidateEmail(email); err != nil {
		return false, "", fmt.Errorf("%w: email: %v", ErrInvalidEvent, err)
	}
	if err := e.beforeRead(ctx); err != nil {
		return false, "", err
	}
	key := NormalizeEmail(email)
	e.mu.RLock()
	closed := e.closed
	_, suppressed = e.suppressed.Get(key)
	e.mu.RUnlock()
	if closed {
		return false, "", ErrClosed
	}
	return suppressed, e.UnsubscribeToken(key), nil
}

// suppressLocked puts a normalised address on the list at now (unix ms),
// keeping the time of an earlier entry. e.mu must be held for writing.
func (e *Engine) suppressLocked(now int64, key string) {
	if _, ok := e.suppressed.Get(key); !ok {
		e.suppressed.Set(key, now)
	}
}

// unsuppressErased takes an erased address off the list if it was put
// there at or before the erasure: a re-sent erasure leaves a later
// unsubscription alone, as it leaves later baskets. e.mu must be held for
// writing.
func (e *Engine) unsuppressErased(key string, at int64) {
	if t, ok := e.suppressed.Get(key); ok && t <= at {
		e.suppressed.Delete(key)
	}
}

// UnsubscribeAddress returns the normalised address an unsubscribe token
// names, without changing anything: for a page that asks its owner to
// confirm. It reports ErrTokenMissing or ErrTokenInvalid as Unsubscribe
// does.
func (e *Engine) UnsubscribeAddress(token string) (string, error) {
	email, err := e.keys.openUnsubscribe(token)
	if err != nil {
		return "", fmt.Errorf("unsubscribe: %w", err)
	}
	return email, nil
}
