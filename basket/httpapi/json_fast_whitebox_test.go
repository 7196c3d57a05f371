package httpapi

import (
	"math/rand/v2"
	"testing"
	"time"
)

// randomJSONString is a string of up to 40 bytes drawn mostly from those
// that need a look: controls, '"', '\\', the bytes of U+2028 and of other
// multi-byte characters, bytes of invalid UTF-8, and plain neighbours of
// the SWAR tests' constants ('!', '#', '[', ']', 0x1f, 0x7f).
func randomJSONString(r *rand.Rand) string {
	pool := []string{"a", "Z", " ", "!", "#", "[", "]", "/", "&", "<", ">", "\x7f", "\x1f", "\x00", "\n", "\t",
		`"`, `\`, "\u2028", "\u2029", "é", "日", "🎉", "\xff", "\xc3", "\xe2\x80", "\x80"}
	n := r.IntN(41)
	b := make([]byte, 0, n*2)
	for len(b) < n {
		if r.IntN(3) == 0 {
			b = append(b, pool[r.IntN(len(pool))]...)
		} else {
			b = append(b, byte('a'+r.IntN(26)))
		}
	}
	return string(b)
}

// TestPlainLenExact: plainLen finds the first byte at or after i that is
// not plain, exactly, at every i of random strings (every alignment of the
// eight-byte words and of the last one).
func TestPlainLenExact(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		s := randomJSONString(r)
		for i := 0; i <= len(s); i++ {
			want := i
			for want < len(s) && plain[s[want]] {
				want++
			}
			if got := plainLen(s, i); got != want {
				t.Fatalf("plainLen(%q, %d) = %d; want %d", s, i, got, want)
			}
		}
	}
	// Every byte value at every position of a word and of the tail.
	for c := range 256 {
		for n := 1; n <= 19; n++ {
			for at := range n {
				b := []byte("abcdefghijklmnopqrs"[:n])
				b[at] = byte(c)
				want := n
				if !plain[c] {
					want = at
				}
				if got := plainLen(string(b), 0); got != want {
					t.Fatalf("plainLen(%q, 0) = %d; want %d", b, got, want)
				}
			}
		}
	}
}

// TestAppendStringRandom: appendString writes what encoding/json writes for
// random strings heavy with bytes to escape.
func TestAppendStringRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	// A buffer with room to spare, its spare bytes garbage: the words
	// written ahead of an escape must not show.
	roomy := make([]byte, 4096)
	for range 50000 {
		s := randomJSONString(r)
		want := marshal(s)
		if got := appendString([]byte("x"), s); string(got[1:]) != string(want) || got[0] != 'x' {
			t.Fatalf("appendString(%q) = %s; want %s", s, got[1:], want)
		}
		for i := range roomy {
			roomy[i] = 0xff
		}
		at := r.IntN(64)
		if got := appendString(roomy[:at], s); string(got[at:]) != string(want) {
			t.Fatalf("appendString(%d bytes with room, %q) = %s; want %s", at, s, got[at:], want)
		}
	}
}

// appendTimeDateClock is appendTime as it was, through time.Time's Date
// and Clock: the reference the arithmetic is checked against.
func appendTimeDateClock(dst []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	ms := t.Nanosecond() / 1e6
	if y < 0 || y > 9999 {
		dst = append(dst, '"')
		dst = t.AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
		return append(dst, '"')
	}
	return append(dst, '"',
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-',
		byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z', '"')
}

// TestAppendTimeMatchesDateClock: appendTime writes what Date and Clock
// give, for random instants over years 0 to 9999 and beyond (the
// fallback), in several zones, and at the ends of the range, of years,
// of leap days and of centuries.
func TestAppendTimeMatchesDateClock(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("", 3600), time.FixedZone("", -12*3600-30*60), time.FixedZone("", 14*3600)}
	if ny, err := time.LoadLocation("America/New_York"); err == nil {
		zones = append(zones, ny)
	}
	check := func(tm time.Time) {
		t.Helper()
		if got, want := appendTime(nil, tm), appendTimeDateClock(nil, tm); string(got) != string(want) {
			t.Fatalf("appendTime(%v) = %s; want %s", tm, got, want)
		}
	}
	var edges []time.Time
	for _, y := range []int{0, 1, 4, 99, 100, 399, 400, 1600, 1899, 1900, 1969, 1970, 1971, 2000, 2023, 2024, 2100, 2400, 9999, 10000, -1} {
		for _, md := range [][2]int{{1, 1}, {2, 28}, {2, 29}, {3, 1}, {12, 31}} {
			day := time.Date(y, time.Month(md[0]), md[1], 0, 0, 0, 0, time.UTC)
			edges = append(edges, day, day.Add(-time.Nanosecond), day.Add(-time.Millisecond), day.Add(24*time.Hour-1))
		}
	}
	edges = append(edges, time.Time{}, time.Unix(minTimeSec, 0), time.Unix(minTimeSec-1, 999_999_999),
		time.Unix(maxTimeSec, 0), time.Unix(maxTimeSec-1, 999_999_999), time.Unix(0, 0), time.Unix(-1, 0),
		time.Unix(1<<62, 0), time.Unix(-1<<62, 0))
	for _, tm := range edges {
		for _, z := range zones {
			check(tm.In(z))
		}
	}
	r := rand.New(rand.NewPCG(9, 10))
	for range 200000 {
		sec := minTimeSec - 86400*400 + r.Int64N(maxTimeSec-minTimeSec+2*86400*400)
		if r.IntN(4) == 0 {
			sec = r.Int64N(4102444800) // 1970 to 2100
		}
		check(time.Unix(sec, r.Int64N(1e9)).In(zones[r.IntN(len(zones))]))
	}
}

// FuzzAppendTime: appendTime writes what Date and Clock give for any
// instant.
func FuzzAppendTime(f *testing.F) {
	f.Add(int64(1711467894), int64(975_000_000))
	f.Add(int64(minTimeSec), int64(0))
	f.Add(int64(maxTimeSec-1), int64(999_999_999))
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		tm := time.Unix(sec, nsec)
		if got, want := appendTime(nil, tm), appendTimeDateClock(nil, tm); string(got) != string(want) {
			t.Fatalf("appendTime(%v) = %s; want %s", tm, got, want)
		}
	})
}

// TestAppendStringMapOrder: tracking maps of any size are written with
// their keys sorted, as encoding/json writes them.
func TestAppendStringMapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for i := range 2000 {
		var m map[string]string
		if r.IntN(8) != 0 {
			m = map[string]string{}
		}
		for range r.IntN(20) {
			if m != nil {
				m[randomJSONString(r)] = randomJSONString(r)
			}
		}
		if m != nil && i%4 == 0 {
			// The key of the fast path, alone or not, and its neighbours.
			m[[]string{"tag", "tag", "ta", "tag ", "Tag", "tag\x00"}[r.IntN(6)]] = randomJSONString(r)
		}
		want := "{}"
		if len(m) > 0 {
			want = string(marshal(m))
		}
		if got := appendStringMap(nil, m); string(got) != want {
			t.Fatalf("appendStringMap(%q) = %s; want %s", m, got, want)
		}
	}
	for _, m := range []map[string]string{{"tag": "web"}, {"tag": "\"<\u2028"}, {"tag": ""}, {"ta": "web"}, {"Tag": "x"}, {"tag": "a", "b": "c"}, {"": ""}} {
		if got, want := appendStringMap(nil, m), marshal(m); string(got) != string(want) {
			t.Errorf("appendStringMap(%q) = %s; want %s", m, got, want)
		}
	}
}

// TestAppendStringEveryPosition: a byte to escape (or a multi-byte
// character, valid or not) at every position of plain strings of every
// length up to 40, alone or after another, is written as encoding/json
// writes it: every word and overlap of appendStringBody meets it.
func TestAppendStringEveryPosition(t *testing.T) {
	plainText := "abcdefghijklmnopqrstuvwxyz0123456789ABCD"
	for _, c := range []string{`"`, `\`, "\x00", "\x1f", "\n", "\u2028", "é", "\xff", "!", "#", "\x7f"} {
		for n := 1; n <= len(plainText); n++ {
			for at := range n {
				for _, second := range []int{-1, at + 1, n - 1} {
					b := []byte(plainText[:n])
					if second > at && second < n {
						b[second] = '"'
					}
					s := string(b[:at]) + c + string(b[at+1:])
					if got, want := appendString([]byte("x"), s), marshal(s); string(got[1:]) != string(want) {
						t.Fatalf("appendString(%q) = %s; want %s", s, got[1:], want)
					}
				}
			}
		}
	}
}
