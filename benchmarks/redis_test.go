//go:build redis

package benchmarks

import "context"

func init() { addServerStore("redis", openRedis) }

// openRedis starts a Redis server and opens a store on it; closing the
// store stops the server.
func openRedis() (Store, error) {
	ctx := context.Background()
	srv, err := StartRedis(ctx)
	if err != nil {
		return nil, err
	}
	s, err := NewRedisStore(ctx, srv.Options())
	if err != nil {
		srv.Stop()
		return nil, err
	}
	return serverStore{s, srv.Stop}, nil
}
