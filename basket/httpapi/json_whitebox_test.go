package httpapi

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/basketlab/abandoned/basket"
)

// marshal is encoding/json's output without HTML escaping, as the API
// writes.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "\x00\x01\b\f\n\r\t\x1f\x7f",
		"é ü 日本 🎉", "\u2028\u2029", "bad \xff utf8 \xc3", "a\u2028b",
	} {
		want := marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("appendString(%q) = %s; want %s", s, got, want)
		}
	}
}

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1.5, 1e20, 1e21, 1e-6, 1e-7, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64, 3.0000000000000004} {
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, f); string(got) != string(want) {
			t.Errorf("appendFloat(%v) = %s; want %s", f, got, want)
		}
	}
}

func TestAppendTime(t *testing.T) {
	for _, tt := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2024, 3, 26, 15, 44, 54, 975_999_999, time.UTC), `"2024-03-26T15:44:54.975Z"`},
		{time.Date(2024, 3, 26, 16, 44, 54, 0, time.FixedZone("", 3600)), `"2024-03-26T15:44:54.000Z"`},
		{time.Date(2000, 1, 1, 0, 0, 0, 1_000_000, time.UTC), `"2000-01-01T00:00:00.001Z"`},
		{time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC), `"9999-12-31T23:59:59.999Z"`},
	} {
		if got := string(appendTime(nil, tt.t)); got != tt.want {
			t.Errorf("appendTime(%v) = %s; want %s", tt.t, got, tt.want)
		}
	}
}

// sampleBasket has every field set.
func sampleBasket() basket.Basket {
	return basket.Basket{
		ID:      "basket-8cf72b2a-eb57-462d-8e55-981c3b5e5364",
		Created: time.Date(2024, 3, 26, 15, 44, 54, 975_000_000, time.UTC),
		CustomerDetails: basket.CustomerDetails{
			Email: "ann@example.com", FirstName: "Ann", LastName: "Lee <3", CompanyName: "A&B",
		},
		OrderItems: []basket.OrderItem{{
			Name: "The Offer", Path: "/offers2/The Offer",
			Products: []basket.Product{{Path: "/products/Digital All Access", ProductCode: "SKU-00000001"}},
		}},
		Tracking:     map[string]string{"tag": "direct", "b": "2", "a": "1"},
		Identities:   []basket.Identity{{Sub: "ann@example.com", Iss: "https://issuer.domain", Service: "salesforce", Type: "account"}},
		Entry:        "/checkout",
		CustomFields: map[string]any{"n": 1.0, "s": "x", "l": []any{true, nil, map[string]any{"k": "v"}}},
		RecoveryLink: "/api/checkout/recover?basketId=basket-8cf7&recover=tok",
		AbandonedAt:  time.Date(2024, 3, 26, 15, 45, 0, 0, time.UTC),
	}
}

// TestAppendBasketRoundTrip checks that encoding/json reads back what
// appendBasket writes.
func TestAppendBasketRoundTrip(t *testing.T) {
	b := sampleBasket()
	out := appendBasket(nil, &b, false)
	var got basket.Basket
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("appendBasket wrote invalid JSON %s: %v", out, err)
	}
	b.AbandonedAt = time.Time{}
	if !reflect.DeepEqual(got, b) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, b)
	}
	// Optional fields go when empty; the required ones stay, as {} and [].
	empty := basket.Basket{ID: "x", Created: b.Created}
	out = appendBasket(nil, &empty, true)
	want := `{"id":"x","created":"2024-03-26T15:44:54.975Z","abandonedAt":"0001-01-01T00:00:00.000Z","position":"0","customerDetails":{"email":""},"orderItems":[],"tracking":{},"identities":[],"entry":"","completed":false,"recoveryLink":""}`
	if string(out) != want {
		t.Errorf("empty basket = %s; want %s", out, want)
	}
}

func TestAppendAnyMatchesEncodingJSON(t *testing.T) {
	var v any
	src := `{"z":[1,2.5,-3e-9,1e300,"s",true,false,null,{"b":{},"a":[]}],"a":"<>&\u2028","m":{"y":1,"x":2}}`
	if err := json.Unmarshal([]byte(src), &v); err != nil {
		t.Fatal(err)
	}
	want := marshal(v)
	if got := appendAny(nil, v); string(got) != string(want) {
		t.Errorf("appendAny = %s; want %s", got, want)
	}
	// Values of other types go through encoding/json.
	for _, v := range []any{json.Number("12.5"), int64(7), []string{"a"}, map[string]int{"a": 1}} {
		want := marshal(v)
		if got := appendAny(nil, v); string(got) != string(want) {
			t.Errorf("appendAny(%#v) = %s; want %s", v, got, want)
		}
	}
}

