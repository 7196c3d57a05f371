package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The headers of every request.
const (
	// SignatureHeader carries t=<unix seconds>,v1=<hex HMAC-SHA256 of
	// "<t>.<body>">, one v1 for each of the endpoint's secrets.
	SignatureHeader = "Abandoned-Signature"
	// EventIDHeader carries the event's id, the body's "id": the same in
	// every repeat of the event, for a receiver to drop repeats.
	EventIDHeader = "Abandoned-Event-Id"
)

// DefaultTolerance is how far from now a signature's time may lie when
// Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Limits of a signature header that Verify reads.
const (
	maxHeaderLen = 4096
	maxV1        = 8
)

// Sign returns the Abandoned-Signature header of body sent at unix time t:
// a v1 for each secret, in order.
func Sign(secrets [][]byte, t int64, body []byte) string {
	ts := strconv.FormatInt(t, 10)
	var b strings.Builder
	b.Grow(len("t=") + len(ts) + len(secrets)*(len(",v1=")+2*sha256.Size))
	b.WriteString("t=")
	b.WriteString(ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a request a receiver got: header is its
// Abandoned-Signature, body the request's body exactly as received. It
// returns nil if one of the header's v1 is the HMAC-SHA256 of "<t>.<body>"
// with secret (compared in constant time) and t lies within tolerance of
// now (DefaultTolerance if tolerance is 0 or less); otherwise an error that
// is ErrSignatureMalformed, ErrSignatureMismatch or ErrSignatureExpired.
func Verify(secret []byte, header string, body []byte, tolerance time.Duration) error {
	return verifyAt(secret, header, body, tolerance, time.Now())
}

func verifyAt(secret []byte, header string, body []byte, tolerance time.Duration, now time.Time) error {
	sig, err := parseSignature(header)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	want := mac(secret, sig.ts, body)
	ok := false
	for _, v := range sig.v1 {
		if hmac.Equal(v, want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignatureMismatch
	}
	d := now.Sub(time.Unix(sig.t, 0))
	if d < -tolerance || d > tolerance {
		return fmt.Errorf("%w: signed %v from now", ErrSignatureExpired, d.Round(time.Second))
	}
	return nil
}

// signature is a parsed Abandoned-Signature header.
type signature struct {
	t  int64
	ts string   // t as it was written, which the HMAC covers
	v1 [][]byte // each a SHA-256 HMAC
}

// parseSignature reads t=<digits>,v1=<64 hex>[,v1=…]: exactly one t, one
// to maxV1 v1, white space around the parts allowed, other keys (later
// schemes) ignored.
func parseSignature(h string) (signature, error) {
	var sig signature
	if len(h) > maxHeaderLen {
		return sig, fmt.Errorf("%w: longer than %d bytes", ErrSignatureMalformed, maxHeaderLen)
	}
	haveT := false
	for part := range strings.SplitSeq(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return signature{}, fmt.Errorf("%w: a part is not key=value", ErrSignatureMalformed)
		}
		switch k {
		case "t":
			if haveT {
				return signature{}, fmt.Errorf("%w: t given twice", ErrSignatureMalformed)
			}
			if v == "" || len(v) > 18 || strings.Trim(v, "0123456789") != "" {
				return signature{}, fmt.Errorf("%w: t is not unix seconds", ErrSignatureMalformed)
			}
			t, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return signature{}, fmt.Errorf("%w: t is not unix seconds", ErrSignatureMalformed)
			}
			sig.t, sig.ts, haveT = t, v, true
		case "v1":
			if len(sig.v1) == maxV1 {
				return signature{}, fmt.Errorf("%w: more than %d v1", ErrSignatureMalformed, maxV1)
			}
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return signature{}, fmt.Errorf("%w: a v1 is not %d hex digits", ErrSignatureMalformed, 2*sha256.Size)
			}
			sig.v1 = append(sig.v1, b)
		case "":
			return signature{}, fmt.Errorf("%w: a part has no key", ErrSignatureMalformed)
		}
	}
	switch {
	case !haveT:
		return signature{}, fmt.Errorf("%w: no t", ErrSignatureMalformed)
	case len(sig.v1) == 0:
		return signature{}, fmt.Errorf("%w: no v1", ErrSignatureMalformed)
	}
	return sig, nil
}
