package httpapi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/basketlab/abandoned/basket"
)

// The JSON of pages is written by hand, without reflection: a page of 50
// baskets through encoding/json costs several times as much and an
// allocation per value. Every function here appends to a []byte and matches
// the output of an encoding/json Encoder with SetEscapeHTML(false) for the
// same values byte for byte (map keys sorted); the tests check that. '<',
// '>' and '&' are written as they are, as the hosted API and JavaScript's
// JSON.stringify write them: a recoveryLink reads "…&recover=…". Answers go
// out as application/json with nosniff, never into HTML.

const hex = "0123456789abcdef"

// plain[b] is true for the bytes that appear in a JSON string as they are
// and begin no multi-byte character: printable ASCII but '"' and '\\'.
var plain = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// appendString appends s as a JSON string, escaped as encoding/json escapes
// it without HTML escaping: control characters, '"', '\\', U+2028 and
// U+2029, and invalid UTF-8 as U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendStringBody(dst, s)
	return append(dst, '"')
}

// appendStringBody appends s escaped as appendString escapes it, without
// the quotes: a writer of a known shape puts those into the constant
// before and after. Plain bytes, the usual kind, are checked and copied
// eight at a time in one pass.
func appendStringBody(dst []byte, s string) []byte {
	n := len(dst)
	if cap(dst)-n < len(s) {
		dst = slices.Grow(dst, len(s))
	}
	d := dst[n : n+len(s)]
	if len(s) < 8 {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !plain[c] {
				return appendEscaped(dst[:n+i], s, i, i)
			}
			d[i] = c
		}
		return dst[:n+len(s)]
	}
	// The first eight bytes, then eight at a time from where the rest is
	// a whole number of words: the second word may overlap the first. A
	// word's flags depend on its own bytes only.
	x := load64(s)
	if m := special(x); m != 0 {
		return appendEscaped(dst[:n], s, 0, bits.TrailingZeros64(m)>>3)
	}
	binary.LittleEndian.PutUint64(d, x)
	// From here i+8 <= len(s) = len(d): the words are read and written
	// through unsafe pointers, without the checks of slicing (a third of
	// the cost of a page's strings).
	src, out := unsafe.Pointer(unsafe.StringData(s)), unsafe.Pointer(unsafe.SliceData(d))
	for i := (len(s)-1)%8 + 1; i < len(s); i += 8 {
		x := binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(src, i))[:])
		if m := special(x); m != 0 {
			return appendEscaped(dst[:n+i], s, i, i+bits.TrailingZeros64(m)>>3)
		}
		binary.LittleEndian.PutUint64((*[8]byte)(unsafe.Add(out, i))[:], x)
	}
	return dst[:n+len(s)]
}

// appendEscaped appends s[start:] escaped, whose bytes from start to i are
// plain and whose byte i is not.
func appendEscaped(dst []byte, s string, start, i int) []byte {
	for i < len(s) {
		if b := s[i]; b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
		} else {
			c, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case c == utf8.RuneError && size == 1:
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				start = i + size
			case c == '\u2028' || c == '\u2029':
				dst = append(dst, s[start:i]...)
				dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
				start = i + size
			}
			i += size
		}
		i = plainLen(s, i)
	}
	return append(dst, s[start:]...)
}

// SWAR constants: a byte of 0x01 and of 0x80 in every lane.
const (
	lanes01 = 0x0101010101010101
	lanes80 = 0x8080808080808080
)

