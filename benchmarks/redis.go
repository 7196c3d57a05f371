//go:build redis

package benchmarks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/basketlab/abandoned/basket"
	"github.com/redis/go-redis/v9"
)

// The Redis store's keys: a sorted set of the abandoned baskets' ids scored
// by created (unix ms, exact in a float64; ties are ordered by id, byte by
// byte, which is (created, id) order), and a hash per basket.
const (
	redisIndex      = "abandoned"
	redisHashPrefix = "basket:"
)

// redisBatch is the number of inserts per round trip and MULTI/EXEC.
const redisBatch = 1000

// redisPage is the keyset page as one script, one round trip: the ids after
// (created, id) from the sorted set, then each basket's document. ARGV:
// created, id ("" for every basket created at or after created), the number
// of baskets, the hashes' key prefix. Ids are compared byte by byte, as the
// sorted set orders ties (Lua's < would follow the server's locale).
var redisPage = redis.NewScript(`
local function after(a, b)
	local n = math.min(#a, #b)
	for i = 1, n do
		local x, y = a:byte(i), b:byte(i)
		if x ~= y then return x > y end
	end
	return #a > #b
end
local c, id, n, prefix = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local ids, min = {}, c
if id ~= '' then
	for _, m in ipairs(redis.call('ZRANGE', KEYS[1], c, c, 'BYSCORE')) do
		if #ids < n and after(m, id) then ids[#ids + 1] = m end
	end
	min = '(' .. c
end
if #ids < n then
	for _, m in ipairs(redis.call('ZRANGE', KEYS[1], min, '+inf', 'BYSCORE', 'LIMIT', 0, n - #ids)) do
		ids[#ids + 1] = m
	end
end
local docs = {}
for i, m in ipairs(ids) do docs[i] = redis.call('HGET', prefix .. m, 'doc') end
return docs
`)

// RedisStore is Redis through github.com/redis/go-redis/v9: a sorted set
// by created and a hash per basket (created, email and the JSON document,
// the same as SQLiteStore's). A page is one script (redisPage) that seeks
// the sorted set and returns the documents, decoded with encoding/json.
// Load sends pipelines of 10,000 baskets; inserts are queued and sent 1,000
// at a time in one MULTI/EXEC, when full or by Flush (which every read
// calls first).
type RedisStore struct {
	rdb     *redis.Client
	tx      redis.Pipeliner // queued inserts
	pending int             // baskets in tx
}

// NewRedisStore connects to the server of opts (see RedisServer.Options).
func NewRedisStore(ctx context.Context, opts *redis.Options) (*RedisStore, error) {
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis store: %w", err)
	}
	if err := redisPage.Load(ctx, rdb).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis store: %w", err)
	}
	return &RedisStore{rdb: rdb, tx: rdb.TxPipeline()}, nil
}

// Name returns "redis".
func (s *RedisStore) Name() string { return "redis" }

// queue adds the commands that store b to p.
func queue(ctx context.Context, p redis.Pipeliner, b *basket.Basket) error {
	doc, err := json.Marshal(b)
	if err != nil {
		return err
	}
	created := b.Created.UnixMilli()
	p.HSet(ctx, redisHashPrefix+b.ID, "created", created, "email", b.CustomerDetails.Email, "doc", doc)
	p.ZAdd(ctx, redisIndex, redis.Z{Score: float64(created), Member: b.ID})
	return nil
}

// Load sends the baskets in pipelines of 10,000.
func (s *RedisStore) Load(bs []basket.Basket) error {
	ctx := context.Background()
	if err := s.Flush(); err != nil {
		return err
	}
	for lo := 0; lo < len(bs); lo += 10000 {
		p := s.rdb.Pipeline()
		for i := lo; i < min(len(bs), lo+10000); i++ {
			if err := queue(ctx, p, &bs[i]); err != nil {
				return err
			}
		}
		if _, err := p.Exec(ctx); err != nil {
			return fmt.Errorf("redis store: load: %w", err)
		}
	}
	return nil
}

// Insert queues one basket, sending the queue when it holds 1,000.
func (s *RedisStore) Insert(b *basket.Basket) error {
	if err := queue(context.Background(), s.tx, b); err != nil {
		return err
	}
	if s.pending++; s.pending == redisBatch {
		return s.Flush()
	}
	return nil
}

