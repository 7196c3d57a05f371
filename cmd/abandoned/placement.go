package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/basketlab/abandoned/basket/cluster"
	"github.com/basketlab/abandoned/basket/httpapi"
)

// Placement: in a cluster with -environments, each environment is hosted
// by -replicas nodes, not by all, chosen by rendezvous hashing over the
// live nodes with a bound on each node's share (cluster.PlaceAll), so that the memory each node needs falls as
// nodes are added. Every node answers for every environment: one it does
// not host is forwarded to a node that does, once (a forwarded request is
// never forwarded again). When the members change, a node opens the
// environments now placed on it (caught up from snapshot and log before it
// announces them) and closes those placed elsewhere once their new hosts
// have announced them.

// Headers of a forwarded request: the forwarding node, the client's
// address (so that failed authentications slow the client down, not the
// node), and their MAC under the cluster's forwarding secret.
const (
	hdrForwardedBy    = "Abandoned-Forwarded-By"
	hdrForwardedFor   = "Abandoned-Forwarded-For"
	hdrForwardedProof = "Abandoned-Forwarded-Proof"
)

// streamReplicas is the replication of the environments' streams and of
// the cluster's buckets with -environments, where -replicas is how many
// nodes host each environment: at least three on embedded servers that
// are three or more, so that losing one server keeps a quorum of every
// stream (two replicas of two would not). With -nats-url it is -replicas.
func streamReplicas(c *natsConfig) int {
	if c.listen == "" {
		return c.replicas
	}
	return max(c.replicas, min(3, len(c.peers)+1))
}

// advertisedURL is the base URL other nodes forward to: -addr, with the
// machine's host name for an address that names no host.
func advertisedURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("-addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if host, err = os.Hostname(); err != nil {
			return "", fmt.Errorf("-addr %q names no host, and the machine's name is unknown: %w", addr, err)
		}
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// memberID is a node's id: its advertised address, in the characters an id
// may hold.
func memberID(u string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, strings.TrimPrefix(u, "http://"))
}

// applyPlaced makes specs the environments of the cluster: the routes lead
// every host to the placement's handler; the engines follow the placement.
func (es *environments) applyPlaced(ctx context.Context, specs []*envSpec) error {
	es.mu.Lock()
	if err := es.generateTokens(specs); err != nil {
		es.mu.Unlock()
		return err
	}
	es.specs = specs
	routes := map[string]http.Handler{}
	for _, sp := range specs {
		h := es.placed(sp.alias)
		for _, host := range sp.hosts {
			routes[host] = h
		}
	}
	es.hosts.SetRoutes(routes)
	es.mu.Unlock()
	return es.reconcile(ctx)
}

// reconcile opens the environments placed on this node that are not open
// here, gives those open a server of their spec, and closes those placed
// elsewhere once every node they are placed on has announced them.
func (es *environments) reconcile(ctx context.Context) error {
	es.reconcileMu.Lock()
	defer es.reconcileMu.Unlock()
	self := es.members.Self()
	live := es.members.Live()
	es.mu.Lock()
	specs := es.specs
	es.mu.Unlock()
	var errs []error
	aliases := make([]string, 0, len(specs))
	for _, sp := range specs {
		aliases = append(aliases, sp.alias)
	}
	placement := cluster.PlaceAll(aliases, live, es.cfg.nats.replicas)
	for _, sp := range specs {
		placed := placement[sp.alias]
		mine := slices.ContainsFunc(placed, func(m cluster.Member) bool { return m.ID == self.ID })
		es.mu.Lock()
		env := es.envs[sp.alias]
		es.mu.Unlock()
		switch {
		case mine && env != nil && !env.spec.sameEngine(sp):
			es.release(ctx, env)
			env = nil
			fallthrough
		case mine && env == nil:
			if err := es.host(ctx, sp); err != nil {
				errs = append(errs, err)
				continue
			}
		case mine && env != nil:
			if env.spec != sp {
				next := &environment{spec: sp, eng: env.eng, access: env.access, wh: env.wh}
				srv, err := es.newServer(sp, next)
				if err != nil {
					errs = append(errs, fmt.Errorf("environment %q: %w", sp.alias, err))
					continue
				}
				next.srv = srv
				es.mu.Lock()
				es.envs[sp.alias] = next
				es.mu.Unlock()
			}
		case !mine && env != nil:
			hosts := es.members.Hosts(sp.alias)
			ready := true
			for _, p := range placed {
				ready = ready && slices.ContainsFunc(hosts, func(h cluster.Member) bool { return h.ID == p.ID })
			}
			if !ready {
				continue // serve on until the new hosts have caught up
			}
			es.release(ctx, env)
		}
	}
	es.mu.Lock()
	var gone []*environment
	for alias, env := range es.envs {
		if !slices.ContainsFunc(specs, func(sp *envSpec) bool { return sp.alias == alias }) {
			gone = append(gone, env)
		}
	}
	es.mu.Unlock()
	for _, env := range gone {
		es.release(ctx, env)
	}
	if len(errs) > 0 {
		return fmt.Errorf("placing the environments: %w", errs[0])
	}
	return nil
}

