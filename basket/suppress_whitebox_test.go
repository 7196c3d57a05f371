package basket

import (
	"errors"
	"testing"
)

// FuzzUnsubscribeToken: whatever a client sends as a token, opening it
// never panics; a token it accepts names a valid normalised address and is
// exactly the token issued for it, so no two spellings of a token pass.
func FuzzUnsubscribeToken(f *testing.F) {
	kr := mustKeyring(f, wbSecretA, wbSecretB)
	e := &Engine{keys: kr}
	for _, a := range []string{"ann@example.com", "x@y.io", "Ünïcode@exämple.org"} {
		f.Add(e.UnsubscribeToken(a))
	}
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, token string) {
		email, err := kr.openUnsubscribe(token)
		if err != nil {
			if !errors.Is(err, ErrTokenInvalid) && !errors.Is(err, ErrTokenMissing) {
				t.Fatalf("openUnsubscribe(%q) = %v; want ErrTokenInvalid or ErrTokenMissing", token, err)
			}
			return
		}
		if validateEmail(email) != nil || NormalizeEmail(email) != email {
			t.Fatalf("accepted a token for %q, not a normalised address", email)
		}
		if again := e.UnsubscribeToken(email); again != token {
			t.Fatalf("accepted %q; the token of its address is %q", token, again)
		}
	})
}
