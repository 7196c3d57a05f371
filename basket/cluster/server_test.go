package cluster_test

import (
	"net"
	"strings"
	"testing"

	"github.com/basketlab/abandoned/basket/cluster"
)

// TestStartServerBusyAddress: an address another listener holds is an
// error naming the flag and the address, not a server that never gets
// ready.
func TestStartServerBusyAddress(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	for _, tc := range []struct {
		flag string
		opts cluster.ServerOptions
	}{
		{"-nats-listen", cluster.ServerOptions{Listen: addr, Dir: t.TempDir()}},
		{"-nats-cluster", cluster.ServerOptions{Listen: "127.0.0.1:0", Cluster: addr, Dir: t.TempDir()}},
	} {
		srv, err := cluster.StartServer(tc.opts)
		if err == nil {
			srv.Shutdown()
			t.Fatalf("%s %s, held by another listener: the server started", tc.flag, addr)
		}
		if !strings.Contains(err.Error(), tc.flag) || !strings.Contains(err.Error(), addr) {
			t.Errorf("%s %s, held by another listener: %v; want an error naming the flag and the address", tc.flag, addr, err)
		}
	}
}
