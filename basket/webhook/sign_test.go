package webhook

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	secretA = []byte(strings.Repeat("a1", 32))
	secretB = []byte(strings.Repeat("b2", 32))
)

func TestSignVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"basket.abandoned"}`)
	rotating := Sign([][]byte{secretA, secretB}, now.Unix(), body)
	if got := strings.Count(rotating, ",v1="); got != 2 {
		t.Fatalf("Sign with two secrets = %q; want two v1", rotating)
	}
	if !strings.HasPrefix(rotating, "t=1800000000,v1=") {
		t.Fatalf("Sign = %q; want it to start t=1800000000,v1=", rotating)
	}
	for _, tt := range []struct {
		name      string
		secret    []byte
		header    string
		body      []byte
		at        time.Time
		tolerance time.Duration
		want      error
	}{
		{"one secret", secretA, Sign([][]byte{secretA}, now.Unix(), body), body, now, time.Minute, nil},
		{"rotation, old secret", secretA, rotating, body, now, time.Minute, nil},
		{"rotation, new secret", secretB, rotating, body, now, time.Minute, nil},
		{"other secret", secretB, Sign([][]byte{secretA}, now.Unix(), body), body, now, time.Minute, ErrSignatureMismatch},
		{"body changed", secretA, rotating, append(bytes.Clone(body), ' '), now, time.Minute, ErrSignatureMismatch},
		{"t changed", secretA, strings.Replace(rotating, "t=1800000000", "t=1800000001", 1), body, now, time.Minute, ErrSignatureMismatch},
		{"within tolerance, late", secretA, rotating, body, now.Add(59 * time.Second), time.Minute, nil},
		{"within tolerance, early", secretA, rotating, body, now.Add(-59 * time.Second), time.Minute, nil},
		{"too late", secretA, rotating, body, now.Add(61 * time.Second), time.Minute, ErrSignatureExpired},
		{"too early", secretA, rotating, body, now.Add(-61 * time.Second), time.Minute, ErrSignatureExpired},
		{"default tolerance", secretA, rotating, body, now.Add(4 * time.Minute), 0, nil},
		{"past the default tolerance", secretA, rotating, body, now.Add(6 * time.Minute), 0, ErrSignatureExpired},
		{"empty", secretA, "", body, now, time.Minute, ErrSignatureMalformed},
		{"no v1", secretA, "t=1800000000", body, now, time.Minute, ErrSignatureMalformed},
		{"no t", secretA, rotating[strings.Index(rotating, ",")+1:], body, now, time.Minute, ErrSignatureMalformed},
		{"short v1", secretA, "t=1800000000,v1=abcd", body, now, time.Minute, ErrSignatureMalformed},
		{"t twice", secretA, "t=1,t=2," + rotating[strings.Index(rotating, ",")+1:], body, now, time.Minute, ErrSignatureMalformed},
		{"negative t", secretA, "t=-5" + rotating[strings.Index(rotating, ","):], body, now, time.Minute, ErrSignatureMalformed},
		{"spaces and unknown keys", secretA, " t=1800000000 , v0=zz," + strings.ReplaceAll(rotating[strings.Index(rotating, ",")+1:], ",", " , "), body, now, time.Minute, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := verifyAt(tt.secret, tt.header, tt.body, tt.tolerance, tt.at)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Verify(%q) = %v; want %v", tt.header, err, tt.want)
			}
		})
	}
}

func TestVerifyNow(t *testing.T) {
	body := []byte(`{}`)
	if err := Verify(secretA, Sign([][]byte{secretA}, time.Now().Unix(), body), body, time.Minute); err != nil {
		t.Errorf("Verify of a fresh signature = %v; want nil", err)
	}
	old := time.Now().Add(-time.Hour).Unix()
	if err := Verify(secretA, Sign([][]byte{secretA}, old, body), body, time.Minute); !errors.Is(err, ErrSignatureExpired) {
		t.Errorf("Verify of an hour-old signature = %v; want ErrSignatureExpired", err)
	}
}

func TestParseSignatureLimits(t *testing.T) {
	v1 := ",v1=" + strings.Repeat("0", 64)
	if _, err := parseSignature("t=1" + strings.Repeat(v1, maxV1)); err != nil {
		t.Errorf("%d v1: %v; want them read", maxV1, err)
	}
	if _, err := parseSignature("t=1" + strings.Repeat(v1, maxV1+1)); !errors.Is(err, ErrSignatureMalformed) {
		t.Errorf("%d v1: %v; want ErrSignatureMalformed", maxV1+1, err)
	}
	if _, err := parseSignature("t=1" + v1 + ",x=" + strings.Repeat("y", maxHeaderLen)); !errors.Is(err, ErrSignatureMalformed) {
		t.Errorf("a header over %d bytes: %v; want ErrSignatureMalformed", maxHeaderLen, err)
	}
}

// FuzzParseSignature: the parser of the Abandoned-Signature header never
// panics; what it accepts has one t of digits and 1 to maxV1 v1 of 32
// bytes, and writing those back in the canonical form reads the same.
func FuzzParseSignature(f *testing.F) {
	body := []byte(`{"id":"evt_1"}`)
	f.Add(Sign([][]byte{secretA}, 1_800_000_000, body))
	f.Add(Sign([][]byte{secretA, secretB}, 1, body))
	f.Add(" t=12 , v1=" + strings.Repeat("ab", 32) + ",v2=zz")
	f.Add("t=,v1=")
	f.Add("t=1,t=2")
	f.Add("=,=")
	f.Fuzz(func(t *testing.T, header string) {
		sig, err := parseSignature(header)
		if err != nil {
			if !errors.Is(err, ErrSignatureMalformed) {
				t.Fatalf("parseSignature(%q) = %v; want ErrSignatureMalformed", header, err)
			}
			return
		}
		if sig.t < 0 || strconv.FormatInt(sig.t, 10) != strings.TrimLeft(sig.ts, "0") && sig.t != 0 {
			t.Fatalf("parseSignature(%q): t %d from %q", header, sig.t, sig.ts)
		}
		if len(sig.v1) == 0 || len(sig.v1) > maxV1 {
			t.Fatalf("parseSignature(%q): %d v1", header, len(sig.v1))
		}
		var b strings.Builder
		b.WriteString("t=" + sig.ts)
		for _, v := range sig.v1 {
			if len(v) != 32 {
				t.Fatalf("parseSignature(%q): a v1 of %d bytes", header, len(v))
			}
			b.WriteString(",v1=")
			for _, c := range v {
				b.WriteString(strconv.FormatUint(uint64(c)|0x100, 16)[1:])
			}
		}
		again, err := parseSignature(b.String())
		if err != nil || again.ts != sig.ts || len(again.v1) != len(sig.v1) {
			t.Fatalf("canonical %q of %q = %+v, %v; want %+v", b.String(), header, again, err, sig)
		}
		for i := range sig.v1 {
			if !bytes.Equal(again.v1[i], sig.v1[i]) {
				t.Fatalf("canonical %q of %q: v1 %d differs", b.String(), header, i)
			}
		}
		// Verify never panics on it, and a made-up header never matches.
		if err := verifyAt(secretA, header, body, time.Minute, time.Unix(sig.t, 0)); err == nil && header != Sign([][]byte{secretA}, sig.t, body) {
			if !strings.Contains(header, Sign([][]byte{secretA}, sig.t, body)[len("t=")+len(sig.ts)+1:]) {
				t.Fatalf("Verify accepted %q, which holds no true signature", header)
			}
		}
	})
}