func TestAppendPage(t *testing.T) {
	b := sampleBasket()
	p := basket.Page{Items: []basket.Basket{b, b}, Cursor: "cur", Alias: "env", Total: 7}
	out := appendPage(nil, &p)
	var v struct {
		Items     []json.RawMessage
		QueryMore map[string]string
		Total     int
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("page %s: %v", out, err)
	}
	if len(v.Items) != 2 || v.QueryMore["from"] != "cur" || v.QueryMore["alias"] != "env" || v.Total != 7 {
		t.Errorf("page = %s", out)
	}
	empty := basket.Page{Total: -1}
	if got := string(appendPage(nil, &empty)); got != "{\"items\":[]}\n" {
		t.Errorf("empty page = %q", got)
	}
	fp := basket.FeedPage{Next: 42}
	if got := string(appendFeedPage(nil, &fp)); got != "{\"items\":[],\"next\":\"42\"}\n" {
		t.Errorf("empty feed page = %q", got)
	}
	if got := string(appendMessage(nil, `bad "x"`, 3)); got != "{\"message\":\"bad \\\"x\\\"\",\"index\":3}\n" {
		t.Errorf("message = %q", got)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "<&>", "\u2028", "\xff", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := marshal(s)
		got := appendString(nil, s)
		if string(got) != string(want) {
			t.Fatalf("appendString(%q) = %s; want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("appendString(%q) = %s: not JSON: %v", s, got, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("round trip of %q = %q", s, back)
		}
	})
}

// FuzzAppendBasket checks that a basket of any strings encodes as JSON that
// decodes back to the same basket.
func FuzzAppendBasket(f *testing.F) {
	f.Add("b-1", "ann@example.com", "Ann", "/offers/x", "SKU-1", "tag", "web", "sub", int64(1711467894975))
	f.Add("\x00", "<>", "\u2028", "\xff", "", "", "", "", int64(0))
	f.Fuzz(func(t *testing.T, id, email, first, path, code, k, v, sub string, ms int64) {
		ms %= 253402300800000 // before year 10000
		if ms < 0 {
			ms = -ms
		}
		for _, s := range []*string{&id, &email, &first, &path, &code, &k, &v, &sub} {
			*s = strings.ToValidUTF8(*s, "\uFFFD")
		}
		b := basket.Basket{
			ID: id, Created: time.UnixMilli(ms).UTC(),
			CustomerDetails: basket.CustomerDetails{Email: email, FirstName: first},
			OrderItems:      []basket.OrderItem{{Name: first, Path: path, Products: []basket.Product{{Path: path, ProductCode: code}}}},
			Tracking:        map[string]string{k: v},
			Identities:      []basket.Identity{{Sub: sub}},
			CustomFields:    map[string]any{k: v},
			RecoveryLink:    "/r?basketId=" + id,
		}
		out := appendBasket(nil, &b, false)
		var got basket.Basket
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("invalid JSON %s: %v", out, err)
		}
		if !reflect.DeepEqual(got, b) {
			t.Fatalf("round trip of %s:\n got %+v\nwant %+v", out, got, b)
		}
	})
}

// BenchmarkAppendPage measures the JSON of a page alone (no engine, no
// HTTP): typical baskets of one offer, one identity, an email and a tag.
func BenchmarkAppendPage(b *testing.B) {
	for _, n := range []int{10, 50} {
		b.Run("limit="+strconv.Itoa(n), func(b *testing.B) {
			p := basket.Page{Cursor: strings.Repeat("c", 120), Alias: "env", Total: -1}
			for i := range n {
				bk := sampleBasket()
				bk.CustomFields = nil
				bk.CustomerDetails.LastName, bk.CustomerDetails.CompanyName = "", ""
				bk.Tracking = map[string]string{"tag": "web"}
				bk.ID = "basket-" + strconv.Itoa(100000+i) + "-eb57-462d-8e55-981c3b5e5364"
				bk.RecoveryLink = "/api/checkout/recover?basketId=" + bk.ID + "&recover=wjL7pGYrl0B9Wn6N-EgnQgL5EbdkgbnZ"
				p.Items = append(p.Items, bk)
			}
			buf := appendPage(nil, &p)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = appendPage(buf[:0], &p)
			}
		})
	}
}
