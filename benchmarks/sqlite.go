package benchmarks

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/basketlab/abandoned/basket"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// sqliteSchema is a table of baskets, the JSON document beside the columns
// that are queried, and a partial index on (created, id) of the abandoned
// rows only.
const sqliteSchema = `
CREATE TABLE IF NOT EXISTS baskets (
	id        TEXT PRIMARY KEY,
	created   INTEGER NOT NULL,
	abandoned INTEGER NOT NULL,
	email     TEXT NOT NULL,
	doc       BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS baskets_abandoned ON baskets (created, id) WHERE abandoned;
`

// SQLitePageQuery is the keyset page query: it reads the partial index from
// the position after (created, id).
const SQLitePageQuery = `SELECT id, created, doc FROM baskets
WHERE abandoned AND (created, id) > (?, ?) ORDER BY created, id LIMIT ?`

// sqliteBatch is the number of inserts per transaction.
const sqliteBatch = 1000

// SQLiteStore is SQLite through modernc.org/sqlite (pure Go): a file in WAL
// mode with synchronous=NORMAL and a 256 MiB page cache, one connection,
// prepared statements, keyset pagination over a partial index, rows
// materialised by decoding their JSON document. Inserts are batched in
// transactions of 1,000, committed when full or by Flush (which every read
// calls first).
type SQLiteStore struct {
	db      *sql.DB
	ins     *sql.Stmt
	del     *sql.Stmt
	page    *sql.Stmt
	tx      *sql.Tx   // open insert transaction, if any
	txIns   *sql.Stmt // ins within tx
	pending int       // inserts in tx
}

// NewSQLiteStore creates or opens the database baskets.db in dir.
func NewSQLiteStore(dir string) (*SQLiteStore, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(NORMAL)", "cache_size(-262144)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	dsn := "file:" + filepath.Join(dir, "baskets.db") + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1) // one page cache; reads flush the open transaction first
	s := &SQLiteStore{db: db}
	if err := s.prepare(); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	return s, nil
}

func (s *SQLiteStore) prepare() error {
	var mode string
	if err := s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q, not wal", mode)
	}
	if _, err := s.db.Exec(sqliteSchema); err != nil {
		return err
	}
	var err error
	if s.ins, err = s.db.Prepare(`INSERT INTO baskets (id, created, abandoned, email, doc) VALUES (?, ?, 1, ?, ?)`); err != nil {
		return err
	}
	if s.del, err = s.db.Prepare(`DELETE FROM baskets WHERE id = ?`); err != nil {
		return err
	}
	s.page, err = s.db.Prepare(SQLitePageQuery)
	return err
}

// Name returns "sqlite".
func (s *SQLiteStore) Name() string { return "sqlite" }

// Load inserts the baskets in transactions of 1,000.
func (s *SQLiteStore) Load(bs []basket.Basket) error {
	for i := range bs {
		if err := s.Insert(&bs[i]); err != nil {
			return err
		}
	}
	return s.Flush()
}

// Insert adds one basket to the open transaction, committing it when it
// holds 1,000.
func (s *SQLiteStore) Insert(b *basket.Basket) error {
	doc, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if s.tx == nil {
		if s.tx, err = s.db.Begin(); err != nil {
			return err
		}
		s.txIns = s.tx.Stmt(s.ins)
	}
	if _, err := s.txIns.Exec(b.ID, b.Created.UnixMilli(), b.CustomerDetails.Email, doc); err != nil {
		s.tx.Rollback()
		s.tx, s.pending = nil, 0
		return err
	}
	if s.pending++; s.pending == sqliteBatch {
		return s.Flush()
	}
	return nil
}

// Flush commits the open insert transaction.
func (s *SQLiteStore) Flush() error {
	if s.tx == nil {
		return nil
	}
	err := s.tx.Commit()
	s.tx, s.txIns, s.pending = nil, nil, 0
	return err
}

// Remove deletes the baskets in one transaction.
func (s *SQLiteStore) Remove(bs []*basket.Basket) error {
	if err := s.Flush(); err != nil {
		return err
	}
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	del := tx.Stmt(s.del)
	for _, b := range bs {
		if _, err := del.Exec(b.ID); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// Seek returns Pos{Key: after}.
func (s *SQLiteStore) Seek(after Key) (Pos, error) { return Pos{Key: after}, nil }

// Page runs SQLitePageQuery for limit+1 rows and decodes the first limit.
func (s *SQLiteStore) Page(pos Pos, limit int) ([]basket.Basket, Pos, error) {
	if pos.End {
		return nil, pos, nil
	}
	if err := s.Flush(); err != nil {
		return nil, Pos{}, err
	}
	rows, err := s.page.Query(pos.Key.Created, pos.Key.ID, limit+1)
	if err != nil {
		return nil, Pos{}, err
	}
	defer rows.Close()
	out := make([]basket.Basket, 0, limit)
	more := false
	for rows.Next() {
		if len(out) == limit {
			more = true
			break
		}
		var (
			id      string
			created int64
			doc     sql.RawBytes
		)
		if err := rows.Scan(&id, &created, &doc); err != nil {
			return nil, Pos{}, err
		}
		var b basket.Basket
		if err := json.Unmarshal(doc, &b); err != nil {
			return nil, Pos{}, fmt.Errorf("sqlite store: basket %q: %w", id, err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, Pos{}, err
	}
	return out, endPos(out, more), nil
}

// QueryPlan returns SQLite's plan for SQLitePageQuery, one line per step.
func (s *SQLiteStore) QueryPlan() ([]string, error) {
	if err := s.Flush(); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(`EXPLAIN QUERY PLAN `+SQLitePageQuery, 0, "", 10)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return nil, err
		}
		plan = append(plan, detail)
	}
	return plan, rows.Err()
}

// Len returns the number of abandoned baskets.
func (s *SQLiteStore) Len() (int, error) {
	if err := s.Flush(); err != nil {
		return 0, err
	}
	var n int
	err := s.db.QueryRow(`SELECT count(*) FROM baskets WHERE abandoned`).Scan(&n)
	return n, err
}

// Close commits any open transaction and closes the database.
func (s *SQLiteStore) Close() error {
	err := s.Flush()
	for _, st := range []*sql.Stmt{s.ins, s.del, s.page} {
		st.Close()
	}
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}
