package httpapi

import (
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Environments: one server holds several (shops, or a shop's prod and
// staging), each with its own engine, secrets, tokens and Server; a request
// picks its environment by its Host header, as the hosted API does
// (your-environment.prod.example.com). Hosts routes requests so.

// hostProfile is how hosts are compared: internationalised names in their
// ASCII form (IDNA 2008, as browsers look them up), lower case.
var hostProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false))

// NormalizeHost returns the name a Host header or a configured host stands
// for: without a port, brackets or a trailing dot, in lower case, an
// internationalised name in its ASCII (punycode) form. It reports false for
// what names no host: empty, malformed, or a name IDNA refuses.
func NormalizeHost(h string) (string, bool) {
	if h == "" || len(h) > 1024 || !utf8.ValidString(h) {
		return "", false
	}
	if host, port, err := net.SplitHostPort(h); err == nil {
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return "", false
		}
		h = host
	} else if strings.HasPrefix(h, "[") {
		if !strings.HasSuffix(h, "]") {
			return "", false
		}
		h = h[1 : len(h)-1]
	}
	if ip := net.ParseIP(h); ip != nil {
		return ip.String(), true
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" || strings.ContainsAny(h, " /\\@?#%:[]") || emptyLabel(h) {
		return "", false
	}
	a, err := hostProfile.ToASCII(h)
	if err != nil || a == "" || len(a) > 253 || strings.ContainsRune(a, utf8.RuneError) {
		return "", false
	}
	// A name whose ASCII form does not read back as itself (a label IDNA
	// maps on the way in but refuses as punycode) names no host.
	if again, err := hostProfile.ToASCII(a); err != nil || again != a || emptyLabel(a) {
		return "", false
	}
	return a, true
}

// emptyLabel reports whether a name has an empty label (a leading dot or
// two dots in a row, after the trailing one is gone).
func emptyLabel(h string) bool {
	return strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") || strings.Contains(h, "..")
}

// Hosts serves each request with the handler of its Host. A request for a
// host it does not know is a 404 that names nothing: neither the host nor
// the environments there are. The routes can be replaced while it serves
// (SetRoutes), as a reload of the environments does.
type Hosts struct {
	routes atomic.Pointer[map[string]http.Handler]
}

// SetRoutes replaces the routes: normalised host (see NormalizeHost) to
// handler. The map must not change afterwards.
func (hs *Hosts) SetRoutes(routes map[string]http.Handler) { hs.routes.Store(&routes) }

// Handler returns the handler of a Host header, or nil.
func (hs *Hosts) Handler(host string) http.Handler {
	m := hs.routes.Load()
	if m == nil {
		return nil
	}
	h, ok := NormalizeHost(host)
	if !ok {
		return nil
	}
	return (*m)[h]
}

var noEnvironment = []byte("{\"message\":\"no such environment\"}\n")

// ServeHTTP hands the request to its host's handler.
func (hs *Hosts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := hs.Handler(r.Host); h != nil {
		h.ServeHTTP(w, r)
		return
	}
	w.Header()["Cache-Control"] = hdrNoStore
	writeJSON(w, http.StatusNotFound, noEnvironment)
}
