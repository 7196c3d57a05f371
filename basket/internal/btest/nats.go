package btest

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/cluster"
)

// FreeAddrs returns n addresses on 127.0.0.1 that were free a moment ago.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// NATSCluster starts n embedded NATS servers with JetStream on 127.0.0.1,
// routed to each other, storage in temporary directories; the test's
// cleanup stops them. Route ports are chosen free beforehand; if another
// test takes one in between, the cluster is started again on others.
func NATSCluster(t testing.TB, n int) []*cluster.Server {
	t.Helper()
	for attempt := 0; ; attempt++ {
		srvs, err := tryNATSCluster(t, n)
		if err == nil {
			t.Cleanup(func() {
				for _, s := range srvs {
					s.Shutdown()
				}
			})
			return srvs
		}
		if attempt == 2 {
			t.Fatal(err)
		}
	}
}

func tryNATSCluster(t testing.TB, n int) ([]*cluster.Server, error) {
	routes := FreeAddrs(t, n)
	var srvs []*cluster.Server
	for i := range n {
		var peers []string
		for j, r := range routes {
			if j != i {
				peers = append(peers, r)
			}
		}
		// Clients connect in process: any free client port will do.
		s, err := cluster.StartServer(cluster.ServerOptions{Name: "n" + strconv.Itoa(i+1), Listen: "127.0.0.1:0",
			Cluster: routes[i], Peers: peers, Dir: t.TempDir()})
		if err != nil {
			for _, s := range srvs {
				s.Shutdown()
			}
			return nil, err
		}
		srvs = append(srvs, s)
	}
	return srvs, nil
}

// ClusterEngines starts an engine with opts on each server, all on the
// stream of opts.Alias with as many replicas as servers; the test's cleanup
// closes them.
func ClusterEngines(t testing.TB, srvs []*cluster.Server, opts *basket.Options) []*basket.Engine {
	t.Helper()
	engs := make([]*basket.Engine, len(srvs))
	errs := make(chan error, len(srvs))
	for i, s := range srvs {
		go func() {
			nc, err := s.Connect()
			if err != nil {
				errs <- err
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			l, err := cluster.OpenLog(ctx, nc, opts.Alias, len(srvs))
			if err != nil {
				nc.Close()
				errs <- err
				return
			}
			o := *opts
			o.Log = l
			eng, err := basket.New(&o)
			if err != nil {
				nc.Close()
				errs <- err
				return
			}
			engs[i] = eng
			t.Cleanup(func() {
				eng.Close()
				nc.Close()
			})
			errs <- nil
		}()
	}
	for range srvs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return engs
}
