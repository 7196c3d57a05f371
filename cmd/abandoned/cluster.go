package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/cluster"
)

const clusterUsage = `
  # A node of a 3-node cluster on one machine (each with its own embedded
  # NATS server; likewise n2 on 8082, 4222, 6222 and n3 on 8083, 4223, 6223,
  # each naming the other two as peers):
  abandoned serve -addr 127.0.0.1:8081 -data-dir n1 -alias shop -recovery-secret "$S" -api-token "$T" \
    -nats-listen 127.0.0.1:4221 -nats-cluster 127.0.0.1:6221 -nats-peers 127.0.0.1:6222,127.0.0.1:6223

  # A node on an existing NATS cluster with JetStream (configured to fsync
  # every write: sync_interval: always):
  abandoned serve -nats-url nats://10.0.0.5:4222,nats://10.0.0.6:4222 -alias shop -recovery-secret "$S"
`

// natsConfig is what serve's cluster flags say.
type natsConfig struct {
	url      string
	listen   string
	route    string
	peers    commaList
	replicas int
}

func (c *natsConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "nats-url", "", "run as a node of a cluster on an existing NATS cluster with JetStream at these `URLs` (comma-separated)")
	fs.StringVar(&c.listen, "nats-listen", "", "run as a node of a cluster with an embedded NATS server whose client `address` is HOST:PORT; its storage goes under -data-dir")
	fs.StringVar(&c.route, "nats-cluster", "", "the embedded NATS server's route `address` HOST:PORT, which the other nodes' -nats-peers name")
	fs.Var(&c.peers, "nats-peers", "route `addresses` HOST:PORT[,HOST:PORT...] of the other nodes' embedded NATS servers")
	fs.IntVar(&c.replicas, "replicas", cluster.DefaultReplicas, "replicas of the cluster's log (a JetStream stream); `n` 1 for a single NATS server")
}

func (c *natsConfig) enabled() bool { return c.url != "" || c.listen != "" }

// check validates the cluster flags against the others.
func (c *natsConfig) check(dataDir string) error {
	switch {
	case c.url != "" && c.listen != "":
		return errors.New("-nats-url and -nats-listen: give one (an existing NATS cluster, or an embedded server)")
	case c.listen == "" && (c.route != "" || len(c.peers) > 0):
		return errors.New("-nats-cluster and -nats-peers need -nats-listen (an embedded server)")
	case len(c.peers) > 0 && c.route == "":
		return errors.New("-nats-peers needs -nats-cluster: this node's own route address")
	case c.listen != "" && dataDir == "":
		return errors.New("-nats-listen needs -data-dir: the embedded NATS server keeps its storage there")
	case c.enabled() && c.replicas < 1:
		return fmt.Errorf("-replicas %d: want at least 1", c.replicas)
	}
	return nil
}

// open starts the node's NATS side (an embedded server, or a connection to
// an existing cluster) and an engine on the environment's stream. The
// returned function stops what it started, after the engine is closed.
func (c *natsConfig) open(ctx context.Context, opts *basket.Options, dataDir string, logger *slog.Logger) (*basket.Engine, func(), error) {
	var (
		nc   *nats.Conn
		srv  *cluster.Server
		err  error
		stop = func() {}
	)
	if c.listen != "" {
		srv, err = cluster.StartServer(cluster.ServerOptions{Listen: c.listen, Cluster: c.route, Peers: c.peers, Dir: dataDir})
		if err != nil {
			return nil, nil, err
		}
		stop = srv.Shutdown
		nc, err = srv.Connect()
	} else {
		nc, err = cluster.Connect(c.url)
	}
	if err != nil {
		stop()
		return nil, nil, err
	}
	stopAll := func() {
		nc.Close()
		stop()
	}
	logger.Info("joining the cluster", "replicas", c.replicas)
	jctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if len(opts.RecoverySecrets) == 0 {
		secret, err := cluster.SharedSecret(jctx, nc, opts.Alias, c.replicas)
		if err != nil {
			stopAll()
			return nil, nil, err
		}
		opts.RecoverySecrets = [][]byte{secret}
	}
	l, err := cluster.OpenLog(jctx, nc, opts.Alias, c.replicas)
	if err != nil {
		stopAll()
		return nil, nil, err
	}
	if l.Replicas() == 1 {
		logger.Warn("the cluster's log has one replica: losing its server loses the log; use -replicas 3 on three or more NATS servers")
	}
	opts.Log = l
	opts.Store = nil
	eng, err := basket.New(opts)
	if err != nil {
		stopAll()
		return nil, nil, err
	}
	return eng, stopAll, nil
}

// commaList is a repeatable flag whose values may each be a comma-separated
// list.
type commaList []string

func (l *commaList) String() string { return strings.Join(*l, ",") }

func (l *commaList) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

func (*commaList) repeatable() {}
