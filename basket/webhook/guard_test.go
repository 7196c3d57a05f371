package webhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// mapResolver resolves the names it holds, and nothing else.
type mapResolver map[string][]string

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ss, ok := m[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

// The addresses a target may not have, each with the reason it is inside.
var refusedAddrs = []string{
	"10.0.0.1", "10.255.255.255", // private
	"172.16.0.1", "172.31.255.254", // private
	"192.168.0.1", "192.168.255.255", // private
	"169.254.169.254",        // link-local: cloud metadata
	"127.0.0.1", "127.1.2.3", // loopback
	"0.0.0.0",                      // unspecified
	"100.64.0.1",                   // shared address space
	"224.0.0.1", "239.255.255.250", // multicast
	"255.255.255.255", // broadcast
	"::1", "::",       // loopback, unspecified
	"::ffff:10.0.0.1", "::ffff:127.0.0.1", // IPv4-mapped
	"::ffff:169.254.169.254",
	"fc00::1", "fd12:3456::1", // unique local, fc00::/7
	"fe80::1",        // link-local
	"ff02::1",        // multicast
	"64:ff9b::a00:1", // NAT64 of 10.0.0.1
	"2002:a00:1::1",  // 6to4 of 10.0.0.1
	"::10.0.0.1",     // IPv4-compatible
}

// Public addresses, which pass.
var publicAddrs = []string{"93.184.216.34", "8.8.8.8", "172.32.0.1", "192.169.0.1", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1"}

func TestCheckIP(t *testing.T) {
	for _, s := range refusedAddrs {
		if err := checkIP(netip.MustParseAddr(s)); !errors.Is(err, ErrPrivateAddress) {
			t.Errorf("checkIP(%s) = %v; want ErrPrivateAddress", s, err)
		}
	}
	for _, s := range publicAddrs {
		if err := checkIP(netip.MustParseAddr(s)); err != nil {
			t.Errorf("checkIP(%s) = %v; want nil", s, err)
		}
	}
}

// TestGuardControl checks the guard where it decides: the dialer's
// Control hook, given the address a connection is about to be made to.
func TestGuardControl(t *testing.T) {
	g := &guard{}
	for _, s := range refusedAddrs {
		addr := net.JoinHostPort(s, "443")
		if err := g.control("tcp", addr, nil); !errors.Is(err, ErrPrivateAddress) {
			t.Errorf("control(%s) = %v; want ErrPrivateAddress", addr, err)
		}
	}
	if err := g.control("tcp", "[fe80::1%eth0]:443", nil); !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("control of a zoned link-local address = %v; want ErrPrivateAddress", err)
	}
	if err := g.control("tcp", "not-an-address:443", nil); !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("control of a name = %v; want a refusal: the hook sees addresses only", err)
	}
	for _, s := range publicAddrs {
		addr := net.JoinHostPort(s, "443")
		if err := g.control("tcp", addr, nil); err != nil {
			t.Errorf("control(%s) = %v; want nil", addr, err)
		}
	}
	open := &guard{allowPrivate: true}
	for _, s := range refusedAddrs {
		if err := open.control("tcp", net.JoinHostPort(s, "443"), nil); err != nil {
			t.Errorf("control(%s) with allowPrivate = %v; want nil", s, err)
		}
	}
}

// connectGuard records the addresses the guard let through and lets a
// connection be made only to 127.0.0.1: no test reaches anything else.
type connectGuard struct {
	mu   sync.Mutex
	seen []string
}

var errNotLoopback = errors.New("test: no connection leaves 127.0.0.1")

func (c *connectGuard) check(address string) error {
	c.mu.Lock()
	c.seen = append(c.seen, address)
	c.mu.Unlock()
	if ap, err := netip.ParseAddrPort(address); err != nil || ap.Addr() != netip.MustParseAddr("127.0.0.1") {
		return errNotLoopback
	}
	return nil
}

func (c *connectGuard) addresses() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

