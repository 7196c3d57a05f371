package httpapi

import (
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/basketlab/abandoned/basket"
)

// paramError is a bad request parameter. Its message names the parameter
// and what is wrong, and never repeats the value (which may be an email).
type paramError struct {
	param  string
	reason string
}

func (e *paramError) Error() string { return e.param + ": " + e.reason }

// rawParams walks a raw query string and calls fn with each unescaped name
// and value, stopping when fn returns false. Pairs that fail to unescape are
// reported with ok false. It allocates only for values that hold escapes.
func rawParams(raw string, fn func(name, value string, ok bool) bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		n, err1 := url.QueryUnescape(name)
		v, err2 := url.QueryUnescape(value)
		if !fn(n, v, err1 == nil && err2 == nil) {
			return
		}
	}
}

// The parameters the query and feed endpoints know; others are ignored.
const (
	pLimit         = "limit"
	pCreatedAfter  = "createdAfter"
	pCreatedBefore = "createdBefore"
	pEmail         = "email"
	pTag           = "tag"
	pCount         = "count"
	pQueryMore     = "queryMore"
	pAfter         = "after"
)

// parseQuery reads the parameters of GET /api/checkout/abandoned from a raw
// query string. A parameter given twice takes its first value. Unknown
// parameters are ignored.
func parseQuery(raw string) (basket.Query, error) {
	var q basket.Query
	var err error
	seen := 0
	rawParams(raw, func(name, value string, ok bool) bool {
		bit := 0
		switch name {
		case pLimit:
			bit = 1
		case pCreatedAfter:
			bit = 2
		case pCreatedBefore:
			bit = 4
		case pEmail:
			bit = 8
		case pTag:
			bit = 16
		case pCount:
			bit = 32
		case pQueryMore:
			bit = 64
		default:
			return true
		}
		if seen&bit != 0 {
			return true
		}
		seen |= bit
		if !ok {
			err = &paramError{name, "malformed percent-encoding"}
			return false
		}
		switch name {
		case pLimit:
			q.Limit, err = parseLimit(value)
		case pCreatedAfter, pCreatedBefore:
			var t time.Time
			if t, err = parseTime(value); err != nil {
				err = &paramError{name, err.Error()}
			} else if name == pCreatedAfter {
				q.CreatedAfter = t
			} else {
				q.CreatedBefore = t
			}
		case pEmail:
			if value != "" && basket.ValidateEmail(value) != nil {
				err = &paramError{name, "not a valid email address"}
			}
			q.Email = value
		case pTag:
			if len(value) > basket.MaxFieldLen || !printable(value) {
				err = &paramError{name, "must be printable UTF-8 of at most 2048 bytes"}
			}
			q.Tag = value
		case pCount:
			switch value {
			case "exact":
				q.Count = true
			case "":
			default:
				err = &paramError{name, `the only accepted value is "exact"`}
			}
		case pQueryMore:
			q.Cursor = value
		}
		return err == nil
	})
	if err != nil {
		return basket.Query{}, err
	}
	if !q.CreatedAfter.IsZero() && !q.CreatedBefore.IsZero() && !q.CreatedAfter.Before(q.CreatedBefore) {
		return basket.Query{}, &paramError{pCreatedBefore, "must be later than createdAfter"}
	}
	return q, nil
}

// parseFeed reads the parameters of GET /api/checkout/abandoned/feed.
func parseFeed(raw string) (after uint64, limit int, err error) {
	seen := 0
	rawParams(raw, func(name, value string, ok bool) bool {
		bit := 0
		switch name {
		case pLimit:
			bit = 1
		case pAfter:
			bit = 2
		default:
			return true
		}
		if seen&bit != 0 {
			return true
		}
		seen |= bit
		if !ok {
			err = &paramError{name, "malformed percent-encoding"}
			return false
		}
		if name == pLimit {
			limit, err = parseLimit(value)
		} else if value != "" {
			var ok bool
			if after, ok = parseUint(value); !ok {
				err = &paramError{pAfter, "must be a position: a decimal integer from a previous page's next"}
			}
		}
		return err == nil
	})
	return after, limit, err
}

