package basket

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

var (
	wbSecretA = []byte("test-secret-0123456789abcdef")
	wbSecretB = []byte("another-secret-0123456789abc")
)

func mustKeyring(t testing.TB, secrets ...[]byte) *keyring {
	t.Helper()
	kr, err := newKeyring(secrets)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestKeyIDRevealsNothing: the key id a token carries is the same whatever
// the secret, so a guess of the secret cannot be checked against it.
func TestKeyIDRevealsNothing(t *testing.T) {
	const exp = 2_000_000_000
	var ids [][]byte
	for _, s := range [][]byte{wbSecretA, wbSecretB, bytes.Repeat([]byte{7}, 32)} {
		tok := mustKeyring(t, s).signer().issue(PurposeRecover, "b-1", exp)
		raw, err := b64.DecodeString(tok)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, raw[:4])
		if bytes.Equal(raw[:4], derive(s, "kid")[:4]) {
			t.Errorf("the key id is the secret's fingerprint")
		}
	}
	for _, id := range ids[1:] {
		if !bytes.Equal(id, ids[0]) {
			t.Errorf("key ids %x and %x differ with the secret: they tell secrets apart", ids[0], id)
		}
	}
}

// TestRotationVerifies: tokens and cursors signed before a rotation (the
// old secret first, its key id 0) verify once a new secret is first, and so
// do tokens of earlier versions, whose key id was the secret's fingerprint;
// a token of a secret rotated out does not.
func TestRotationVerifies(t *testing.T) {
	const now, exp = 1_900_000_000, 2_000_000_000
	old := mustKeyring(t, wbSecretA)
	rotated := mustKeyring(t, wbSecretB, wbSecretA)
	tok := old.signer().issue(PurposeRecover, "b-1", exp)
	if _, err := rotated.verify(PurposeRecover, "b-1", tok, now); err != nil {
		t.Errorf("a token of the old secret after rotation: %v", err)
	}
	if _, err := mustKeyring(t, wbSecretB).verify(PurposeRecover, "b-1", tok, now); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("a token of a secret rotated out: %v; want ErrTokenInvalid", err)
	}

	// An earlier version's token: key id = fingerprint of the secret.
	k := old.signer()
	var buf [tokenLen]byte
	copy(buf[:4], derive(wbSecretA, "kid"))
	binary.BigEndian.PutUint32(buf[4:8], exp)
	k.tokenMAC((*[tokenMACLen]byte)(buf[8:]), PurposeRecover, "b-1", buf[:8])
	legacy := b64.EncodeToString(buf[:])
	if _, err := rotated.verify(PurposeRecover, "b-1", legacy, now); err != nil {
		t.Errorf("a token of an earlier version: %v", err)
	}

	cur, err := old.encodeCursor(&cursorRecord{Version: cursorVersion, Alias: "x", After: noBound, Before: noBound, LastID: "b-1"})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := rotated.decodeCursor(new(cursorRecord), cur, "x"); err != nil || k != &rotated.keys[1] {
		t.Errorf("a cursor of the old secret after rotation: key %p, %v; want the second key", k, err)
	}
}

// TestEmailKeysApart: the cursor's sealed email uses one key for its
// synthetic IV and another for the cipher: decrypting with the IV's key
// does not give the email back.
func TestEmailKeysApart(t *testing.T) {
	k := mustKeyring(t, wbSecretA).signer()
	const email = "ann@example.com"
	sealed := k.sealEmail(email)
	if got, ok := k.openEmail(sealed); !ok || got != email {
		t.Fatalf("openEmail(sealEmail) = %q, %v", got, ok)
	}
	m := hmac.New(sha256.New, k.emailMAC)
	m.Write([]byte(email))
	if !bytes.Equal(m.Sum(nil)[:aes.BlockSize], sealed[:aes.BlockSize]) {
		t.Fatal("the IV is not the email's MAC under emailMAC")
	}
	b, err := aes.NewCipher(k.emailMAC)
	if err != nil {
		t.Fatal(err)
	}
	pt := make([]byte, len(email))
	cipher.NewCTR(b, sealed[:aes.BlockSize]).XORKeyStream(pt, sealed[aes.BlockSize:])
	if string(pt) == email {
		t.Error("the IV's key also encrypts the email")
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 1
		if _, ok := k.openEmail(bad); ok {
			t.Errorf("openEmail accepted the seal with byte %d flipped", i)
		}
	}
}

