package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/basketlab/abandoned/basket/httpapi"
)

// TestServeHelpListsEndpoints: serve -h names every endpoint of the API's
// OpenAPI document, method and path.
func TestServeHelpListsEndpoints(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(httpapi.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := execute(context.Background(), []string{"serve", "-h"}, io.Discard, &stderr); code != 0 {
		t.Fatalf("serve -h: exit %d", code)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  (GET|POST) +(/\S*) `).FindAllStringSubmatch(stderr.String(), -1) {
		listed[m[1]+" "+m[2]] = true
	}
	for path, item := range doc.Paths {
		for method := range item {
			op := strings.ToUpper(method) + " " + path
			if !listed[op] {
				t.Errorf("serve -h does not list %s", op)
			}
		}
	}
}
