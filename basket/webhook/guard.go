package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Resolver looks names up; *net.Resolver is one. Options.Resolver lets a
// test map names to addresses of its choosing.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// blocked are the networks a target may not be on without AllowPrivate:
// what reaches the server's own machine or network, or nothing public.
// IPv4-mapped IPv6 addresses are checked as the IPv4 address they carry.
var blocked = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",      // this network, 0.0.0.0 included
		"10.0.0.0/8",     // private
		"100.64.0.0/10",  // shared address space (carrier-grade NAT)
		"127.0.0.0/8",    // loopback
		"169.254.0.0/16", // link-local, cloud metadata services
		"172.16.0.0/12",  // private
		"192.0.0.0/24",   // IETF protocol assignments
		"192.168.0.0/16", // private
		"198.18.0.0/15",  // benchmarking
		"224.0.0.0/4",    // multicast
		"240.0.0.0/4",    // reserved, broadcast included
		"::/96",          // unspecified, loopback, IPv4-compatible
		"64:ff9b:1::/48", // local-use NAT64
		"100::/64",       // discard
		"fc00::/7",       // unique local
		"fe80::/10",      // link-local
		"fec0::/10",      // site-local (deprecated)
		"ff00::/8",       // multicast
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

// Prefixes whose addresses carry an IPv4 address that reaches it: NAT64
// (the last 32 bits) and 6to4 (bits 16 to 48).
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// checkIP returns an error wrapping ErrPrivateAddress if ip is on a blocked
// network, nil if it is a public address.
func checkIP(ip netip.Addr) error {
	if !ip.IsValid() {
		return fmt.Errorf("no address: %w", ErrPrivateAddress)
	}
	ip = ip.WithZone("").Unmap()
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			if err := checkIP(netip.AddrFrom4([4]byte(b[12:16]))); err != nil {
				return fmt.Errorf("%s (NAT64 of %w)", ip, err)
			}
		case sixToFour.Contains(ip):
			if err := checkIP(netip.AddrFrom4([4]byte(b[2:6]))); err != nil {
				return fmt.Errorf("%s (6to4 of %w)", ip, err)
			}
		}
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return fmt.Errorf("%s is in %s: %w", ip, p, ErrPrivateAddress)
		}
	}
	return nil
}

// guard dials targets, refusing blocked addresses unless allowPrivate. The
// decision is made in the dialer's Control hook, on the address the
// connection is about to be made to (after any name was resolved), before
// a packet is sent: a name whose answer points inside is refused like the
// address itself.
type guard struct {
	allowPrivate bool
	resolver     Resolver
	timeout      time.Duration // of a connection
	// beforeConnect, if set, is called with each address the guard lets
	// through, before the connection is made; an error stops it. Tests use
	// it to make sure no connection leaves 127.0.0.1.
	beforeConnect func(address string) error
}

// control is the net.Dialer Control hook.
func (g *guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook: dialling %q: not an address: %w", address, ErrPrivateAddress)
	}
	if !g.allowPrivate {
		if err := checkIP(ap.Addr()); err != nil {
			return fmt.Errorf("webhook: %w (allow it with AllowPrivate, -webhook-allow-private)", err)
		}
	}
	if g.beforeConnect != nil {
		return g.beforeConnect(address)
	}
	return nil
}

// DialContext is the transport's dial function. A name is resolved first
// and each of its addresses dialled in turn through the guarded dialer, so
// that the Control hook sees every address a connection is attempted to.
func (g *guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: g.timeout, Control: g.control}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return d.DialContext(ctx, network, addr)
	}
	ips, err := g.resolver.LookupNetIP(ctx, ipNetwork(network), host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("webhook: %s has no address", host)
	}
	var errs []error
	for _, ip := range ips {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.WithZone("").Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("webhook: %s: %w", host, errors.Join(errs...))
}

// ipNetwork is the network of a lookup for a dial's network.
func ipNetwork(network string) string {
	switch network {
	case "tcp4":
		return "ip4"
	case "tcp6":
		return "ip6"
	}
	return "ip"
}

// defaultResolver is the system's.
var defaultResolver Resolver = net.DefaultResolver
