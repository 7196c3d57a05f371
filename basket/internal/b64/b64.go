// Package b64 decodes unpadded base64url strictly, for tokens and cursors:
// a tampered string is refused byte for byte.
package b64

import "encoding/base64"

// alphabet marks the bytes of base64url.
var alphabet = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = true
	}
	return t
}()

var (
	enc    = base64.RawURLEncoding
	strict = enc.Strict()
)

// Decode decodes s into dst: every byte must be of the alphabet
// (encoding/base64 skips CR and LF) and the unused bits of the last
// character zero, so that each value has one encoding. It returns the
// decoded length; false if s is not such an encoding or dst is too short.
func Decode(dst []byte, s string) (int, bool) {
	for i := 0; i < len(s); i++ {
		if !alphabet[s[i]] {
			return 0, false
		}
	}
	if enc.DecodedLen(len(s)) > len(dst) {
		return 0, false
	}
	n, err := strict.Decode(dst, []byte(s))
	return n, err == nil
}
