package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/basketlab/abandoned/basket"
)

// decodeEventsRef decodes a batch with encoding/json alone: the reference
// the fast decoder must agree with.
func decodeEventsRef(body []byte) ([]basket.Event, error) {
	trimmed := trimLeftJSONSpace(body)
	if len(trimmed) == 0 {
		return nil, &decodeError{index: 0, reason: "empty body: send a JSON array or NDJSON of events"}
	}
	switch trimmed[0] {
	case '[':
		return decodeEventsStd(trimmed, MaxBatch)
	case '{':
	default:
		return nil, &decodeError{index: 0, reason: "want a JSON array or NDJSON of event objects"}
	}
	var events []basket.Event
	for _, line := range bytes.Split(trimmed, []byte{'\n'}) {
		line = trimRightJSONSpace(trimLeftJSONSpace(line))
		if len(line) == 0 {
			continue
		}
		i := len(events)
		if line[0] != '{' {
			return nil, &decodeError{index: i, reason: "want an event object on each line"}
		}
		var w wireEvent
		if err := json.Unmarshal(line, &w); err != nil {
			return nil, &decodeError{index: i, reason: describeJSONError(err)}
		}
		events = append(events, w.event())
	}
	return events, nil
}

const sampleBatch = `{"type":"created","basketId":"b-1","at":"2024-03-26T15:44:54.975Z","entry":"/checkout","orderItems":[{"name":"The Offer","path":"/offers2/The Offer","products":[{"path":"/products/Digital All Access","productCode":"SKU-00000001"}]}],"tracking":{"tag":"direct"},"customFields":{}}
{"type":"itemsChanged","basketId":"b-1","at":"2024-03-26T15:45:00Z","orderItems":[]}
{"type":"emailCaptured","basketId":"b-1","at":"2024-03-26T15:45:01+01:00","email":"ann@example.com"}
{"type":"identified","basketId":"b-2","at":"2024-03-26T15:45:02.5Z","identity":{"sub":"s","iss":"https://issuer","service":"salesforce","type":"account"},"customerDetails":{"email":"a@b.co","firstName":"Ann","lastName":"Lee","companyName":"ACME"}}
{"type":"customerDetailsChanged","basketId":"b-2","at":"2024-03-26T15:46:00Z","customerDetails":{"firstName":"Änne"},"extra":[1,{"x":null},"\u00e9",true]}
{"type":"completed","basketId":"b-1","at":"2024-03-26T15:47:00Z"}
{"type":"erased","email":"ann@example.com","at":"2024-03-26T15:48:00Z"}`

// TestFastDecoderTakesTheCommonForm checks that the fast decoder, not the
// fallback, reads the usual events.
func TestFastDecoderTakesTheCommonForm(t *testing.T) {
	for _, line := range strings.Split(sampleBatch, "\n") {
		var ev basket.Event
		if !fastEvent(line, &ev) {
			t.Errorf("fastEvent declined %s", line)
		}
	}
	for _, line := range []string{
		`{"type":"created","basketId":"b\u002d1","at":"2024-03-26T15:44:54Z"}`, // an escape
		`{"type":"created","basketId":"b","basketId":"c","at":"2024-03-26T15:44:54Z"}`,
		`{"type":"created","BasketID":"b","at":"2024-03-26T15:44:54Z"}`,
		`{"type":"created","at":"yesterday"}`,
		`{"type":"created","customFields":{"a":1}}`,
		`{"type":"created","orderItems":[null]}`,
		`{"type":5}`,
		`{"type":"created"} x`,
	} {
		var ev basket.Event
		if fastEvent(line, &ev) {
			t.Errorf("fastEvent accepted %s; encoding/json must decide it", line)
		}
	}
}

func TestDecodeEventsAgreesWithEncodingJSON(t *testing.T) {
	arr := "[" + strings.ReplaceAll(sampleBatch, "\n", ",\n") + "]"
	for _, body := range []string{sampleBatch, arr, "[]", " [ ] ", "[1]", "[{}] x", `{"a":1}` + "\n\n" + `{"b":2}`} {
		got, err := decodeEvents([]byte(body))
		want, werr := decodeEventsRef([]byte(body))
		if !sameDecode(got, err, want, werr) {
			t.Errorf("decodeEvents(%s) = %v, %v; encoding/json gives %v, %v", body, got, err, want, werr)
		}
	}
}

func sameDecode(got []basket.Event, err error, want []basket.Event, werr error) bool {
	if (err == nil) != (werr == nil) {
		return false
	}
	if err != nil {
		var a, b *decodeError
		return errors.As(err, &a) && errors.As(werr, &b) && *a == *b
	}
	return len(got) == len(want) && (len(got) == 0 || reflect.DeepEqual(got, want))
}

// FuzzFastDecoder checks that decodeEvents, fast path and fallback
// together, gives exactly what encoding/json alone gives: the same events,
// or the same error at the same index.
func FuzzFastDecoder(f *testing.F) {
	f.Add([]byte(sampleBatch))
	f.Add([]byte("[" + strings.ReplaceAll(sampleBatch, "\n", ",") + "]"))
	for _, s := range []string{
		`{"type":"created","basketId":"b","at":"2024-03-26T15:44:54Z","tracking":{"a":"1","A":"2"}}`,
		`[{"type":"x","TYPE":"y"}]`, `{"orderItems":[{"name":"n","NAME":"m"}]}`, `{"identity":{"sub":"\ud800"}}`,
		`[{"k":-0.5e+3},{"k":01}]`, `{"customFields":{ }}`, `{"tracking":{"a":null}}`, "{\"at\":\"2024-03-26T15:44:54Z\"}\r\n{}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := decodeEvents(body)
		want, werr := decodeEventsRef(body)
		if !sameDecode(got, err, want, werr) {
			t.Fatalf("decodeEvents(%q) =\n%#v, %v\nencoding/json gives\n%#v, %v", body, got, err, want, werr)
		}
	})
}