func parseLimit(s string) (int, error) {
	n, ok := parseUint(s)
	if !ok || n < 1 || n > basket.MaxLimit {
		return 0, &paramError{pLimit, "must be an integer from 1 to 1000"}
	}
	return int(n), nil
}

// parseUint parses a decimal integer of at most 19 digits.
func parseUint(s string) (uint64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// timeError says which ISO-8601 forms are accepted.
type timeError struct{}

func (timeError) Error() string {
	return "not an ISO-8601 date-time (e.g. 2020-12-01, 2020-12-01T16:00, 2020-12-01T16:00:00.000Z, 2020-12-01T16:00:00+01:00)"
}

// parseTime parses an ISO-8601 date or date-time: "2020-12-01",
// "2020-12-01T16:00", "2020-12-01T16:00:00", with an optional fraction of
// a second (up to nine digits) and an optional zone ("Z", "+01:00",
// "+0100", "+01"). No zone means UTC. The date and time may be separated by
// 'T', 't' or a space; a space in place of the '+' of an offset (what an
// unescaped '+' becomes in a query string) is read as '+'.
func parseTime(s string) (time.Time, error) {
	var bad timeError
	p := tparser{s: s}
	year := p.digits(4)
	if !p.byte('-') {
		return time.Time{}, bad
	}
	month := p.digits(2)
	if !p.byte('-') {
		return time.Time{}, bad
	}
	day := p.digits(2)
	if p.bad {
		return time.Time{}, bad
	}
	var hour, minute, sec, nsec int
	loc := time.UTC
	if !p.done() {
		if c := p.s[p.i]; c != 'T' && c != 't' && c != ' ' {
			return time.Time{}, bad
		}
		p.i++
		hour = p.digits(2)
		if !p.byte(':') {
			return time.Time{}, bad
		}
		minute = p.digits(2)
		if !p.done() && p.s[p.i] == ':' {
			p.i++
			sec = p.digits(2)
			if !p.done() && (p.s[p.i] == '.' || p.s[p.i] == ',') {
				p.i++
				start := p.i
				for !p.done() && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
					p.i++
				}
				n := p.i - start
				if n == 0 || n > 9 {
					return time.Time{}, bad
				}
				nsec = atoi(p.s[start:p.i])
				for ; n < 9; n++ {
					nsec *= 10
				}
			}
		}
		if p.bad {
			return time.Time{}, bad
		}
		if !p.done() {
			switch c := p.s[p.i]; c {
			case 'Z', 'z':
				p.i++
			case '+', '-', ' ':
				p.i++
				oh := p.digits(2)
				om := 0
				if !p.done() {
					if p.s[p.i] == ':' {
						p.i++
					}
					om = p.digits(2)
				}
				if p.bad || oh > 23 || om > 59 {
					return time.Time{}, bad
				}
				off := oh*3600 + om*60
				if c == '-' {
					off = -off
				}
				if off != 0 {
					loc = time.FixedZone("", off)
				}
			default:
				return time.Time{}, bad
			}
		}
	}
	if !p.done() || p.bad {
		return time.Time{}, bad
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, bad
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if t.Day() != day { // 2021-02-30
		return time.Time{}, bad
	}
	return t.UTC(), nil
}

// tparser reads fixed-width fields; bad records the first failure.
type tparser struct {
	s   string
	i   int
	bad bool
}

func (p *tparser) done() bool { return p.i >= len(p.s) }

func (p *tparser) digits(n int) int {
	if p.bad || p.i+n > len(p.s) {
		p.bad = true
		return 0
	}
	v := 0
	for _, c := range []byte(p.s[p.i : p.i+n]) {
		if c < '0' || c > '9' {
			p.bad = true
			return 0
		}
		v = v*10 + int(c-'0')
	}
	p.i += n
	return v
}

func (p *tparser) byte(c byte) bool {
	if p.bad || p.done() || p.s[p.i] != c {
		p.bad = true
		return false
	}
	p.i++
	return true
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}
