package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/basketlab/abandoned/basket"
)

// MinSecretLen is the fewest bytes an endpoint's secret holds: random
// bytes from a cryptographic generator (openssl rand -hex 32).
const MinSecretLen = 32

// maxURLLen bounds an endpoint's URL.
const maxURLLen = 2048

// Endpoint is a receiver of webhooks: a URL the server POSTs every change
// of the types it wants to, signed with its secrets.
type Endpoint struct {
	// URL receives the POSTs: http or https with a host, and no fragment.
	// A query may hold a token of the receiver's; it is never logged or
	// shown (Redact). Required.
	URL string

	// Secrets sign every request, each giving a v1= of the
	// Abandoned-Signature header, so that a receiver in the middle of
	// rotating its secret accepts the request with either. Each is at least
	// MinSecretLen bytes. At least one is required.
	Secrets [][]byte

	// Events are the change types delivered (basket.ChangeTypes); the
	// others are skipped. Default (empty): all of them.
	Events []basket.ChangeType
}

// ID returns the endpoint's id: "wh_" and 12 hex digits of a hash of its
// URL. It names the endpoint in metrics, the deliveries list and the
// delivery state, without the URL (whose query may hold a token).
func (ep *Endpoint) ID() string { return EndpointID(ep.URL) }

// EndpointID returns the id of the endpoint with URL rawURL (see
// Endpoint.ID).
func EndpointID(rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	return "wh_" + hex.EncodeToString(sum[:6])
}

// Redact returns rawURL as it may be shown: scheme, host and path, without
// user information, and "?…" for a query. Text that does not parse as a
// URL shows as "(invalid URL)".
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	s := u.Scheme + "://" + u.Host + u.EscapedPath()
	if u.RawQuery != "" || u.ForceQuery {
		s += "?…"
	}
	return s
}

// ParseURL checks that rawURL can be an endpoint's URL: http or https, a
// host, a port if any in range, no fragment. A host that is an IP address
// on a loopback, private or internal network is refused unless
// allowPrivate (a host name is checked when it is dialled: see
// ErrPrivateAddress).
func ParseURL(rawURL string, allowPrivate bool) (*url.URL, error) {
	bad := func(reason string) error {
		return &EndpointError{URL: Redact(rawURL), Field: "url", Reason: reason, Err: ErrInvalidEndpoint}
	}
	if rawURL == "" {
		return nil, bad("missing")
	}
	if len(rawURL) > maxURLLen {
		return nil, bad(fmt.Sprintf("%d bytes long; want at most %d", len(rawURL), maxURLLen))
	}
	if strings.ContainsFunc(rawURL, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' }) {
		return nil, bad("holds spaces or control characters")
	}
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		return nil, bad("does not parse as a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, bad("want an http:// or https:// URL")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return nil, bad("has no host")
	case u.Fragment != "" || strings.Contains(rawURL, "#"):
		return nil, bad("has a fragment (#…), which is never sent")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, bad("port " + p + " out of range")
		}
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !allowPrivate {
		if err := checkIP(ip); err != nil {
			return nil, &EndpointError{URL: Redact(rawURL), Field: "url", Err: ErrPrivateAddress,
				Reason: err.Error() + " (allow it with AllowPrivate, -webhook-allow-private)"}
		}
	} else if err != nil && strings.Contains(u.Hostname(), ":") {
		return nil, bad("host " + u.Hostname() + " is not an IP address")
	}
	return u, nil
}

// ParseEvents reads a comma-separated list of change types
// ("basket.abandoned,basket.erased"); empty means all.
func ParseEvents(s string) ([]basket.ChangeType, error) {
	var out []basket.ChangeType
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		t := basket.ChangeType(f)
		if !slices.Contains(basket.ChangeTypes, t) {
			return nil, &EndpointError{Field: "events", Err: ErrInvalidEndpoint,
				Reason: fmt.Sprintf("%q is not an event type; want some of %s", f, typeList())}
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func typeList() string {
	var names []string
	for _, t := range basket.ChangeTypes {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

// check validates ep.
func (ep *Endpoint) check(allowPrivate bool) (*url.URL, error) {
	u, err := ParseURL(ep.URL, allowPrivate)
	if err != nil {
		return nil, err
	}
	if err := checkSecrets(ep.Secrets); err != nil {
		err.(*EndpointError).URL = Redact(ep.URL)
		return nil, err
	}
	for _, t := range ep.Events {
		if !slices.Contains(basket.ChangeTypes, t) {
			return nil, &EndpointError{URL: Redact(ep.URL), Field: "events", Err: ErrInvalidEndpoint,
				Reason: fmt.Sprintf("%q is not an event type; want some of %s", t, typeList())}
		}
	}
	return u, nil
}

func checkSecrets(secrets [][]byte) error {
	if len(secrets) == 0 {
		return &EndpointError{Field: "secrets", Reason: "none given; want at least one of " + fmt.Sprint(MinSecretLen) + " random bytes or more", Err: ErrInvalidEndpoint}
	}
	for i, s := range secrets {
		if len(s) < MinSecretLen {
			return &EndpointError{Field: "secrets", Err: ErrInvalidEndpoint,
				Reason: fmt.Sprintf("secret %d holds %d bytes; want %d random bytes or more", i+1, len(s), MinSecretLen)}
		}
	}
	return nil
}
