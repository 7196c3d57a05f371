//go:build postgres

package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/basketlab/abandoned/basket"
	"github.com/jackc/pgx/v5"
)

// postgresSchema is a table of baskets, the JSON document beside the
// columns that are queried, and a partial index on (created, id) of the
// abandoned rows only. Ids compare in byte order (COLLATE "C"), as the
// engine's do.
const postgresSchema = `
CREATE TABLE IF NOT EXISTS baskets (
	id        text COLLATE "C" PRIMARY KEY,
	created   bigint NOT NULL,
	abandoned boolean NOT NULL,
	email     text NOT NULL,
	doc       bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS baskets_abandoned ON baskets (created, id) WHERE abandoned;
`

// PostgresPageQuery is the keyset page query: it reads the partial index
// from the position after (created, id).
const PostgresPageQuery = `SELECT id, created, doc FROM baskets
WHERE abandoned AND (created, id) > ($1, $2) ORDER BY created, id LIMIT $3`

const postgresInsert = `INSERT INTO baskets (id, created, abandoned, email, doc) VALUES ($1, $2, true, $3, $4)`

// postgresBatch is the number of inserts per round trip and transaction.
const postgresBatch = 1000

// PostgresStore is PostgreSQL through github.com/jackc/pgx/v5: one
// connection, statements prepared and cached by pgx, keyset pagination over
// a partial index, rows materialised by decoding their JSON document (the
// same document as SQLiteStore's). Load is a COPY followed by VACUUM
// ANALYZE. Inserts are queued and sent 1,000 at a time in one round trip,
// one implicit transaction (pgx's batch), when full or by Flush (which every
// read calls first).
type PostgresStore struct {
	conn  *pgx.Conn
	batch pgx.Batch // queued inserts
}

// NewPostgresStore connects to the database of connString (see
// PostgresServer.ConnString) and creates the table and index if they are
// missing.
func NewPostgresStore(ctx context.Context, connString string) (*PostgresStore, error) {
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	if _, err := conn.Exec(ctx, postgresSchema); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	return &PostgresStore{conn: conn}, nil
}

// Name returns "postgres".
func (s *PostgresStore) Name() string { return "postgres" }

// Load copies the baskets into the table (COPY FROM STDIN, binary) and then
// runs VACUUM ANALYZE, as after any bulk load: the planner learns the
// table's size and the visibility map is set.
func (s *PostgresStore) Load(bs []basket.Basket) error {
	ctx := context.Background()
	if err := s.Flush(); err != nil {
		return err
	}
	var rowErr error
	_, err := s.conn.CopyFrom(ctx, pgx.Identifier{"baskets"},
		[]string{"id", "created", "abandoned", "email", "doc"},
		pgx.CopyFromSlice(len(bs), func(i int) ([]any, error) {
			b := &bs[i]
			doc, err := json.Marshal(b)
			if err != nil {
				rowErr = err
				return nil, err
			}
			return []any{b.ID, b.Created.UnixMilli(), true, b.CustomerDetails.Email, doc}, nil
		}))
	if err != nil {
		if rowErr != nil {
			err = rowErr
		}
		return fmt.Errorf("postgres store: copy: %w", err)
	}
	if _, err := s.conn.Exec(ctx, `VACUUM ANALYZE baskets`); err != nil {
		return fmt.Errorf("postgres store: %w", err)
	}
	return nil
}

// Insert queues one basket, sending the queue when it holds 1,000.
func (s *PostgresStore) Insert(b *basket.Basket) error {
	doc, err := json.Marshal(b)
	if err != nil {
		return err
	}
	s.batch.Queue(postgresInsert, b.ID, b.Created.UnixMilli(), b.CustomerDetails.Email, doc)
	if s.batch.Len() == postgresBatch {
		return s.Flush()
	}
	return nil
}

// Flush sends the queued inserts in one round trip, as one transaction.
func (s *PostgresStore) Flush() error {
	if s.batch.Len() == 0 {
		return nil
	}
	err := s.conn.SendBatch(context.Background(), &s.batch).Close()
	s.batch = pgx.Batch{}
	if err != nil {
		return fmt.Errorf("postgres store: insert: %w", err)
	}
	return nil
}

// Remove deletes the baskets in one statement.
func (s *PostgresStore) Remove(bs []*basket.Basket) error {
	if err := s.Flush(); err != nil {
		return err
	}
	ids := make([]string, len(bs))
	for i, b := range bs {
		ids[i] = b.ID
	}
	_, err := s.conn.Exec(context.Background(), `DELETE FROM baskets WHERE id = ANY($1)`, ids)
	return err
}

// Seek returns Pos{Key: after}.
func (s *PostgresStore) Seek(after Key) (Pos, error) { return Pos{Key: after}, nil }

