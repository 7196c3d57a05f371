package httpapi

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The backoff after failed authentications, per client address: the first
// backoffFree failures cost nothing; each later one makes the address wait
// backoffBase, doubled at each further failure up to backoffMax, before any
// credential of its is looked at again. An address is forgotten once
// backoffForget has passed since its last failure.
const (
	backoffFree   = 10
	backoffBase   = time.Second
	backoffMax    = 30 * time.Second
	backoffForget = 10 * time.Minute
	backoffAddrs  = 1 << 14 // addresses remembered at most
)

// backoff slows the guessing of credentials: an address that keeps failing
// to authenticate (an invalid bearer token, invalid client credentials at
// the token endpoint) is answered 429 for a while, whatever it sends.
// Missing and expired tokens are not failures: a client that forgot its
// token, or whose access token expired, guesses nothing.
type backoff struct {
	now func() time.Time

	mu    sync.Mutex
	addrs map[string]*failures

	failed    *prometheus.CounterVec // kind: bearer, client
	throttled prometheus.Counter
}

type failures struct {
	n     int
	last  time.Time // of the last failure
	until time.Time // no credential is checked before
}

func newBackoff(now func() time.Time) *backoff {
	return &backoff{
		now:   now,
		addrs: map[string]*failures{},
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abandoned_http_auth_failures_total",
			Help: "Failed authentications by kind (bearer: an invalid bearer token; client: invalid OAuth2 client credentials).",
		}, []string{"kind"}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "abandoned_http_auth_throttled_total",
			Help: "Requests answered 429 without a look at their credentials, their address having failed to authenticate too often.",
		}),
	}
}

func (b *backoff) collectors() []prometheus.Collector {
	return []prometheus.Collector{b.failed, b.throttled}
}

// throttledError says how long an address must wait.
type throttledError struct{ wait time.Duration }

func (e *throttledError) Error() string {
	return "too many failed authentications from this address; retry in " + strconv.Itoa(e.seconds()) + " s"
}

// seconds is the wait rounded up, for Retry-After.
func (e *throttledError) seconds() int { return int((e.wait + time.Second - 1) / time.Second) }

// any reports whether an address has failed lately (and may have to
// wait).
func (b *backoff) any() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.addrs) > 0
}

// check returns a *throttledError if addr must wait.
func (b *backoff) check(addr string) error {
	now := b.now()
	b.mu.Lock()
	f := b.addrs[addr]
	var wait time.Duration
	if f != nil {
		wait = f.until.Sub(now)
	}
	b.mu.Unlock()
	if wait > 0 {
		b.throttled.Inc()
		return &throttledError{wait: wait}
	}
	return nil
}

// fail records a failed authentication from addr.
func (b *backoff) fail(addr, kind string) {
	b.failed.WithLabelValues(kind).Inc()
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.addrs[addr]
	if f != nil && now.Sub(f.last) >= backoffForget {
		f.n = 0
	}
	if f == nil {
		if len(b.addrs) >= backoffAddrs {
			b.evict(now)
		}
		f = &failures{}
		b.addrs[addr] = f
	}
	f.n++
	f.last = now
	if f.n > backoffFree {
		d := backoffMax
		if k := f.n - backoffFree - 1; k < 8 {
			d = min(backoffBase<<k, backoffMax)
		}
		f.until = now.Add(d)
	}
}

// evict makes room: addresses forgotten by now go, or, if none, one at
// random. b.mu must be held.
func (b *backoff) evict(now time.Time) {
	for a, f := range b.addrs {
		if now.Sub(f.last) >= backoffForget {
			delete(b.addrs, a)
		}
	}
	if len(b.addrs) < backoffAddrs {
		return
	}
	for a := range b.addrs {
		delete(b.addrs, a)
		return
	}
}

// clientAddr is the address a request's failures count against: the
// connection's peer (a proxy's own clients share its address), an IPv6
// address by its /64.
func clientAddr(r *http.Request) string {
	if a, ok := r.Context().Value(clientAddrKey{}).(string); ok {
		return a
	}
	return addrKey(r.RemoteAddr)
}

// addrKey is the key of a client's address, host:port or host.
func addrKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

type clientAddrKey struct{}

// WithClientAddr returns r as coming from the client at addr (an address,
// or an address and port): for a request another node of a cluster
// forwarded, whose connection comes from that node, so that failed
// authentications slow down the client, not the node. Only a caller that
// has checked the forwarder may use it.
func WithClientAddr(r *http.Request, addr string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), clientAddrKey{}, addrKey(addr)))
}

// tooMany answers 429 to a throttled request.
func (s *Server) tooMany(w http.ResponseWriter, te *throttledError) {
	w.Header().Set("Retry-After", strconv.Itoa(te.seconds()))
	s.writeError(w, http.StatusTooManyRequests, te.Error())
}
