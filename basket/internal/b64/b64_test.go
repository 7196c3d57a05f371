package b64

import (
	"encoding/base64"
	"testing"
)

// FuzzDecode: what the strict decoder accepts is the one encoding of what
// it decodes to, and it refuses no canonical encoding.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "AA", "AB", "AAA", "AAB", "AAAA", "A", "A\nA", "AA==", "+/", "-_", "Zm9vYmFy"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf [64]byte
		n, ok := Decode(buf[:], s)
		if !ok {
			if len(s) <= 80 {
				if b, err := base64.RawURLEncoding.Strict().DecodeString(s); err == nil && base64.RawURLEncoding.EncodeToString(b) == s {
					t.Fatalf("Decode(%q) refused a canonical encoding", s)
				}
			}
			return
		}
		if got := base64.RawURLEncoding.EncodeToString(buf[:n]); got != s {
			t.Fatalf("Decode(%q) accepted a non-canonical encoding of %q", s, got)
		}
	})
}