// TestGuardDial dials names a test resolver maps inside: each is refused
// at the connection, before any packet, and a public one passes the guard
// (and is then stopped by the test's own check).
func TestGuardDial(t *testing.T) {
	res := mapResolver{"public.test": {"93.184.216.34"}, "mixed.test": {"10.0.0.1", "93.184.216.34"}}
	for i, s := range refusedAddrs {
		res["inside"+string(rune('a'+i))+".test"] = []string{s}
	}
	cg := &connectGuard{}
	g := &guard{resolver: res, beforeConnect: cg.check}
	for name, addrs := range res {
		if strings.HasPrefix(name, "inside") {
			_, err := g.DialContext(context.Background(), "tcp", net.JoinHostPort(name, "443"))
			if !errors.Is(err, ErrPrivateAddress) {
				t.Errorf("dial %s (%v) = %v; want ErrPrivateAddress", name, addrs, err)
			}
		}
	}
	for _, s := range refusedAddrs {
		addr := net.JoinHostPort(s, "443")
		if _, err := g.DialContext(context.Background(), "tcp", addr); !errors.Is(err, ErrPrivateAddress) {
			t.Errorf("dial %s = %v; want ErrPrivateAddress", addr, err)
		}
	}
	if seen := cg.addresses(); len(seen) != 0 {
		t.Fatalf("the guard let %v through; want none of them", seen)
	}
	// A public name passes the guard; the test's check stops it there.
	_, err := g.DialContext(context.Background(), "tcp", "public.test:443")
	if !errors.Is(err, errNotLoopback) {
		t.Errorf("dial public.test = %v; want it past the guard", err)
	}
	// A name with a private and a public address: the private one is
	// refused, the public one tried.
	_, err = g.DialContext(context.Background(), "tcp", "mixed.test:443")
	if !errors.Is(err, ErrPrivateAddress) || !errors.Is(err, errNotLoopback) {
		t.Errorf("dial mixed.test = %v; want 10.0.0.1 refused and 93.184.216.34 tried", err)
	}
	if seen := cg.addresses(); len(seen) != 2 || seen[0] != "93.184.216.34:443" || seen[1] != "93.184.216.34:443" {
		t.Errorf("the guard let %v through; want the public address twice", seen)
	}
}

// TestGuardLoopback: a name that resolves to 127.0.0.1 reaches a local
// server only with allowPrivate.
func TestGuardLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	res := mapResolver{"receiver.test": {"127.0.0.1"}}
	cg := &connectGuard{}
	for _, allow := range []bool{false, true} {
		g := &guard{allowPrivate: allow, resolver: res, beforeConnect: cg.check}
		c, err := g.DialContext(context.Background(), "tcp", "receiver.test:"+port)
		switch {
		case allow && err != nil:
			t.Errorf("with allowPrivate, dial receiver.test = %v; want a connection", err)
		case !allow && !errors.Is(err, ErrPrivateAddress):
			t.Errorf("without allowPrivate, dial receiver.test = %v; want ErrPrivateAddress", err)
		}
		if c != nil {
			c.Close()
		}
	}
	if seen := cg.addresses(); len(seen) != 1 {
		t.Errorf("the guard let %v through; want one connection, with allowPrivate", seen)
	}
}

func TestParseURL(t *testing.T) {
	for _, tt := range []struct {
		url     string
		allow   bool
		wantErr error
		want    string // in the error
	}{
		{"https://hooks.example.com/in", false, nil, ""},
		{"http://hooks.example.com:8080/in?token=x", false, nil, ""},
		{"https://[2606:4700::1111]/in", false, nil, ""},
		{"http://127.0.0.1:9000/in", true, nil, ""},
		{"http://[::1]:9000/in", true, nil, ""},
		{"", false, ErrInvalidEndpoint, "missing"},
		{"ftp://hooks.example.com/", false, ErrInvalidEndpoint, "http:// or https://"},
		{"hooks.example.com/in", false, ErrInvalidEndpoint, "http:// or https://"},
		{"https:///in", false, ErrInvalidEndpoint, "no host"},
		{"https://hooks.example.com/in#x", false, ErrInvalidEndpoint, "fragment"},
		{"https://hooks.example.com:99999/", false, ErrInvalidEndpoint, "port"},
		{"https://hooks.example.com/a b", false, ErrInvalidEndpoint, "spaces"},
		{"http://127.0.0.1:9000/in", false, ErrPrivateAddress, "-webhook-allow-private"},
		{"http://10.1.2.3/in", false, ErrPrivateAddress, "10.1.2.3"},
		{"http://[::1]/in", false, ErrPrivateAddress, "::1"},
		{"http://[::ffff:10.0.0.1]/in", false, ErrPrivateAddress, "10.0.0.1"},
		{"http://169.254.169.254/latest/meta-data", false, ErrPrivateAddress, "169.254"},
		{"http://[fd00::1]/in", false, ErrPrivateAddress, "fc00::/7"},
	} {
		_, err := ParseURL(tt.url, tt.allow)
		switch {
		case tt.wantErr == nil && err != nil:
			t.Errorf("ParseURL(%q) = %v; want nil", tt.url, err)
		case tt.wantErr != nil && (!errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("ParseURL(%q) = %v; want %v naming %q", tt.url, err, tt.wantErr, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.example.com/in":               "https://hooks.example.com/in",
		"https://user:pw@hooks.example.com/in?t=abc": "https://hooks.example.com/in?…",
		"http://[::1]:9/x?":                          "http://[::1]:9/x?…",
		"::":                                         "(invalid URL)",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q; want %q", in, got, want)
		}
	}
}
