package httpapi

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/basketlab/abandoned/basket"
)

// The fast decoder of events. encoding/json spends most of the cost of
// ingest in reflection and validation passes; this reads the common form of
// an event in one pass, without reflection, into strings that share one
// copy of the event's text (the engine clones what it keeps). It declines
// (returns false) on anything less common: escapes in strings, duplicate
// keys, keys that differ from the wire names only in case, nulls inside
// arrays, non-empty customFields, values of the wrong JSON type, malformed
// JSON. The caller then decodes that event with encoding/json, which gives
// the same result or the error to report. FuzzFastDecoder checks that the
// two agree.

// fastScanner reads JSON from a string.
type fastScanner struct {
	s string
	i int
}

func (p *fastScanner) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips white space and reports whether the next byte is c, consuming
// it if so.
func (p *fastScanner) next(c byte) bool {
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// null consumes a null literal if one is next.
func (p *fastScanner) null() bool {
	p.ws()
	if strings.HasPrefix(p.s[p.i:], "null") {
		p.i += 4
		return true
	}
	return false
}

// str reads a string without escapes, control characters or invalid UTF-8,
// and returns it as a substring of the input.
func (p *fastScanner) str() (string, bool) {
	p.ws()
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return "", false
	}
	start := p.i + 1
	ascii := true
	for j := start; j < len(p.s); j++ {
		c := p.s[j]
		switch {
		case c == '"':
			v := p.s[start:j]
			if !ascii && !utf8.ValidString(v) {
				return "", false
			}
			p.i = j + 1
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// optStr reads a string or null (which leaves *dst as it is).
func (p *fastScanner) optStr(dst *string) bool {
	if p.null() {
		return true
	}
	v, ok := p.str()
	*dst = v
	return ok
}

// objState is the progress through an object for key.
type objState struct {
	seen uint32 // known keys met
	n    int    // keys met
}

// Results of key besides a known key's index.
const (
	objEnd     = -1 // the object ended
	objDecline = -2 // encoding/json must decide
)

// key moves to the next key of the object whose '{' has been read and
// returns its index in known, with the scanner at its value; unknown keys
// and their values are skipped. A key that matches a known one only when
// case is ignored (as encoding/json would match it), or that repeats one,
// declines.
func (p *fastScanner) key(known []string, st *objState) int {
	for {
		if p.next('}') {
			return objEnd
		}
		if st.n > 0 && !p.next(',') {
			return objDecline
		}
		key, ok := p.str()
		if !ok || !p.next(':') {
			return objDecline
		}
		st.n++
		k := -1
		for i, name := range known {
			if key == name {
				k = i
				break
			}
			if strings.EqualFold(key, name) {
				return objDecline
			}
		}
		if k >= 0 {
			if st.seen&(1<<k) != 0 {
				return objDecline
			}
			st.seen |= 1 << k
			return k
		}
		if !isASCII(key) || !p.skip(0) {
			return objDecline // a non-ASCII key may fold onto a known one
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// skip consumes any JSON value, checking its grammar. It declines deep
// nesting and strings it cannot check simply.
func (p *fastScanner) skip(depth int) bool {
	if depth > 64 {
		return false
	}
	p.ws()
	if p.i >= len(p.s) {
		return false
	}
	switch c := p.s[p.i]; {
	case c == '"':
		return p.skipString()
	case c == '{':
		p.i++
		if p.next('}') {
			return true
		}
		for {
			p.ws()
			if p.i >= len(p.s) || p.s[p.i] != '"' || !p.skipString() || !p.next(':') || !p.skip(depth+1) {
				return false
			}
			if p.next(',') {
				continue
			}
			return p.next('}')
		}
	case c == '[':
		p.i++
		if p.next(']') {
			return true
		}
		for {
			if !p.skip(depth + 1) {
				return false
			}
			if p.next(',') {
				continue
			}
			return p.next(']')
		}
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == 'n':
		return p.lit("null")
	}
	return p.number()
}

// skipString consumes a string, checking its escapes. Invalid UTF-8 is
// allowed, as encoding/json allows it.
func (p *fastScanner) skipString() bool {
	for j := p.i + 1; j < len(p.s); j++ {
		switch c := p.s[j]; {
		case c == '"':
			p.i = j + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			j++
			if j >= len(p.s) {
				return false
			}
			switch p.s[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(p.s) {
					return false
				}
				for _, h := range []byte(p.s[j+1 : j+5]) {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				j += 4
			default:
				return false
			}
		}
	}
	return false
}

func (p *fastScanner) lit(l string) bool {
	if strings.HasPrefix(p.s[p.i:], l) {
		p.i += len(l)
		return true
	}
	return false
}

// number consumes a number of JSON's grammar.
func (p *fastScanner) number() bool {
	s, i := p.s, p.i
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	p.i = i
	return true
}

var (
	eventKeys    = []string{"type", "basketId", "at", "entry", "orderItems", "tracking", "customFields", "identity", "customerDetails", "email"}
	itemKeys     = []string{"name", "path", "products"}
	productKeys  = []string{"path", "productCode"}
	identityKeys = []string{"sub", "iss", "service", "type"}
	detailsKeys  = []string{"email", "firstName", "lastName", "companyName"}
)

// eventTypes holds the wire names, so that decoding a type allocates
// nothing.
var eventTypes = func() map[string]basket.EventType {
	m := map[string]basket.EventType{}
	for _, t := range []basket.EventType{
		basket.EventCreated, basket.EventItemsChanged, basket.EventIdentified, basket.EventEmailCaptured,
		basket.EventCustomerDetailsChanged, basket.EventCompleted, basket.EventRecovered, basket.EventErased,
	} {
		m[string(t)] = t
	}
	return m
}()

// fastEvent decodes one event object that makes up the whole of s (white
// space aside). It reports false when encoding/json must decide.
func fastEvent(s string, ev *basket.Event) bool {
	p := fastScanner{s: s}
	if !p.next('{') {
		return false
	}
	var st objState
	for {
		ok := true
		switch p.key(eventKeys, &st) {
		case objEnd:
			p.ws()
			return p.i == len(p.s)
		case objDecline:
			return false
		case 0: // type
			if !p.null() {
				var v string
				v, ok = p.str()
				if t, known := eventTypes[v]; known {
					ev.Type = t
				} else {
					ev.Type = basket.EventType(v)
				}
			}
		case 1:
			ok = p.optStr(&ev.BasketID)
		case 2: // at
			if !p.null() {
				var v string
				if v, ok = p.str(); ok {
					var err error
					ev.At, err = time.Parse(time.RFC3339Nano, v)
					ok = err == nil
				}
			}
		case 3:
			ok = p.optStr(&ev.Entry)
		case 4:
			ok = p.items(&ev.OrderItems)
		case 5: // tracking
			if !p.null() {
				ev.Tracking = map[string]string{}
				ok = p.stringMap(ev.Tracking)
			}
		case 6: // customFields: only {} here
			if !p.null() {
				ok = p.next('{') && p.next('}')
				ev.CustomFields = map[string]any{}
			}
		case 7:
			if !p.null() {
				ev.Identity = &basket.Identity{}
				ok = p.identity(ev.Identity)
			}
		case 8:
			if !p.null() {
				ev.CustomerDetails = &basket.CustomerDetails{}
				ok = p.details(ev.CustomerDetails)
			}
		case 9:
			ok = p.optStr(&ev.Email)
		}
		if !ok {
			return false
		}
	}
}

func (p *fastScanner) identity(id *basket.Identity) bool {
	if !p.next('{') {
		return false
	}
	var st objState
	for {
		var dst *string
		switch p.key(identityKeys, &st) {
		case objEnd:
			return true
		case objDecline:
			return false
		case 0:
			dst = &id.Sub
		case 1:
			dst = &id.Iss
		case 2:
			dst = &id.Service
		case 3:
			dst = &id.Type
		}
		if !p.optStr(dst) {
			return false
		}
	}
}

func (p *fastScanner) details(d *basket.CustomerDetails) bool {
	if !p.next('{') {
		return false
	}
	var st objState
	for {
		var dst *string
		switch p.key(detailsKeys, &st) {
		case objEnd:
			return true
		case objDecline:
			return false
		case 0:
			dst = &d.Email
		case 1:
			dst = &d.FirstName
		case 2:
			dst = &d.LastName
		case 3:
			dst = &d.CompanyName
		}
		if !p.optStr(dst) {
			return false
		}
	}
}

// items reads orderItems: null or an array of objects.
func (p *fastScanner) items(dst *[]basket.OrderItem) bool {
	if p.null() {
		return true
	}
	if !p.next('[') {
		return false
	}
	items := make([]basket.OrderItem, 0, 1)
	for n := 0; ; n++ {
		if p.next(']') {
			break
		}
		if n > 0 && !p.next(',') {
			return false
		}
		var it basket.OrderItem
		if !p.next('{') {
			return false
		}
		var st objState
	fields:
		for {
			ok := true
			switch p.key(itemKeys, &st) {
			case objEnd:
				break fields
			case objDecline:
				return false
			case 0:
				ok = p.optStr(&it.Name)
			case 1:
				ok = p.optStr(&it.Path)
			case 2:
				ok = p.products(&it.Products)
			}
			if !ok {
				return false
			}
		}
		items = append(items, it)
	}
	*dst = items
	return true
}

// products reads null or an array of product objects.
func (p *fastScanner) products(dst *[]basket.Product) bool {
	if p.null() {
		return true
	}
	if !p.next('[') {
		return false
	}
	ps := make([]basket.Product, 0, 1)
	for n := 0; ; n++ {
		if p.next(']') {
			break
		}
		if n > 0 && !p.next(',') {
			return false
		}
		var pr basket.Product
		if !p.next('{') {
			return false
		}
		var st objState
	fields:
		for {
			ok := true
			switch p.key(productKeys, &st) {
			case objEnd:
				break fields
			case objDecline:
				return false
			case 0:
				ok = p.optStr(&pr.Path)
			case 1:
				ok = p.optStr(&pr.ProductCode)
			}
			if !ok {
				return false
			}
		}
		ps = append(ps, pr)
	}
	*dst = ps
	return true
}

// stringMap reads an object of strings into m. Duplicate keys decline.
func (p *fastScanner) stringMap(m map[string]string) bool {
	if !p.next('{') {
		return false
	}
	for n := 0; ; n++ {
		if p.next('}') {
			return true
		}
		if n > 0 && !p.next(',') {
			return false
		}
		k, ok := p.str()
		if !ok || !p.next(':') {
			return false
		}
		v, ok := p.str()
		if !ok {
			return false
		}
		if _, dup := m[k]; dup {
			return false
		}
		m[k] = v
	}
}
