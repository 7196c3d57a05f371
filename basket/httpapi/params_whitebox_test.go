package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
)

func TestParseTime(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	good := []struct {
		in   string
		want time.Time
	}{
		{"2020-12-01", utc(2020, 12, 1, 0, 0, 0, 0)},
		{"2020-12-01T16:00", utc(2020, 12, 1, 16, 0, 0, 0)},
		{"2020-12-01t16:00", utc(2020, 12, 1, 16, 0, 0, 0)},
		{"2020-12-01 16:00", utc(2020, 12, 1, 16, 0, 0, 0)},
		{"2020-12-01T16:00:00Z", utc(2020, 12, 1, 16, 0, 0, 0)},
		{"2020-12-01T16:00:07z", utc(2020, 12, 1, 16, 0, 7, 0)},
		{"2020-12-01T16:00:00.5", utc(2020, 12, 1, 16, 0, 0, 500_000_000)},
		{"2020-12-01T16:00:00,25Z", utc(2020, 12, 1, 16, 0, 0, 250_000_000)},
		{"2020-12-01T16:00:00.123456789Z", utc(2020, 12, 1, 16, 0, 0, 123456789)},
		{"2020-12-01T16:00:00+01:00", utc(2020, 12, 1, 15, 0, 0, 0)},
		{"2020-12-01T16:00:00 01:00", utc(2020, 12, 1, 15, 0, 0, 0)},
		{"2020-12-01T16:00:00-0130", utc(2020, 12, 1, 17, 30, 0, 0)},
		{"2020-12-01T16:00+05", utc(2020, 12, 1, 11, 0, 0, 0)},
		{"2020-12-01T00:30:00+01:00", utc(2020, 11, 30, 23, 30, 0, 0)},
		{"2024-02-29", utc(2024, 2, 29, 0, 0, 0, 0)},
	}
	for _, tt := range good {
		got, err := parseTime(tt.in)
		if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("parseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{
		"", "2020", "2020-12", "2020-1-01", "2020-12-01T", "2020-12-01T16", "2020-12-01T16:0",
		"2020-12-01T16:00:", "2020-12-01T16:00:00.", "2020-12-01T16:00:00.1234567890",
		"2020-13-01", "2020-00-10", "2021-02-29", "2020-12-32", "2020-12-01T24:00", "2020-12-01T16:60",
		"2020-12-01T16:00:60", "2020-12-01T16:00:00+24:00", "2020-12-01T16:00:00+01:60",
		"2020-12-01T16:00:00+1", "2020-12-01T16:00:00+01:0", "2020-12-01T16:00:00ZZ", "2020-12-01X16:00",
		"yesterday", "２０２０-12-01", "2020-12-01T16:00:00 ",
	} {
		if got, err := parseTime(in); err == nil {
			t.Errorf("parseTime(%q) = %v; want an error", in, got)
		}
	}
}

func TestParseQuery(t *testing.T) {
	q, err := parseQuery("limit=10&createdAfter=2020-12-01&createdBefore=2020-12-02T00:00:00Z&email=Ann%40Example.com&tag=web&count=exact&queryMore=abc&x=1&limit=20")
	want := basket.Query{
		Limit: 10, CreatedAfter: time.Date(2020, 12, 1, 0, 0, 0, 0, time.UTC),
		CreatedBefore: time.Date(2020, 12, 2, 0, 0, 0, 0, time.UTC),
		Email:         "Ann@Example.com", Tag: "web", Count: true, Cursor: "abc",
	}
	if err != nil || !reflect.DeepEqual(q, want) {
		t.Errorf("parseQuery = %+v, %v; want %+v", q, err, want)
	}
	if q, err := parseQuery(""); err != nil || !reflect.DeepEqual(q, basket.Query{}) {
		t.Errorf("parseQuery(\"\") = %+v, %v", q, err)
	}
}

func TestParseFeed(t *testing.T) {
	for _, tt := range []struct {
		raw   string
		after uint64
		limit int
		err   string
	}{
		{"", 0, 0, ""},
		{"after=17&limit=3", 17, 3, ""},
		{"after=&limit=1000", 0, 1000, ""},
		{"after=18446744073709551616", 0, 0, "after"},
		{"after=-1", 0, 0, "after"},
		{"limit=1001", 0, 0, "limit"},
	} {
		after, limit, err := parseFeed(tt.raw)
		var pe *paramError
		switch {
		case tt.err == "" && (err != nil || after != tt.after || limit != tt.limit):
			t.Errorf("parseFeed(%q) = %d, %d, %v; want %d, %d", tt.raw, after, limit, err, tt.after, tt.limit)
		case tt.err != "" && (!errors.As(err, &pe) || pe.param != tt.err):
			t.Errorf("parseFeed(%q) error = %v; want one naming %s", tt.raw, err, tt.err)
		}
	}
}

func TestParseRecover(t *testing.T) {
	p := parseRecover("basket=b2&basketId=b1&recover=t1&recover=t2&utm_source=a%20b&utm_x=%26&UTM_no=1&utm_bad=%zz")
	if p.basketID != "b1" || p.token != "t1" || !reflect.DeepEqual(p.utm, []string{"utm_source=a+b", "utm_x=%26"}) {
		t.Errorf("parseRecover = %+v", p)
	}
	if p := parseRecover("basket=b2&recover=t"); p.basketID != "b2" {
		t.Errorf("basket= synonym: %+v", p)
	}
}

var strictRFC3339 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$`)

// FuzzParseTime checks that parseTime never panics, returns UTC, accepts
// every RFC 3339 time that time.Parse does (with at most nine fractional
// digits and a four-digit year), and agrees with it.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2020-12-01", "2020-12-01T16:00", "2020-12-01T16:00:00.5+01:00", "2020-12-01T16:00:00Z", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s)
		if err == nil {
			if got.Location() != time.UTC {
				t.Fatalf("parseTime(%q) = %v: not UTC", s, got)
			}
			if y := got.Year(); y < -1 || y > 10000 {
				t.Fatalf("parseTime(%q) = %v: year out of range", s, got)
			}
		}
		if !strictRFC3339.MatchString(s) {
			return // time.Parse is lenient beyond RFC 3339 (one-digit hours)
		}
		if want, perr := time.Parse(time.RFC3339Nano, s); perr == nil {
			if err != nil {
				t.Fatalf("parseTime(%q) failed (%v); time.Parse gives %v", s, err, want)
			}
			if !got.Equal(want) {
				t.Fatalf("parseTime(%q) = %v; time.Parse gives %v", s, got, want)
			}
		}
	})
}

// FuzzParseQuery checks that any query string gives a query or a
// *paramError naming a known parameter, without repeating an email.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"limit=10", "createdAfter=2020-12-01T16:00&queryMore=abc", "email=a%40b.c&tag=x&count=exact",
		"limit=0", "email=not-an-email", "%zz=1", "createdAfter=2020-12-01&createdBefore=2020-11-01",
	} {
		f.Add(s)
	}
	reasons := map[string]bool{
		"malformed percent-encoding": true, "must be an integer from 1 to 1000": true,
		timeError{}.Error(): true, "not a valid email address": true,
		"must be printable UTF-8 of at most 2048 bytes": true, `the only accepted value is "exact"`: true,
		"must be later than createdAfter": true,
	}
	known := map[string]bool{pLimit: true, pCreatedAfter: true, pCreatedBefore: true, pEmail: true, pTag: true, pCount: true, pQueryMore: true}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseQuery(raw)
		if err != nil {
			var pe *paramError
			if !errors.As(err, &pe) || !known[pe.param] {
				t.Fatalf("parseQuery(%q) error %v names no known parameter", raw, err)
			}
			// Every reason is a fixed text: no input is repeated.
			if !reasons[pe.reason] {
				t.Fatalf("parseQuery(%q) error %q has an unexpected reason", raw, pe)
			}
			return
		}
		if q.Limit < 0 || q.Limit > basket.MaxLimit {
			t.Fatalf("parseQuery(%q) limit %d", raw, q.Limit)
		}
		if !q.CreatedAfter.IsZero() && !q.CreatedBefore.IsZero() && !q.CreatedAfter.Before(q.CreatedBefore) {
			t.Fatalf("parseQuery(%q): empty range accepted", raw)
		}
		if _, _, err := parseFeed(raw); err != nil {
			var pe *paramError
			if !errors.As(err, &pe) {
				t.Fatalf("parseFeed(%q) = %v", raw, err)
			}
		}
	})
}

// FuzzDecodeEvents checks that any body decodes to events or to a
// *decodeError with an index within the batch, and that what decodes
// survives a round trip through encoding/json: encoded again as a JSON
// array and as NDJSON, it decodes to the same events.
func FuzzDecodeEvents(f *testing.F) {
	for _, s := range []string{
		`[{"type":"created","basketId":"b-1","at":"2024-03-26T15:44:54.975Z","entry":"/checkout","orderItems":[{"name":"n","path":"/p","products":[{"path":"/x","productCode":"c"}]}],"tracking":{"tag":"direct"},"customFields":{"a":[1,"x",null]}}]`,
		`{"type":"emailCaptured","basketId":"b-1","at":"2024-03-26T15:44:54Z","email":"ann@example.com"}` + "\n" +
			`{"type":"identified","basketId":"b-2","at":"2024-03-26T15:44:54+01:00","identity":{"sub":"s","iss":"i","service":"salesforce","type":"account"},"customerDetails":{"email":"a@b.co","firstName":"A"}}`,
		`{"type":"erased","email":"ann@example.com","at":"2024-03-26T15:44:54Z"}`,
		`[1,2]`, `[{"at":5}]`, `{"at":"x"}`, "[", "{}\n{", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := decodeEvents(body)
		if err != nil {
			var de *decodeError
			if !errors.As(err, &de) || de.index < 0 || de.index > len(body) {
				t.Fatalf("decodeEvents(%q) = %v; want a *decodeError with a sane index", body, err)
			}
			return
		}
		for i := range events {
			if ev := &events[i]; ev.At.Year() > 9999 || ev.At.Year() < 0 {
				return // RFC 3339 cannot write it back
			}
		}
		if len(events) == 0 {
			return
		}
		arr, err := json.Marshal(events)
		if err != nil {
			return // e.g. a custom field json cannot encode
		}
		var nd bytes.Buffer
		for i := range events {
			b, _ := json.Marshal(&events[i])
			nd.Write(b)
			nd.WriteByte('\n')
		}
		for _, enc := range [][]byte{arr, nd.Bytes()} {
			if len(enc) == 0 {
				continue
			}
			again, err := decodeEvents(enc)
			if err != nil {
				t.Fatalf("decodeEvents(%q) = %v, re-encoded as %s", body, err, enc)
			}
			if len(again) != len(events) {
				t.Fatalf("round trip of %q: %d events, then %d", body, len(events), len(again))
			}
			for i := range events {
				a, b := events[i], again[i]
				if !a.At.Equal(b.At) {
					t.Fatalf("event %d at %v, then %v", i, a.At, b.At)
				}
				a.At, b.At = time.Time{}, time.Time{}
				ja, _ := json.Marshal(a)
				jb, _ := json.Marshal(b)
				if !bytes.Equal(ja, jb) {
					t.Fatalf("event %d: %s, then %s", i, ja, jb)
				}
			}
		}
	})
}