// Flush sends the queued inserts in one MULTI/EXEC.
func (s *RedisStore) Flush() error {
	if s.pending == 0 {
		return nil
	}
	s.pending = 0
	if _, err := s.tx.Exec(context.Background()); err != nil {
		return fmt.Errorf("redis store: insert: %w", err)
	}
	return nil
}

// Remove deletes the baskets in one MULTI/EXEC.
func (s *RedisStore) Remove(bs []*basket.Basket) error {
	if err := s.Flush(); err != nil {
		return err
	}
	if len(bs) == 0 {
		return nil
	}
	keys := make([]string, len(bs))
	members := make([]any, len(bs))
	for i, b := range bs {
		keys[i], members[i] = redisHashPrefix+b.ID, b.ID
	}
	ctx := context.Background()
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, redisIndex, members...)
		p.Del(ctx, keys...)
		return nil
	})
	return err
}

// Seek returns Pos{Key: after}.
func (s *RedisStore) Seek(after Key) (Pos, error) { return Pos{Key: after}, nil }

// Page runs redisPage for limit+1 baskets and decodes the first limit.
func (s *RedisStore) Page(pos Pos, limit int) ([]basket.Basket, Pos, error) {
	if pos.End {
		return nil, pos, nil
	}
	if err := s.Flush(); err != nil {
		return nil, Pos{}, err
	}
	ctx := context.Background()
	docs, err := redisPage.Run(ctx, s.rdb, []string{redisIndex},
		strconv.FormatInt(pos.Key.Created, 10), pos.Key.ID, limit+1, redisHashPrefix).Slice()
	if err != nil {
		return nil, Pos{}, fmt.Errorf("redis store: page: %w", err)
	}
	more := len(docs) > limit
	out := make([]basket.Basket, min(limit, len(docs)))
	for i := range out {
		doc, ok := docs[i].(string)
		if !ok {
			return nil, Pos{}, fmt.Errorf("redis store: page: item %d is %T, not a document: the sorted set names a basket with no hash", i, docs[i])
		}
		if err := json.Unmarshal([]byte(doc), &out[i]); err != nil {
			return nil, Pos{}, fmt.Errorf("redis store: page: %w", err)
		}
	}
	return out, endPos(out, more), nil
}

// Len returns the number of baskets in the sorted set.
func (s *RedisStore) Len() (int, error) {
	if err := s.Flush(); err != nil {
		return 0, err
	}
	n, err := s.rdb.ZCard(context.Background(), redisIndex).Result()
	return int(n), err
}

// Close sends any queued inserts and closes the client.
func (s *RedisStore) Close() error {
	return errors.Join(s.Flush(), s.rdb.Close())
}

// RedisServer is a redis-server that this process started in a temporary
// directory, listening on a unix socket there only (port 0: no TCP). It
// persists nothing: no RDB snapshots (save "") and no append-only file, as
// the engine and BuntDB in these benchmarks keep everything in memory.
type RedisServer struct {
	srv  *server
	sock string
}

// StartRedis starts redis-server (found in $PATH) in a new temporary
// directory and returns once it answers PING. Stop stops it and removes
// the directory.
func StartRedis(ctx context.Context) (*RedisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis: redis-server is not in $PATH; %w", ErrNotInstalled)
	}
	dir, err := newServerDir("redis", nil)
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "redis.sock")
	srv, err := startServer("redis-server", dir, nil, syscall.SIGTERM, bin,
		"--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--logfile", "")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r := &RedisServer{srv: srv, sock: sock}
	err = srv.waitReady(ctx, func(ctx context.Context) error {
		c := redis.NewClient(r.Options())
		defer c.Close()
		return c.Ping(ctx).Err()
	})
	if err != nil {
		srv.stop()
		return nil, err
	}
	return r, nil
}

// Options returns the client options that reach the server: its socket,
// one connection (the stores are not safe for concurrent use).
func (r *RedisServer) Options() *redis.Options {
	return &redis.Options{Network: "unix", Addr: r.sock, PoolSize: 1, DisableIdentity: true}
}

// Stop stops the server and removes its directory. It is idempotent.
func (r *RedisServer) Stop() error { return r.srv.stop() }
