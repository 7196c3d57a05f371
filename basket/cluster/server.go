package cluster

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ServerOptions configure a node's embedded NATS server.
type ServerOptions struct {
	// Name is the server's name in the cluster; default: its route address.
	Name string
	// Listen is the client address, HOST:PORT (port 0: any free port).
	Listen string
	// Cluster is the route address, HOST:PORT, that the other nodes' Peers
	// name. Empty: a server of its own, not a cluster.
	Cluster string
	// Peers are the route addresses of the other nodes.
	Peers []string
	// Dir is where JetStream keeps its storage (required).
	Dir string
	// ClusterName is the NATS cluster's name. Default "abandoned".
	ClusterName string
}

// Server is an embedded NATS server with JetStream that fsyncs every write.
type Server struct {
	s *server.Server
}

// StartServer starts an embedded NATS server and waits until it takes
// connections.
func StartServer(o ServerOptions) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("cluster: an embedded NATS server needs a directory (-data-dir)")
	}
	host, port, err := splitHostPort(o.Listen, "-nats-listen")
	if err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName: o.Name,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(o.Dir, "nats"),
		SyncAlways: true, // an acknowledged write is on the disks of a quorum
		NoSigs:     true,
		NoLog:      true,
		// No account or user configuration: the server listens where it is
		// told, which should be an address only the nodes reach.
	}
	if o.Cluster != "" {
		chost, cport, err := splitHostPort(o.Cluster, "-nats-cluster")
		if err != nil {
			return nil, err
		}
		opts.Cluster = server.ClusterOpts{Name: o.ClusterName, Host: chost, Port: cport}
		if opts.Cluster.Name == "" {
			opts.Cluster.Name = "abandoned"
		}
		if opts.ServerName == "" {
			opts.ServerName = o.Cluster
		}
		for _, p := range o.Peers {
			if _, _, err := splitHostPort(p, "-nats-peers"); err != nil {
				return nil, err
			}
			opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats", Host: p})
		}
	}
	// The server cannot say which listener failed: an address another
	// process holds is named here instead of after a 30 s wait.
	if err := canListen(o.Listen, "-nats-listen"); err != nil {
		return nil, err
	}
	if o.Cluster != "" {
		if err := canListen(o.Cluster, "-nats-cluster"); err != nil {
			return nil, err
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cluster: starting NATS: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, errors.New("cluster: the embedded NATS server did not get ready in 30 s")
	}
	return &Server{s: s}, nil
}

// Connect returns a connection to the server, in process.
func (s *Server) Connect() (*nats.Conn, error) {
	nc, err := nats.Connect(s.s.ClientURL(), nats.InProcessServer(s.s), nats.MaxReconnects(-1), nats.Name("abandoned"))
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return nc, nil
}

// ClientURL returns the URL that clients connect to.
func (s *Server) ClientURL() string { return s.s.ClientURL() }

// ClusterAddr returns the route address, or nil.
func (s *Server) ClusterAddr() *net.TCPAddr { return s.s.ClusterAddr() }

// Shutdown stops the server and waits until it has.
func (s *Server) Shutdown() {
	s.s.Shutdown()
	s.s.WaitForShutdown()
}

// Connect connects to an existing NATS cluster: urls, comma-separated.
func Connect(urls string) (*nats.Conn, error) {
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.Name("abandoned"))
	if err != nil {
		return nil, fmt.Errorf("cluster: connecting to %s: %w", urls, err)
	}
	return nc, nil
}

// canListen reports an error naming flag if hp cannot be listened on now
// (in use, or not an address of this machine). A port of 0 is any.
func canListen(hp, flag string) error {
	ln, err := net.Listen("tcp", hp)
	if err != nil {
		return fmt.Errorf("cluster: %s %s: %w", flag, hp, err)
	}
	return ln.Close()
}

func splitHostPort(hp, flag string) (string, int, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q: want HOST:PORT: %w", flag, hp, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%s %q: the port is not a number from 0 to 65535", flag, hp)
	}
	if port == 0 {
		port = -1 // NATS: any free port
	}
	return host, port, nil
}
