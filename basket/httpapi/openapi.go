package httpapi

import (
	"bytes"
	_ "embed"
	"net/http"
)

// openapiDoc is the OpenAPI 3.1 document of every endpoint, written by hand
// beside the handlers; openapi_test.go validates it, and real answers of a
// running server against it.
//
//go:embed openapi.json
var openapiDoc []byte

// OpenAPI returns the OpenAPI 3.1 document of the API (JSON), which GET
// /openapi.json serves: every endpoint with its parameters, request
// bodies, answers and errors.
func OpenAPI() []byte { return bytes.Clone(openapiDoc) }

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, openapiDoc)
}
