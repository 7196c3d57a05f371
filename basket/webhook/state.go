package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Store keeps each endpoint's delivery state (its checkpoint: the change
// last delivered, its status and the attempts at the next one) under the
// endpoint's id. A Deliverer saves it after each page of changes (100),
// every 200 ms while a backlog drains, before it waits for more, after a
// failed attempt and when it stops, so that a process that dies repeats at
// most what it delivered in its last 200 ms. DirStore keeps it in files,
// MemoryStore in memory, and package cluster in JetStream key-value for
// the nodes of a cluster.
type Store interface {
	// Load returns the value saved under key; nil and no error if none.
	Load(ctx context.Context, key string) ([]byte, error)
	// Save keeps value under key, durably once it returns nil.
	Save(ctx context.Context, key string, value []byte) error
}

// Status is an endpoint's state of delivery.
type Status string

// The statuses of an endpoint.
const (
	// StatusActive: changes are delivered as they come.
	StatusActive Status = "active"
	// StatusFailing: a change went undelivered for Retry.For (3 days); the
	// endpoint gets nothing more until it is resumed (Deliverer.Resume,
	// POST /api/webhooks/resume), from the change it failed on.
	StatusFailing Status = "failing"
	// StatusDisabled: the endpoint answered 410 Gone; it gets nothing more
	// until it is resumed, from the change it refused.
	StatusDisabled Status = "disabled"
)

// checkpoint is an endpoint's delivery state.
type checkpoint struct {
	Seq    uint64    // the last change delivered, or skipped by the endpoint's filter
	Status Status    // active, failing or disabled
	Since  time.Time // when Status became failing or disabled
	Reason string    // why
	// Attempts failed at the change after Seq, and when the first was
	// made: the retry schedule goes on where it was after a restart.
	Attempts     int
	FirstAttempt time.Time
}

// checkpointJSON is a checkpoint as stored: a versioned JSON object.
type checkpointJSON struct {
	V            int       `json:"v"`
	Seq          string    `json:"seq"`
	Status       Status    `json:"status"`
	Since        time.Time `json:"since,omitzero"`
	Reason       string    `json:"reason,omitempty"`
	Attempts     int       `json:"attempts,omitempty"`
	FirstAttempt time.Time `json:"firstAttempt,omitzero"`
}

func (c *checkpoint) encode() []byte {
	b, err := json.Marshal(checkpointJSON{V: 1, Seq: strconv.FormatUint(c.Seq, 10), Status: c.Status,
		Since: c.Since, Reason: c.Reason, Attempts: c.Attempts, FirstAttempt: c.FirstAttempt})
	if err != nil {
		panic(err) // plain fields always encode
	}
	return append(b, '\n')
}

func decodeCheckpoint(b []byte) (checkpoint, error) {
	var j checkpointJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&j); err != nil {
		return checkpoint{}, fmt.Errorf("not a delivery state: %v", err)
	}
	if j.V != 1 {
		return checkpoint{}, fmt.Errorf("delivery state of version %d; this build reads 1", j.V)
	}
	seq, err := strconv.ParseUint(j.Seq, 10, 64)
	if err != nil {
		return checkpoint{}, fmt.Errorf("delivery state: seq %q is not a number", j.Seq)
	}
	switch j.Status {
	case StatusActive, StatusFailing, StatusDisabled:
	default:
		return checkpoint{}, fmt.Errorf("delivery state: unknown status %q", j.Status)
	}
	if j.Attempts < 0 {
		return checkpoint{}, fmt.Errorf("delivery state: %d attempts", j.Attempts)
	}
	return checkpoint{Seq: seq, Status: j.Status, Since: j.Since, Reason: j.Reason,
		Attempts: j.Attempts, FirstAttempt: j.FirstAttempt}, nil
}

// DirStore is a Store of files in a directory, one per key: each written
// to a temporary file, synced, renamed over the old one, and the directory
// synced, so that a crash leaves either the old state or the new one.
type DirStore struct {
	dir string
}

// NewDirStore returns a DirStore in dir, creating it if needed.
func NewDirStore(dir string) (*DirStore, error) {
	if dir == "" {
		return nil, errors.New("webhook: DirStore: no directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return &DirStore{dir: dir}, nil
}

// path returns the file of key, which must be a plain name.
func (s *DirStore) path(key string) (string, error) {
	if key == "" || key != filepath.Base(key) || key[0] == '.' {
		return "", fmt.Errorf("webhook: state key %q: want a plain file name", key)
	}
	return filepath.Join(s.dir, key+".json"), nil
}

// Load reads the file of key.
func (s *DirStore) Load(_ context.Context, key string) ([]byte, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return b, nil
}

// Save writes the file of key atomically and durably.
func (s *DirStore) Save(_ context.Context, key string, value []byte) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, "."+key+".*.tmp")
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(value)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("webhook: saving the delivery state: %w", err)
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("webhook: syncing %s: %w", s.dir, err)
	}
	return nil
}

// MemoryStore is a Store in memory: what was delivered is forgotten with
// the process. It is safe for concurrent use.
type MemoryStore struct {
	mu sync.Mutex // guards m
	m  map[string][]byte
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: map[string][]byte{}} }

// Load returns a copy of the value of key.
func (s *MemoryStore) Load(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, nil
	}
	return bytes.Clone(v), nil
}

// Save keeps a copy of value.
func (s *MemoryStore) Save(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = bytes.Clone(value)
	return nil
}