// Page runs PostgresPageQuery for limit+1 rows and decodes the first limit.
func (s *PostgresStore) Page(pos Pos, limit int) ([]basket.Basket, Pos, error) {
	if pos.End {
		return nil, pos, nil
	}
	if err := s.Flush(); err != nil {
		return nil, Pos{}, err
	}
	rows, err := s.conn.Query(context.Background(), PostgresPageQuery, pos.Key.Created, pos.Key.ID, limit+1)
	if err != nil {
		return nil, Pos{}, err
	}
	defer rows.Close()
	out := make([]basket.Basket, 0, limit)
	more := false
	var (
		id      string
		created int64
		doc     []byte
	)
	for rows.Next() {
		if len(out) == limit {
			more = true
			break
		}
		if err := rows.Scan(&id, &created, &doc); err != nil {
			return nil, Pos{}, err
		}
		var b basket.Basket
		if err := json.Unmarshal(doc, &b); err != nil {
			return nil, Pos{}, fmt.Errorf("postgres store: basket %q: %w", id, err)
		}
		out = append(out, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, Pos{}, err
	}
	return out, endPos(out, more), nil
}

// QueryPlans returns PostgreSQL's plans for PostgresPageQuery after (0, "")
// for 10 rows: the custom plan for those values, and the generic plan that
// a prepared statement may switch to after five executions.
func (s *PostgresStore) QueryPlans() (custom, generic string, err error) {
	if err := s.Flush(); err != nil {
		return "", "", err
	}
	ctx := context.Background()
	explain := func(sql string, args ...any) (string, error) {
		rows, err := s.conn.Query(ctx, sql, args...)
		if err != nil {
			return "", err
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		return strings.Join(lines, "\n"), err
	}
	if custom, err = explain(`EXPLAIN `+PostgresPageQuery, int64(0), "", 10); err != nil {
		return "", "", err
	}
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return "", "", err
	}
	defer tx.Rollback(ctx)
	for _, q := range []string{
		`SET LOCAL plan_cache_mode = force_generic_plan`,
		`PREPARE abandoned_page (bigint, text, int) AS ` + PostgresPageQuery,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return "", "", err
		}
	}
	generic, err = explain(`EXPLAIN EXECUTE abandoned_page (0, '', 10)`)
	if err == nil {
		_, err = tx.Exec(ctx, `DEALLOCATE abandoned_page`)
	}
	return custom, generic, err
}

// Len returns the number of abandoned baskets.
func (s *PostgresStore) Len() (int, error) {
	if err := s.Flush(); err != nil {
		return 0, err
	}
	var n int
	err := s.conn.QueryRow(context.Background(), `SELECT count(*) FROM baskets WHERE abandoned`).Scan(&n)
	return n, err
}

// Close sends any queued inserts and closes the connection.
func (s *PostgresStore) Close() error {
	err := s.Flush()
	if cerr := s.conn.Close(context.Background()); err == nil {
		err = cerr
	}
	return err
}

// PostgresServer is a PostgreSQL server that this process started in a
// temporary directory, listening on a unix socket there only (no TCP),
// with trust authentication for its one user. Run as root, it runs as the
// user postgres (Debian's package makes it) or else nobody, which owns the
// directory: PostgreSQL refuses to run as root.
//
// It runs with shared_buffers=256MB (as SQLiteStore's page cache) and
// synchronous_commit=off: a commit does not wait for the WAL to reach the
// disk, as SQLite's synchronous=NORMAL in WAL mode does not. The cluster is
// made by initdb with no locale, so text sorts in byte order.
type PostgresServer struct {
	srv  *server
	conn string
}

// postgresBinDir returns the directory of initdb and postgres: the newest
// /usr/lib/postgresql/<version>/bin (Debian), or else the directory of
// initdb in $PATH.
func postgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("postgres: initdb is neither in /usr/lib/postgresql/*/bin nor in $PATH; %w", ErrNotInstalled)
}

// postgresUser returns the credential the server runs with: nil unless this
// process is root; then the user postgres, or else nobody.
func postgresUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: running as root and no unprivileged user (postgres, nobody) to run the server as: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// StartPostgres makes a database cluster with initdb in a new temporary
// directory and starts postgres on it; it returns once the server accepts
// connections. Stop stops it and removes the directory.
func StartPostgres(ctx context.Context) (*PostgresServer, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := postgresUser()
	if err != nil {
		return nil, err
	}
	dir, err := newServerDir("postgres", cred)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "bench", "-A", "trust",
		"-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
	initdb.Dir = dir
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("postgres: initdb: %v:\n%s", err, out)
	}
	srv, err := startServer("postgres", dir, cred, syscall.SIGINT, filepath.Join(bin, "postgres"),
		"-D", data, "-k", dir, "-p", "5432",
		"-c", "listen_addresses=",
		"-c", "shared_buffers=256MB",
		"-c", "synchronous_commit=off",
	)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p := &PostgresServer{srv: srv, conn: fmt.Sprintf("host=%s port=5432 user=bench dbname=postgres sslmode=disable", dir)}
	err = srv.waitReady(ctx, func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, p.conn)
		if err != nil {
			return err
		}
		return c.Close(ctx)
	})
	if err != nil {
		srv.stop()
		return nil, err
	}
	return p, nil
}

// ConnString returns the server's connection string for pgx.
func (p *PostgresServer) ConnString() string { return p.conn }

// Stop stops the server (a fast shutdown: clients are disconnected) and
// removes its directory. It is idempotent.
func (p *PostgresServer) Stop() error { return p.srv.stop() }