// plainLen returns the index of the first byte of s at or after i that is
// not plain[], or len(s).
func plainLen(s string, i int) int {
	for ; len(s)-i >= 8; i += 8 {
		if m := special(load64(s[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	if i == len(s) {
		return i
	}
	if len(s) < 8 {
		for ; i < len(s); i++ {
			if !plain[s[i]] {
				return i
			}
		}
		return i
	}
	// The last bytes: the last eight, shifted so that the first of them
	// not yet looked at comes first. Zero bytes come in at the top: they
	// are flagged, after every real byte.
	r := len(s) - i
	m := special(load64(s[len(s)-8:]) >> (64 - 8*r))
	if n := bits.TrailingZeros64(m) >> 3; n < r {
		return i + n
	}
	return len(s)
}

// load64 reads the first eight bytes of w as a little-endian word; the
// compiler turns it into one load.
func load64(w string) uint64 {
	_ = w[7]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// special returns the high bit of each byte of x that is not plain[] (not
// ASCII, a control character, '"' or '\\'), and maybe of bytes after such
// a byte: the usual zero-byte tests carry a borrow out of a byte that
// matches only, so the lowest bit set marks the first byte that is not
// plain, exactly. (x-0x20) sets the high bit of a byte below 0x20 (and of
// some at or above 0x80, which x flags anyway); (x^c)-1 of a byte equal to
// c (and of some above 0x80). The usual &^x of each test is left out: it
// only clears high bits that x sets again.
func special(x uint64) uint64 {
	return (x | (x - lanes01*0x20) | (x ^ lanes01*'"' - lanes01) | (x ^ lanes01*'\\' - lanes01)) & lanes80
}

// The range of appendTime's arithmetic: 0000-01-01T00:00:00Z to
// 10000-01-01T00:00:00Z, in unix seconds.
const (
	minTimeSec = -62167219200
	maxTimeSec = 253402300800
)

// appendTime appends t as a JSON string in RFC 3339, UTC, with exactly three
// fractional digits (truncated): "2024-03-26T15:44:54.975Z". The date is
// worked out from the unix time (the civil-from-days algorithm of Howard
// Hinnant), which costs a fraction of time.Time's Date and Clock.
func appendTime(dst []byte, t time.Time) []byte {
	sec := t.Unix()
	if sec < minTimeSec || sec >= maxTimeSec {
		// Not reachable with validated events; keep the output valid.
		dst = append(dst, '"')
		dst = t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
		return append(dst, '"')
	}
	ms := uint(t.Nanosecond()) / 1e6
	s := uint64(sec - minTimeSec) // since 0000-01-01
	days, rem := s/86400, uint(s%86400)
	h, mi, sc := rem/3600, rem/60%60, rem%60
	// Days since -0400-03-01: whole 400-year eras, years from March.
	z := days - 60 + 146097
	era := z / 146097
	doe := z - era*146097                                  // day of the era, [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // year of the era, [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // day of the year from March, [0, 365]
	mp := (5*doy + 2) / 153                                // month from March, [0, 11]
	d := uint(doy - (153*mp+2)/5 + 1)                      // [1, 31]
	y := uint(yoe + era*400 - 400)
	mo := uint(mp) + 3
	if mo > 12 {
		mo -= 12
		y++
	}
	yh, yl := y/100, y%100
	msl := ms % 100
	return append(dst, '"',
		digits2[2*yh], digits2[2*yh+1], digits2[2*yl], digits2[2*yl+1], '-',
		digits2[2*mo], digits2[2*mo+1], '-',
		digits2[2*d], digits2[2*d+1], 'T',
		digits2[2*h], digits2[2*h+1], ':',
		digits2[2*mi], digits2[2*mi+1], ':',
		digits2[2*sc], digits2[2*sc+1], '.',
		byte('0'+ms/100), digits2[2*msl], digits2[2*msl+1], 'Z', '"')
}

// digits2 holds the two digits of every number below 100.
const digits2 = "00010203040506070809" + "10111213141516171819" + "20212223242526272829" +
	"30313233343536373839" + "40414243444546474849" + "50515253545556575859" +
	"60616263646566676869" + "70717273747576777879" + "80818283848586878889" + "90919293949596979899"

// appendFloat appends f as encoding/json does (ES6 number formatting).
func appendFloat(dst []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(dst, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// appendAny appends a value decoded from JSON (nil, bool, float64, string,
// json.Number, []any, map[string]any); anything else goes through
// encoding/json.
func appendAny(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		return strconv.AppendBool(dst, v)
	case float64:
		return appendFloat(dst, v)
	case string:
		return appendString(dst, v)
	case json.Number:
		if v == "" {
			return append(dst, '0')
		}
		if json.Valid([]byte(v)) {
			return append(dst, v...)
		}
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendAny(dst, e)
		}
		return append(dst, ']')
	case map[string]any:
		return appendAnyMap(dst, v)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return append(dst, "null"...)
	}
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

// appendAnyMap appends m as a JSON object with its keys sorted.
func appendAnyMap(dst []byte, m map[string]any) []byte { return appendMap(dst, m, appendAny) }

// appendStringMap appends m as a JSON object with its keys sorted; an empty
// or nil map is {}. A map of one key needs no sort, and the usual one,
// {"tag": …}, not even an iteration (which costs several lookups).
func appendStringMap(dst []byte, m map[string]string) []byte {
	switch len(m) {
	case 0:
		return append(dst, "{}"...)
	case 1:
		if v, ok := m["tag"]; ok {
			dst = append(dst, `{"tag":"`...)
			dst = appendStringBody(dst, v)
			return append(dst, `"}`...)
		}
		dst = append(dst, '{')
		for k, v := range m {
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendString(dst, v)
		}
		return append(dst, '}')
	}
	return appendMap(dst, m, appendString)
}

// appendMap appends m as a JSON object with its keys sorted, each value
// written by appendValue.
func appendMap[V any](dst []byte, m map[string]V, appendValue func([]byte, V) []byte) []byte {
	var arr [16]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendValue(dst, m[k])
	}
	return append(dst, '}')
}

// appendBasket appends one item of a page in the documented shape. With
// feed, it adds "abandonedAt". The quotes of strings are in the constants
// around them.
func appendBasket(dst []byte, b *basket.Basket, feed bool) []byte {
	dst = append(dst, `{"id":"`...)
	dst = appendStringBody(dst, b.ID)
	dst = append(dst, `","created":`...)
	dst = appendTime(dst, b.Created)
	if feed {
		dst = append(dst, `,"abandonedAt":`...)
		dst = appendTime(dst, b.AbandonedAt)
		dst = append(dst, `,"position":"`...)
		dst = strconv.AppendUint(dst, b.FeedPosition, 10)
		dst = append(dst, '"')
	}
	cd := &b.CustomerDetails
	dst = append(dst, `,"customerDetails":{"email":"`...)
	dst = appendStringBody(dst, cd.Email)
	if cd.FirstName != "" {
		dst = append(dst, `","firstName":"`...)
		dst = appendStringBody(dst, cd.FirstName)
	}
	if cd.LastName != "" {
		dst = append(dst, `","lastName":"`...)
		dst = appendStringBody(dst, cd.LastName)
	}
	if cd.CompanyName != "" {
		dst = append(dst, `","companyName":"`...)
		dst = appendStringBody(dst, cd.CompanyName)
	}
	dst = append(dst, `"},"orderItems":[`...)
	for i := range b.OrderItems {
		it := &b.OrderItems[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":"`...)
		dst = appendStringBody(dst, it.Name)
		dst = append(dst, `","path":"`...)
		dst = appendStringBody(dst, it.Path)
		dst = append(dst, `","products":[`...)
		for j := range it.Products {
			p := &it.Products[j]
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"path":"`...)
			dst = appendStringBody(dst, p.Path)
			dst = append(dst, `","productCode":"`...)
			dst = appendStringBody(dst, p.ProductCode)
			dst = append(dst, `"}`...)
		}
		dst = append(dst, "]}"...)
	}
	dst = append(dst, `],"tracking":`...)
	dst = appendStringMap(dst, b.Tracking)
	dst = append(dst, `,"identities":[`...)
	for i := range b.Identities {
		id := &b.Identities[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"sub":"`...)
		dst = appendStringBody(dst, id.Sub)
		dst = append(dst, `","iss":"`...)
		dst = appendStringBody(dst, id.Iss)
		dst = append(dst, `","service":"`...)
		dst = appendStringBody(dst, id.Service)
		dst = append(dst, `","type":"`...)
		dst = appendStringBody(dst, id.Type)
		dst = append(dst, `"}`...)
	}
	dst = append(dst, `],"entry":"`...)
	dst = appendStringBody(dst, b.Entry)
	if b.Completed {
		dst = append(dst, `","completed":true`...)
	} else {
		dst = append(dst, `","completed":false`...)
	}
	if len(b.CustomFields) > 0 {
		dst = append(dst, `,"customFields":`...)
		dst = appendAnyMap(dst, b.CustomFields)
	}
	dst = append(dst, `,"recoveryLink":"`...)
	dst = appendStringBody(dst, b.RecoveryLink)
	return append(dst, `"}`...)
}

// appendPage appends the answer of GET /api/checkout/abandoned.
func appendPage(dst []byte, p *basket.Page) []byte {
	dst = append(dst, `{"items":[`...)
	for i := range p.Items {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendBasket(dst, &p.Items[i], false)
	}
	return appendPageEnd(dst, p)
}

// appendPageEnd appends what follows the items of a page: queryMore and
// total as p says.
func appendPageEnd(dst []byte, p *basket.Page) []byte {
	dst = append(dst, ']')
	if p.Cursor != "" {
		dst = append(dst, `,"queryMore":{"from":`...)
		dst = appendString(dst, p.Cursor)
		dst = append(dst, `,"alias":`...)
		dst = appendString(dst, p.Alias)
		dst = append(dst, '}')
	}
	if p.Total >= 0 {
		dst = append(dst, `,"total":`...)
		dst = strconv.AppendInt(dst, int64(p.Total), 10)
	}
	return append(dst, "}\n"...)
}

// appendFeedPage appends the answer of GET /api/checkout/abandoned/feed.
func appendFeedPage(dst []byte, p *basket.FeedPage) []byte {
	dst = append(dst, `{"items":[`...)
	for i := range p.Items {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendBasket(dst, &p.Items[i], true)
	}
	return appendFeedEnd(dst, p)
}

// appendFeedEnd appends what follows the items of a feed page.
func appendFeedEnd(dst []byte, p *basket.FeedPage) []byte {
	dst = append(dst, `],"next":"`...)
	dst = strconv.AppendUint(dst, p.Next, 10)
	return append(dst, "\"}\n"...)
}

// appendCustomer appends the answer of GET /api/checkout/customer: the
// item shape of a page plus "state", and "abandonedAt", "recoveredAt" and
// "completedAt" where they are set.
func appendCustomer(dst []byte, bs []basket.Basket) []byte {
	dst = append(dst, `{"items":[`...)
	for i := range bs {
		b := &bs[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendBasket(dst, b, false)
		dst = dst[:len(dst)-1] // reopen the object
		dst = append(dst, `,"state":`...)
		dst = appendString(dst, b.State.String())
		for _, f := range [...]struct {
			name string
			t    time.Time
		}{{"abandonedAt", b.AbandonedAt}, {"recoveredAt", b.RecoveredAt}, {"completedAt", b.CompletedAt}} {
			if !f.t.IsZero() {
				dst = append(dst, `,"`...)
				dst = append(dst, f.name...)
				dst = append(dst, `":`...)
				dst = appendTime(dst, f.t)
			}
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}\n"...)
}

// appendMessage appends an error answer {"message":…}, with "index" when
// index >= 0.
func appendMessage(dst []byte, msg string, index int) []byte {
	dst = append(dst, `{"message":`...)
	dst = appendString(dst, msg)
	if index >= 0 {
		dst = append(dst, `,"index":`...)
		dst = strconv.AppendInt(dst, int64(index), 10)
	}
	return append(dst, "}\n"...)
}

// bufPool holds buffers for answers. Buffers that grew past maxPooledBuf
// are dropped rather than kept alive.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

const maxPooledBuf = 1 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
