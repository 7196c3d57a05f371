package httpapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// documented is the example answer of the hosted API's documentation (the
// seed guide), with its email replaced.
const documented = `{
"items": [
{
"id": "basket-8cf72b2a-eb57-462d-8e55-981c3b5e5364",
"created": "2024-03-26T15:44:54.975Z",
"customerDetails": {
"email": "ann@example.com"
},
"orderItems": [
{
"name": "The Offer",
"path": "/offers2/The Offer",
"products": [
{
"path": "/products/Digital All Access",
"productCode": "SKU-00000001"
}
]
}
],
"tracking": {},
"identities": [
{
"sub": "ann@example.com",
"iss": "https://issuer.domain",
"service": "salesforce",
"type": "account"
}
],
"entry": "/checkout",
"completed": false
}
],
"queryMore": {
"from": "DnF1ZXJ5VGhlbkZldGNoBQAAAAAAGH",
"alias": "catalog_test.test0.dev.limio.com"
}
}`

// shape maps each path of a JSON value to its JSON type; array elements
// share the path "[]".
func shape(v any, path string, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		out[path] = "object"
		for k, e := range v {
			shape(e, path+"."+k, out)
		}
	case []any:
		out[path] = "array"
		for _, e := range v {
			shape(e, path+"[]", out)
		}
	case string:
		out[path] = "string"
	case float64:
		out[path] = "number"
	case bool:
		out[path] = "boolean"
	case nil:
		out[path] = "null"
	}
}

// TestGoldenPage checks a page against testdata/page.golden (refresh with
// -update) and against the documented example: every documented field is
// there with its documented JSON type.
func TestGoldenPage(t *testing.T) {
	h := start(t, nil)
	created := time.Date(2024, 3, 26, 15, 44, 54, 975_000_000, time.UTC)
	h.ingest(
		`{"type":"created","basketId":"basket-8cf72b2a-eb57-462d-8e55-981c3b5e5364","at":"2024-03-26T15:44:54.975Z","entry":"/checkout","orderItems":[{"name":"The Offer","path":"/offers2/The Offer","products":[{"path":"/products/Digital All Access","productCode":"SKU-00000001"}]}]}`,
		`{"type":"identified","basketId":"basket-8cf72b2a-eb57-462d-8e55-981c3b5e5364","at":"2024-03-26T15:45:00Z","identity":{"sub":"ann@example.com","iss":"https://issuer.domain","service":"salesforce","type":"account"},"customerDetails":{"email":"ann@example.com"}}`,
	)
	h.abandon("basket-second", created.Add(time.Minute), "web", "bob@example.com")
	got := h.get("/api/checkout/abandoned?limit=1").body

	golden := filepath.Join("testdata", "page.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("page differs from %s:\n got %s\nwant %s", golden, got, want)
	}

	var doc, ours any
	if err := json.Unmarshal([]byte(documented), &doc); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &ours); err != nil {
		t.Fatal(err)
	}
	ds, os_ := map[string]string{}, map[string]string{}
	shape(doc, "", ds)
	shape(ours, "", os_)
	paths := make([]string, 0, len(ds))
	for p := range ds {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if os_[p] != ds[p] {
			t.Errorf("field %q: documented %s, ours %q", p, ds[p], os_[p])
		}
	}
	// The values that the example fixes.
	item := ours.(map[string]any)["items"].([]any)[0].(map[string]any)
	docItem := doc.(map[string]any)["items"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "created", "entry", "completed"} {
		if item[k] != docItem[k] {
			t.Errorf("%s = %v; documented %v", k, item[k], docItem[k])
		}
	}
}
