package httpapi

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

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

// safe[b] is true for the ASCII bytes that appear in a JSON string as they
// are: printable, not '"' or '\\'.
var safe = func() (t [utf8.RuneSelf]bool) {
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
	start := 0
	for i := 0; i < len(s); {
		// Skip eight bytes at a time while none needs a closer look.
		for i+8 <= len(s) && !special8(load64(s, i)) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		if b := s[i]; b < utf8.RuneSelf {
			if safe[b] {
				i++
				continue
			}
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
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// SWAR constants: a byte of 0x01 and of 0x80 in every lane.
const (
	lanes01 = 0x0101010101010101
	lanes80 = 0x8080808080808080
)

// load64 reads s[i:i+8] as a little-endian word; the compiler turns it
// into one load.
func load64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// special8 reports whether any of the eight bytes in x may not be safe[]:
// a byte of a multi-byte character, a control character, '"' or '\\'
// (and '&', '<', '>', which the byte-wise check then lets through). Each pair of '"' and '&', '<' and '>' differs in one bit only,
// so one test finds either. The usual zero-byte test may flag a byte next
// to a real match, never a word without one.
func special8(x uint64) bool {
	q := x | lanes01*0x04 ^ lanes01*0x26 // zero where '"' or '&'
	a := x | lanes01*0x02 ^ lanes01*0x3e // zero where '<' or '>'
	b := x ^ lanes01*0x5c                // zero where '\\'
	t := x | (x-lanes01*0x20)&^x         // high bit: not ASCII or below 0x20
	t |= (q - lanes01) &^ q
	t |= (a - lanes01) &^ a
	t |= (b - lanes01) &^ b
	return t&lanes80 != 0
}

// appendTime appends t as a JSON string in RFC 3339, UTC, with exactly three
// fractional digits: "2024-03-26T15:44:54.975Z".
func appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	ms := t.Nanosecond() / 1e6
	if y < 0 || y > 9999 {
		// Not reachable with validated events; keep the output valid.
		dst = append(dst, '"')
		dst = t.AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
		return append(dst, '"')
	}
	dst = append(dst, '"',
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-',
		byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z', '"')
	return dst
}

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
// or nil map is {}.
func appendStringMap(dst []byte, m map[string]string) []byte {
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
// feed, it adds "abandonedAt".
func appendBasket(dst []byte, b *basket.Basket, feed bool) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, b.ID)
	dst = append(dst, `,"created":`...)
	dst = appendTime(dst, b.Created)
	if feed {
		dst = append(dst, `,"abandonedAt":`...)
		dst = appendTime(dst, b.AbandonedAt)
		dst = append(dst, `,"position":"`...)
		dst = strconv.AppendUint(dst, b.FeedPosition, 10)
		dst = append(dst, '"')
	}
	cd := &b.CustomerDetails
	dst = append(dst, `,"customerDetails":{"email":`...)
	dst = appendString(dst, cd.Email)
	if cd.FirstName != "" {
		dst = append(dst, `,"firstName":`...)
		dst = appendString(dst, cd.FirstName)
	}
	if cd.LastName != "" {
		dst = append(dst, `,"lastName":`...)
		dst = appendString(dst, cd.LastName)
	}
	if cd.CompanyName != "" {
		dst = append(dst, `,"companyName":`...)
		dst = appendString(dst, cd.CompanyName)
	}
	dst = append(dst, `},"orderItems":[`...)
	for i := range b.OrderItems {
		it := &b.OrderItems[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = appendString(dst, it.Name)
		dst = append(dst, `,"path":`...)
		dst = appendString(dst, it.Path)
		dst = append(dst, `,"products":[`...)
		for j := range it.Products {
			p := &it.Products[j]
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"path":`...)
			dst = appendString(dst, p.Path)
			dst = append(dst, `,"productCode":`...)
			dst = appendString(dst, p.ProductCode)
			dst = append(dst, '}')
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
		dst = append(dst, `{"sub":`...)
		dst = appendString(dst, id.Sub)
		dst = append(dst, `,"iss":`...)
		dst = appendString(dst, id.Iss)
		dst = append(dst, `,"service":`...)
		dst = appendString(dst, id.Service)
		dst = append(dst, `,"type":`...)
		dst = appendString(dst, id.Type)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"entry":`...)
	dst = appendString(dst, b.Entry)
	if b.Completed {
		dst = append(dst, `,"completed":true`...)
	} else {
		dst = append(dst, `,"completed":false`...)
	}
	if len(b.CustomFields) > 0 {
		dst = append(dst, `,"customFields":`...)
		dst = appendAnyMap(dst, b.CustomFields)
	}
	dst = append(dst, `,"recoveryLink":`...)
	dst = appendString(dst, b.RecoveryLink)
	return append(dst, '}')
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
