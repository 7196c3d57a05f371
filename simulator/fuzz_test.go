package simulator

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"
)

// FuzzParseScenario checks that any input gives a scenario or an error,
// never a panic, and that an accepted scenario validates, compiles and
// survives a round trip through JSON.
func FuzzParseScenario(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"days": 2, "rate": 10, "hourProfile": "news"}`))
	f.Add([]byte(`{"peakDays": [{"date": "2025-11-28", "multiplier": 2.7}]}`))
	f.Add([]byte(`{"checkout": {"completeMedian": "90s", "completeSigma": 0.2}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := ParseScenario(data)
		if err != nil {
			return
		}
		if err := sc.Validate(); err != nil {
			t.Fatalf("ParseScenario accepted a scenario that Validate refuses: %v", err)
		}
		out, err := json.Marshal(sc)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := ParseScenario(out)
		if err != nil {
			t.Fatalf("ParseScenario(Marshal(sc)) = %v", err)
		}
		if !reflect.DeepEqual(back, sc) {
			t.Fatalf("round trip changed the scenario:\n%+v\n%+v", sc, back)
		}
	})
}

// FuzzRecoveryLink checks that link parsing never panics and that what it
// returns rebuilds a link that parses the same.
func FuzzRecoveryLink(f *testing.F) {
	f.Add("/api/checkout/recover?basketId=basket-1&recover=abc")
	f.Add("https://shop.example.com/api/checkout/recover?basket=b&recover=t&utm_source=x")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, link string) {
		id, tok, err := parseRecoveryLink(link)
		if err != nil {
			return
		}
		if id == "" || tok == "" {
			t.Fatalf("parseRecoveryLink(%q) = %q, %q with no error", link, id, tok)
		}
		again := "/api/checkout/recover?basketId=" + url.QueryEscape(id) + "&recover=" + url.QueryEscape(tok)
		id2, tok2, err := parseRecoveryLink(again)
		if err != nil || id2 != id || tok2 != tok {
			t.Fatalf("rebuilt link %q parses as %q, %q, %v; want %q, %q", again, id2, tok2, err, id, tok)
		}
	})
}