// host opens an environment here, caught up with its log, and announces
// it.
func (es *environments) host(ctx context.Context, sp *envSpec) error {
	env, err := es.open(ctx, sp)
	if err != nil {
		return err
	}
	es.mu.Lock()
	es.envs[sp.alias] = env
	es.mu.Unlock()
	es.logger.Info("hosting an environment", "alias", sp.alias)
	return es.members.Announce(ctx, sp.alias)
}

// release withdraws an environment hosted here and closes its engine.
func (es *environments) release(ctx context.Context, env *environment) {
	if err := es.members.Withdraw(ctx, env.spec.alias); err != nil {
		es.logger.Warn("withdrawing an environment", "alias", env.spec.alias, "err", err.Error())
	}
	es.mu.Lock()
	if es.envs[env.spec.alias] == env {
		delete(es.envs, env.spec.alias)
	}
	es.mu.Unlock()
	es.stopLocked(env)
	es.logger.Info("no longer hosting an environment", "alias", env.spec.alias)
}

// placeLoop reconciles the placement whenever the members change, and
// every few seconds, until ctx is done.
func (es *environments) placeLoop(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-es.members.Changed():
		case <-t.C:
		}
		if err := es.reconcile(ctx); err != nil && ctx.Err() == nil {
			es.logger.Warn("the placement of the environments is incomplete; trying again", "err", err.Error())
		}
	}
}

// proof is the MAC of a forwarded request's headers.
func (es *environments) proof(by, addr string, r *http.Request) string {
	m := hmac.New(sha256.New, es.forwardKey)
	for _, s := range []string{by, addr, r.Method, r.Host, r.URL.RequestURI()} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// forwarded reports whether r was forwarded by a node of the cluster, and
// the client's address it names.
func (es *environments) forwarded(r *http.Request) (string, bool) {
	by, addr, p := r.Header.Get(hdrForwardedBy), r.Header.Get(hdrForwardedFor), r.Header.Get(hdrForwardedProof)
	if by == "" || p == "" {
		return "", false
	}
	return addr, hmac.Equal([]byte(p), []byte(es.proof(by, addr, r)))
}

var movingMessage = []byte("{\"message\":\"the environment is moving between nodes; retry\"}\n")

// placed returns the handler of an environment: its server, if it is
// hosted here, or a forward to a node that hosts it.
func (es *environments) placed(alias string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr, fwd := es.forwarded(r)
		for _, h := range []string{hdrForwardedBy, hdrForwardedFor, hdrForwardedProof} {
			r.Header.Del(h)
		}
		es.mu.Lock()
		env := es.envs[alias]
		es.mu.Unlock()
		if env != nil {
			if fwd {
				r = httpapi.WithClientAddr(r, addr)
			}
			env.srv.ServeHTTP(w, r)
			return
		}
		self := es.members.Self()
		hosts := slices.DeleteFunc(es.members.Hosts(alias), func(m cluster.Member) bool { return m.ID == self.ID })
		if fwd || len(hosts) == 0 {
			// One hop at most: a node that forwarded to a node that no
			// longer hosts it, or no host yet.
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write(movingMessage) //nolint:errcheck // the client went away
			return
		}
		target, err := url.Parse(hosts[rand.N(len(hosts))].URL)
		if err != nil {
			http.Error(w, "bad member URL", http.StatusBadGateway)
			return
		}
		client := r.RemoteAddr
		rp := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.Host = pr.In.Host // the environment's host
				pr.Out.Header.Set(hdrForwardedBy, self.ID)
				pr.Out.Header.Set(hdrForwardedFor, client)
				pr.Out.Header.Set(hdrForwardedProof, es.proof(self.ID, client, pr.Out))
			},
			FlushInterval: -1, // a feed or a page streams as it comes
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				w.Header().Set("Retry-After", "1")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write(movingMessage) //nolint:errcheck // the client went away
			},
		}
		rp.ServeHTTP(w, r)
	})
}