// TestStrictDecoding: a token or cursor with a byte outside base64url
// (CR, LF, padding, the standard alphabet's + and /) or with non-zero
// unused bits in its last character is refused, though the lenient decoder
// would read it as the same bytes.
func TestStrictDecoding(t *testing.T) {
	const now, exp = 1_900_000_000, 2_000_000_000
	kr := mustKeyring(t, wbSecretA)
	tok := kr.signer().issue(PurposeRecover, "b-1", exp)
	if _, err := kr.verify(PurposeRecover, "b-1", tok, now); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{tok[:10] + "\n" + tok[10:], tok[:10] + "\r" + tok[10:], tok + "=", "\n" + tok} {
		if _, err := b64.DecodeString(bad); err != nil && !strings.HasSuffix(bad, "=") {
			t.Fatalf("the lenient decoder refuses %q: the test proves nothing", bad)
		}
		if _, err := kr.verify(PurposeRecover, "b-1", bad, now); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("verify(%q) = %v; want ErrTokenInvalid", bad, err)
		}
	}

	var cur string
	for id := "b"; ; id += "x" { // a cursor whose last character has unused bits
		c, err := kr.encodeCursor(&cursorRecord{Version: cursorVersion, Alias: "x", After: noBound, Before: noBound, LastID: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(c)%4 != 0 {
			cur = c
			break
		}
	}
	if _, err := kr.decodeCursor(new(cursorRecord), cur, "x"); err != nil {
		t.Fatal(err)
	}
	// The same bytes with a last character whose unused bits are set.
	last := strings.IndexByte(b64Chars, cur[len(cur)-1])
	nonCanonical := cur[:len(cur)-1] + string(b64Chars[last|1])
	if b, err := b64.DecodeString(nonCanonical); err != nil || b64.EncodeToString(b) != cur {
		t.Fatalf("%q does not decode leniently to the same bytes: the test proves nothing", nonCanonical)
	}
	for _, bad := range []string{nonCanonical, cur[:5] + "\r\n" + cur[5:], cur + "\n"} {
		if _, err := kr.decodeCursor(new(cursorRecord), bad, "x"); !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("decodeCursor(%q) = %v; want ErrInvalidCursor", bad, err)
		}
	}
}

const b64Chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// FuzzCursorCanonical: a cursor that decodes is the very string the
// keyring encodes for its record.
func FuzzCursorCanonical(f *testing.F) {
	kr := mustKeyring(f, wbSecretA)
	for _, rec := range []cursorRecord{
		{Version: cursorVersion, Alias: "x", After: noBound, Before: noBound, LastCreated: 1, LastID: "b-1"},
		{Version: cursorVersion, Alias: "x", After: 5, Before: 9, Email: kr.signer().sealEmail("ann@example.com"), Tag: "t", LastCreated: 7, LastID: "b-22"},
	} {
		c, err := kr.encodeCursor(&rec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(c)
		f.Add(c[:len(c)-1] + "B")
		f.Add(c + "\n")
	}
	f.Fuzz(func(t *testing.T, s string) {
		rec := new(cursorRecord)
		k, err := kr.decodeCursor(rec, s, "x")
		if err != nil {
			if !errors.Is(err, ErrInvalidCursor) {
				t.Fatalf("decodeCursor(%q) = %v", s, err)
			}
			return
		}
		if k != kr.signer() {
			t.Fatalf("decodeCursor(%q): a key the keyring does not hold", s)
		}
		again, err := kr.encodeCursor(rec)
		if err != nil || again != s {
			t.Fatalf("decodeCursor(%q) accepted what encodes as %q", s, again)
		}
	})
}
