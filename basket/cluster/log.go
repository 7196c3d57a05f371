package cluster

import (
	"bytes"
	"cmp"
	"context"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/basketlab/abandoned/basket/store"
)

// DefaultReplicas is how many replicas a stream has by default.
const DefaultReplicas = 3

// Log is a basket.Log over one JetStream stream: one environment's records.
type Log struct {
	js      jetstream.JetStream
	stream  jetstream.Stream
	subject string
	snaps   jetstream.ObjectStore // the stream's snapshots
}

// StreamName returns the name of the stream that holds alias's records.
func StreamName(alias string) string {
	var b strings.Builder
	b.WriteString("ABANDONED_")
	for _, c := range alias {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	// Two aliases that differ only where characters were replaced stay apart.
	sum := sha256.Sum256([]byte(alias))
	b.WriteString("_" + hex.EncodeToString(sum[:4]))
	return b.String()
}

// OpenLog finds or creates the stream of alias, with replicas replicas, on
// the JetStream that nc reaches. It waits (until ctx is done) for the
// JetStream cluster to be ready.
func OpenLog(ctx context.Context, nc *nats.Conn, alias string, replicas int) (*Log, error) {
	if replicas < 1 {
		return nil, fmt.Errorf("cluster: %d replicas: want at least 1", replicas)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	name := StreamName(alias)
	cfg := jetstream.StreamConfig{
		Name:        name,
		Description: "abandoned: the log of environment " + alias,
		Subjects:    []string{"abandoned.log." + name},
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  2 * time.Minute,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
	}
	var stream jetstream.Stream
	err = retry(ctx, func(ctx context.Context) error {
		var err error
		stream, err = js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			stream, err = js.CreateStream(ctx, cfg)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				stream, err = js.Stream(ctx, name) // another node was first
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: the stream %s: %w", name, err)
	}
	if got := stream.CachedInfo().Config.Replicas; got != replicas {
		return nil, fmt.Errorf("cluster: the stream %s has %d replicas; this node asks for %d (-replicas)", name, got, replicas)
	}
	var snaps jetstream.ObjectStore
	err = retry(ctx, func(ctx context.Context) error {
		var err error
		snaps, err = js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket: SnapshotBucket(alias), Replicas: replicas, Storage: jetstream.FileStorage,
			Description: "abandoned: snapshots of environment " + alias,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: the snapshots' bucket of %s: %w", name, err)
	}
	return &Log{js: js, stream: stream, subject: cfg.Subjects[0], snaps: snaps}, nil
}

// SnapshotBucket returns the name of the object store that holds the
// snapshots of alias's stream.
func SnapshotBucket(alias string) string { return StreamName(alias) + "_SNAPSHOTS" }

// keepSnapshots is how many snapshots a stream keeps: the stream drops the
// records the oldest of them covers, so that a node whose newest snapshot
// fails to load still has an older one and the records after it.
const keepSnapshots = 2

// snapshotName is the object of the snapshot after record seq; names sort
// as their sequences do.
func snapshotName(seq uint64) string { return fmt.Sprintf("snapshot-%020d", seq) }

func snapshotSeq(name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, "snapshot-")
	if !ok || len(digits) != 20 {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

// snapshots returns the sequences of the snapshots stored, newest first.
func (l *Log) snapshots(ctx context.Context) ([]uint64, error) {
	var infos []*jetstream.ObjectInfo
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		infos, err = l.snaps.List(ctx)
		if errors.Is(err, jetstream.ErrNoObjectsFound) {
			infos, err = nil, nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	for _, info := range infos {
		if seq, ok := snapshotSeq(info.Name); ok && !info.Deleted {
			seqs = append(seqs, seq)
		}
	}
	slices.SortFunc(seqs, func(a, b uint64) int { return cmp.Compare(b, a) })
	return seqs, nil
}

// Snapshots are stored in parts of snapshotPart bytes, each an object of
// one chunk, and a manifest object that lists them: the object store's
// own chunking reuses one message for every chunk of an object, which the
// client may send again on a retry after a chunk has moved on (a data
// race, and a corrupt object), so no object here has more than one chunk.
const snapshotPart = 512 << 10

// manifest is a snapshot's manifest object.
type manifest struct {
	Parts int    `json:"parts"`
	Size  uint64 `json:"size"`
}

func partName(seq uint64, i int) string { return fmt.Sprintf("%s.part-%06d", snapshotName(seq), i) }

// SaveSnapshot stores the snapshot after record seq, unless it is stored
// already (another node saved it), then keeps the newest keepSnapshots and
// drops the stream's records that the oldest of them covers. Each request
// is an attempt of its own, asked again if unanswered: one reply lost while
// a stream elected its leader held a save, and the node's next snapshot of
// its own behind it, until ctx was done.
func (l *Log) SaveSnapshot(ctx context.Context, seq uint64, write func(io.Writer) error) error {
	name := snapshotName(seq)
	stored := false
	if err := retry(ctx, func(ctx context.Context) error {
		_, err := l.snaps.GetInfo(ctx, name)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return nil
		}
		stored = err == nil
		return err
	}); err != nil {
		return fmt.Errorf("cluster: snapshot %d: %w", seq, err)
	}
	if stored {
		return nil
	}
	pw := &partWriter{ctx: ctx, l: l, seq: seq, buf: make([]byte, 0, snapshotPart)}
	err := write(pw)
	if err == nil {
		err = pw.flush()
	}
	if err == nil {
		var b []byte
		b, err = json.Marshal(manifest{Parts: pw.parts, Size: pw.size})
		if err == nil {
			err = retry(ctx, func(ctx context.Context) error {
				_, err := l.snaps.PutBytes(ctx, name, b)
				return err
			})
		}
	}
	if err != nil {
		return fmt.Errorf("cluster: saving snapshot %d: %w", seq, err)
	}
	return l.trim(ctx)
}

// partWriter stores what is written to it as the parts of a snapshot.
type partWriter struct {
	ctx   context.Context
	l     *Log
	seq   uint64
	buf   []byte
	parts int
	size  uint64
}

func (w *partWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), snapshotPart-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == snapshotPart {
			if err := w.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

func (w *partWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	meta := jetstream.ObjectMeta{Name: partName(w.seq, w.parts), Opts: &jetstream.ObjectMetaOptions{ChunkSize: snapshotPart}}
	if err := retry(w.ctx, func(ctx context.Context) error {
		_, err := w.l.snaps.Put(ctx, meta, bytes.NewReader(w.buf))
		return err
	}); err != nil {
		return err
	}
	w.parts++
	w.size += uint64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

// partReader reads a snapshot's parts in order, each checked against its
// digest by the object store as it is read whole.
type partReader struct {
	ctx   context.Context
	l     *Log
	seq   uint64
	parts int
	next  int
	cur   []byte
	read  uint64
	size  uint64
}

func (r *partReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.next == r.parts {
			if r.read != r.size {
				return 0, fmt.Errorf("cluster: snapshot %d holds %d bytes; its manifest says %d", r.seq, r.read, r.size)
			}
			return 0, io.EOF
		}
		b, err := r.l.snaps.GetBytes(r.ctx, partName(r.seq, r.next))
		if err != nil {
			return 0, fmt.Errorf("cluster: snapshot %d, part %d: %w", r.seq, r.next, err)
		}
		r.cur, r.next = b, r.next+1
		r.read += uint64(len(b))
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// trim keeps the newest keepSnapshots snapshots and drops the records the
// oldest of them covers.
func (l *Log) trim(ctx context.Context) error {
	seqs, err := l.snapshots(ctx)
	if err != nil || len(seqs) < keepSnapshots {
		return err
	}
	for _, old := range seqs[keepSnapshots:] {
		if err := l.dropSnapshot(ctx, old); err != nil {
			return err
		}
	}
	oldest := seqs[keepSnapshots-1]
	if err := retry(ctx, func(ctx context.Context) error {
		return l.stream.Purge(ctx, jetstream.WithPurgeSequence(oldest+1))
	}); err != nil {
		return fmt.Errorf("cluster: dropping the records up to %d: %w", oldest, err)
	}
	return nil
}

// dropSnapshot deletes a snapshot's manifest, then its parts, each request
// an attempt of retry's; what is gone already counts as deleted.
func (l *Log) dropSnapshot(ctx context.Context, seq uint64) error {
	var b []byte
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		if b, err = l.snaps.GetBytes(ctx, snapshotName(seq)); errors.Is(err, jetstream.ErrObjectNotFound) {
			b, err = nil, nil
		}
		return err
	})
	var m manifest
	if err == nil && b != nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		return fmt.Errorf("cluster: dropping snapshot %d: %w", seq, err)
	}
	del := func(name string) error {
		return retry(ctx, func(ctx context.Context) error {
			if err := l.snaps.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
				return err
			}
			return nil
		})
	}
	if err := del(snapshotName(seq)); err != nil {
		return fmt.Errorf("cluster: dropping snapshot %d: %w", seq, err)
	}
	for i := range m.Parts {
		if err := del(partName(seq, i)); err != nil {
			return fmt.Errorf("cluster: dropping snapshot %d, part %d: %w", seq, i, err)
		}
	}
	return nil
}

// NewestSnapshot returns the sequence of the newest snapshot stored; 0 if
// there is none.
func (l *Log) NewestSnapshot(ctx context.Context) (uint64, error) {
	seqs, err := l.snapshots(ctx)
	if err != nil || len(seqs) == 0 {
		return 0, err
	}
	return seqs[0], nil
}

// LoadSnapshot calls read with the newest snapshot, then older ones while
// read fails, and returns the sequence of the one read took. With no
// snapshot it returns 0; if every one fails, the errors.
func (l *Log) LoadSnapshot(ctx context.Context, read func(seq uint64, r io.Reader) error) (uint64, error) {
	// The snapshots listed can be dropped while they are read, once the
	// nodes have saved two newer ones: when every one listed is gone, the
	// list is taken again.
	for attempt := 0; ; attempt++ {
		seqs, err := l.snapshots(ctx)
		if err != nil {
			return 0, fmt.Errorf("cluster: listing the snapshots: %w", err)
		}
		var errs []error
		gone := 0
		for _, seq := range seqs {
			b, err := l.snaps.GetBytes(ctx, snapshotName(seq))
			var m manifest
			if err == nil {
				err = json.Unmarshal(b, &m)
			}
			if err == nil {
				err = read(seq, store.SizedReader{Reader: &partReader{ctx: ctx, l: l, seq: seq, parts: m.Parts, size: m.Size}, N: int64(min(m.Size, math.MaxInt64))})
			}
			if err == nil {
				return seq, nil
			}
			if errors.Is(err, jetstream.ErrObjectNotFound) {
				gone++
			}
			errs = append(errs, fmt.Errorf("snapshot %d: %w", seq, err))
		}
		switch {
		case len(errs) == 0:
			return 0, nil
		case gone == len(errs) && attempt < 3 && ctx.Err() == nil:
			continue
		}
		return 0, fmt.Errorf("cluster: no snapshot loads: %w", errors.Join(errs...))
	}
}

// Replicas returns the replicas of the stream.
func (l *Log) Replicas() int { return l.stream.CachedInfo().Config.Replicas }

// Append publishes a record with id as its Nats-Msg-Id, retrying (the same
// id: the stream keeps one) while the stream has no leader, until ctx is
// done. It returns the record's sequence once the stream has stored it.
func (l *Log) Append(ctx context.Context, id string, rec []byte) (uint64, error) {
	var seq uint64
	err := retry(ctx, func(ctx context.Context) error {
		ack, err := l.js.Publish(ctx, l.subject, rec, jetstream.WithMsgID(id))
		if err == nil {
			seq = ack.Sequence
		}
		return err
	})
	return seq, err
}

// Follow calls apply with every record from sequence from on, in order,
// until ctx is done. A consumer that fails (its server went away) is made
// again from the next sequence.
func (l *Log) Follow(ctx context.Context, from uint64, apply func(seq uint64, rec []byte)) error {
	next := max(from, 1)
	for ctx.Err() == nil {
		err := l.follow(ctx, &next, apply)
		if ctx.Err() != nil {
			break
		}
		_ = err // the consumer went away: make it again
		sleep(ctx, 100*time.Millisecond)
	}
	return ctx.Err()
}

func (l *Log) follow(ctx context.Context, next *uint64, apply func(uint64, []byte)) error {
	cons, err := l.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: *next,
	})
	if err != nil {
		return err
	}
	// Short pulls and heartbeats: a consumer whose server went away is
	// noticed, and made again, within a second or two, not ten.
	it, err := cons.Messages(jetstream.PullExpiry(2*time.Second), jetstream.PullHeartbeat(500*time.Millisecond))
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		msg, err := it.Next()
		if err != nil {
			return err
		}
		md, err := msg.Metadata()
		if err != nil {
			return err
		}
		seq := md.Sequence.Stream
		if seq < *next {
			continue // delivered again after a reset
		}
		if seq > *next {
			// A gap: the records between were dropped (they are in a
			// snapshot), or the consumer skipped; the engine decides.
			if info, err := l.stream.Info(ctx); err == nil && info.State.FirstSeq > *next {
				apply(seq, msg.Data())
				*next = seq + 1
				continue
			}
			return fmt.Errorf("cluster: record %d follows %d", seq, *next-1) // start again
		}
		apply(seq, msg.Data())
		*next = seq + 1
	}
}

// Last returns the sequence of the stream's last record, as its leader
// knows it.
func (l *Log) Last(ctx context.Context) (uint64, error) {
	var last uint64
	err := retry(ctx, func(ctx context.Context) error {
		info, err := l.stream.Info(ctx)
		if err == nil {
			last = info.State.LastSeq
		}
		return err
	})
	return last, err
}

// attemptTimeout bounds one request to JetStream: one that goes unanswered
// (a stream electing its leader) is asked again rather than waited for.
const attemptTimeout = 2 * time.Second

// retry calls fn until it succeeds or ctx is done, waiting a little more
// each time (with jitter): JetStream answers "no responders" or times out
// while a stream elects a leader.
func retry(ctx context.Context, fn func(ctx context.Context) error) error {
	wait := 20 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		}
		sleep(ctx, wait/2+rand.N(wait))
		wait = min(2*wait, time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// SharedSecret returns the secret called name (such as "recovery" or
// "access") of environment alias kept in the cluster's key-value store,
// generating it the first time any node asks: every node then signs and
// verifies links, cursors and tokens alike. The secret is as safe as the
// NATS cluster's storage and access.
func SharedSecret(ctx context.Context, nc *nats.Conn, alias, name string, replicas int) ([]byte, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	var kv jetstream.KeyValue
	err = retry(ctx, func(ctx context.Context) error {
		var err error
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: "abandoned_secrets", Replicas: replicas, Storage: jetstream.FileStorage,
			Description: "abandoned: generated secrets of the environments",
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: the secrets' bucket: %w", err)
	}
	key := StreamName(alias) + "." + name
	var secret []byte
	err = retry(ctx, func(ctx context.Context) error {
		if e, err := kv.Get(ctx, key); err == nil {
			secret = e.Value()
			return nil
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return err
		}
		s := make([]byte, 32)
		if _, err := cryptorand.Read(s); err != nil {
			return err
		}
		if _, err := kv.Create(ctx, key, s); err != nil {
			return err // another node was first: the next round reads its secret
		}
		secret = s
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: the shared %s secret: %w", name, err)
	}
	return secret, nil
}
