package basket

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/btree"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/basketlab/abandoned/basket/store"
)

// Log is a replicated log that the nodes of a cluster share (package
// cluster has one over NATS JetStream). An engine given one (Options.Log)
// keeps no log of its own: it writes every change to the Log and applies
// every record of it, its own and other nodes', in the Log's order, so that
// every node derives the same state.
type Log interface {
	// Append stores a record durably (on a quorum of the log's replicas)
	// and returns its sequence. Records appended again with the same id are
	// stored once, so a retry is harmless.
	Append(ctx context.Context, id string, rec []byte) (uint64, error)
	// Follow calls apply with every record from sequence from on, in
	// order, until ctx is done; it returns ctx's error, or one that makes
	// following impossible.
	Follow(ctx context.Context, from uint64, apply func(seq uint64, rec []byte)) error
	// Last returns the sequence of the last record stored.
	Last(ctx context.Context) (uint64, error)
}

// LogSnapshots is what a Log that keeps snapshots of the state has besides
// (package cluster's keeps them in a JetStream object store). Snapshots let
// a node start without reading the log from its first record, and the log
// drop the records they cover.
type LogSnapshots interface {
	// SaveSnapshot stores the snapshot of the state right after record seq,
	// which write writes, unless one of seq is stored already; it may then
	// drop the snapshots and records older snapshots cover.
	SaveSnapshot(ctx context.Context, seq uint64, write func(io.Writer) error) error
	// LoadSnapshot calls read with the newest snapshot stored and its
	// sequence, then with older ones while read fails, and returns the
	// sequence of the one read took; 0 and no error if there is none.
	LoadSnapshot(ctx context.Context, read func(seq uint64, r io.Reader) error) (uint64, error)
	// NewestSnapshot returns the sequence of the newest snapshot stored; 0
	// if there is none.
	NewestSnapshot(ctx context.Context) (uint64, error)
}

// DefaultLogSnapshotEvery is how many records of a Log come between two
// snapshots by default.
const DefaultLogSnapshotEvery = 100_000

// Errors of an engine on a replicated log.
var (
	// ErrCatchingUp means the engine has not yet applied the records the
	// log held when it started: it serves nothing until it has.
	ErrCatchingUp = errors.New("catching up with the log")

	// ErrDiverged means the engine met a record it cannot read or a
	// cluster whose alias or secrets differ from its own: it stops serving.
	ErrDiverged = errors.New("the node disagrees with the log")
)

// DefaultCheckpointEvery is how many records of a replicated log come
// between two checkpoints by default: after each such record every node
// notes the digest of its state, and one of them logs it, for all to
// compare.
const DefaultCheckpointEvery = 1000

// DefaultTickInterval is how often an engine on a replicated log asks the
// log to move time on when time-based changes are due.
const DefaultTickInterval = time.Second

// replicated is the state of an engine on a replicated log.
type replicated struct {
	log   Log
	tick  time.Duration
	every uint64 // records between checkpoints

	lastMu  sync.Mutex // guards lastCur and lastNext
	lastCur *lastCall  // the question to the log in flight or wanted, if any
	// lastNext is the one asked once lastCur is answered, for the reads
	// that came while lastCur was in flight: lastCur may not see their
	// writes.
	lastNext *lastCall
	asks     chan struct{}   // wakes the asker for a new lastCur
	stopped  <-chan struct{} // closed when the engine's goroutines stop

	mu      sync.Mutex // guards the fields below
	waiters map[string]chan outcome
	applied uint64        // the sequence of the last record applied
	moved   chan struct{} // closed and replaced whenever applied moves
	err     error         // why following stopped; ErrDiverged wraps it
	ready   bool          // caught up with the log as it was at start

	// digests are the node's state digests after the last checkpoints'
	// records, by sequence; checkpoints carries the ones to log. Both are
	// the follower's alone.
	digests     map[uint64]uint64
	checkpoints chan *walRecord

	// snaps keeps snapshots (nil if the log does not); the follower hands
	// the snapshotter a frozen state every snapEvery records.
	snaps     LogSnapshots
	snapEvery uint64
	frozen    chan *frozen
	snapDir   string // the node's own snapshots (Options.SnapshotDir), if any

	cancel context.CancelFunc
	done   sync.WaitGroup
}

type outcome struct {
	res Result
	err error
}

// maxStartAttempts bounds how often a node starting on a replicated log
// loads a newer snapshot because the log dropped the records after the
// one it loaded before it could read them.
const maxStartAttempts = 5

// startReplicated catches the engine up with the log, checks that the
// cluster is the engine's own (alias, secrets, settings) and starts
// following it and ticking. It returns once the engine serves.
//
// The cluster may save a snapshot and drop the records it covers between
// the node's choice of a snapshot and its first read of the records after
// it: nothing is served yet, so the node clears what it loaded and starts
// again from the newer snapshot.
func (e *Engine) startReplicated(ctx context.Context, o *Options) error {
	want := e.settings()
	for attempt := 1; ; attempt++ {
		err := e.followLog(ctx, o, want)
		var gap *gapError
		if err == nil || !errors.As(err, &gap) || attempt == maxStartAttempts {
			return err
		}
		e.logger.Warn("the log dropped the records after the snapshot the node started from; starting again from a newer one",
			"record", gap.seq, "applied", gap.applied, "attempt", attempt)
		e.mu.Lock()
		e.clearState(want)
		e.mu.Unlock()
	}
}

// gapError is a record of the log that does not follow the last one the
// engine applied: the records between were dropped, and are in a snapshot.
type gapError struct {
	seq, applied uint64
}

func (g *gapError) Error() string {
	return fmt.Sprintf("the log's record %d follows record %d of this node: the records between were dropped (they are in a snapshot); restart the node to load it", g.seq, g.applied)
}

// followLog is one attempt of startReplicated's, on an engine that holds
// no state, with settings want. On an error it returns with the
// goroutines it started stopped.
func (e *Engine) followLog(ctx context.Context, o *Options, want settings) error {
	rl := &replicated{log: o.Log, tick: o.TickInterval, waiters: map[string]chan outcome{}, moved: make(chan struct{}),
		digests: map[uint64]uint64{}, checkpoints: make(chan *walRecord, 16), asks: make(chan struct{}, 1)}
	if rl.tick <= 0 {
		rl.tick = DefaultTickInterval
	}
	if rl.every = o.CheckpointEvery; rl.every == 0 {
		rl.every = DefaultCheckpointEvery
	}
	e.rl = rl
	e.lastPos, e.changeSeq = 0, 0 // the log says where positions are
	from := uint64(1)
	if snaps, ok := o.Log.(LogSnapshots); ok {
		rl.snaps, rl.frozen, rl.snapDir = snaps, make(chan *frozen, 1), o.SnapshotDir
		if rl.snapEvery = o.LogSnapshotEvery; rl.snapEvery == 0 {
			rl.snapEvery = DefaultLogSnapshotEvery
		}
		seq, err := e.loadLogSnapshot(ctx, want)
		if err != nil {
			return err
		}
		from = seq + 1
		rl.applied = seq
	}
	fctx, cancel := context.WithCancel(context.Background())
	rl.cancel, rl.stopped = cancel, fctx.Done()
	if rl.snaps != nil {
		rl.done.Add(1)
		go func() {
			defer rl.done.Done()
			e.snapshotter(fctx)
		}()
	}
	rl.done.Add(3)
	go func() {
		defer rl.done.Done()
		rl.checkpointer(fctx)
	}()
	go func() {
		defer rl.done.Done()
		rl.asker(fctx)
	}()
	go func() {
		defer rl.done.Done()
		err := rl.log.Follow(fctx, from, e.applyLogged)
		if fctx.Err() == nil && err != nil {
			rl.fail(fmt.Errorf("following the log: %w", err))
		}
	}()
	fail := func(err error) error {
		cancel()
		rl.done.Wait()
		return err
	}
	if err := e.catchUp(ctx); err != nil {
		return fail(err)
	}
	if len(o.RecoverySecrets) == 0 {
		return fail(errors.New("basket: an engine on a replicated log needs Options.RecoverySecrets, the same on every node"))
	}
	id := identity(o.RecoverySecrets[0], e.alias)
	e.mu.RLock()
	founded := e.hasSettings
	e.mu.RUnlock()
	if !founded {
		// A new log: this node founds it with its settings, identity and
		// epoch of positions (another founding at the same moment is the
		// same record, de-duplicated, or loses the race and is checked).
		founding := &walRecord{Settings: &want, Identity: id[:], Epoch: epochOf(e.now())}
		if _, err := e.submitReplicated(ctx, "found-"+hex.EncodeToString(id[:8]), founding); err != nil {
			return fail(err)
		}
	}
	e.mu.RLock()
	cur, have := e.settings(), e.identityOK(id)
	e.mu.RUnlock()
	switch {
	case !have:
		return fail(fmt.Errorf("%w: the cluster's log was written with another alias or other recovery secrets; give every node the same -alias and -recovery-secret", ErrDiverged))
	case cur != want:
		return fail(fmt.Errorf("%w: the cluster's settings are %s; this node's are %s", ErrDiverged, cur, want))
	}
	rl.mu.Lock()
	rl.ready = true
	rl.mu.Unlock()
	rl.done.Add(1)
	go func() {
		defer rl.done.Done()
		e.ticker(fctx)
	}()
	return nil
}

// identity is a fingerprint of an alias and a signing secret, under a key
// of its own: it tells whether two nodes agree without revealing the secret.
func identity(secret []byte, alias string) [32]byte {
	m := hmac.New(sha256.New, derive(secret, "cluster-identity"))
	m.Write([]byte(alias))
	var id [32]byte
	copy(id[:], m.Sum(nil))
	return id
}

// identityOK reports whether the log's identity is id. e.mu must be held.
func (e *Engine) identityOK(id [32]byte) bool {
	return hmac.Equal(e.clusterID, id[:])
}

// applyLogged applies one record of the replicated log.
func (e *Engine) applyLogged(seq uint64, b []byte) {
	rl := e.rl
	var rec walRecord
	err := checkMsg(b, maxScanDepth) // what a decoder allocates is then in proportion to b
	if err == nil {
		err = msgpack.Unmarshal(b, &rec)
	}
	var out outcome
	if err != nil {
		rl.fail(fmt.Errorf("record %d: %w", seq, err))
		return
	}
	rec.Seq = seq
	e.amu.Lock()
	defer e.amu.Unlock()
	e.mu.Lock()
	if seq != e.applied+1 {
		applied := e.applied
		e.mu.Unlock()
		rl.fail(&gapError{seq: seq, applied: applied})
		return
	}
	if len(rec.Identity) > 0 && e.clusterID == nil {
		e.clusterID = rec.Identity
	}
	if rec.Checkpoint != 0 {
		// A checkpoint changes nothing: it is compared.
		e.applied = seq
		mine, ok := rl.digests[rec.Checkpoint]
		e.mu.Unlock()
		if ok && mine != rec.Digest {
			rl.fail(fmt.Errorf("after record %d this node's state digest is %016x; the log's checkpoint says %016x", rec.Checkpoint, mine, rec.Digest))
			return
		}
		rl.moveTo(seq, rec.ID, out)
		return
	}
	out.res, out.err = e.applyRecord(&rec)
	e.logTime.Store(e.lastNow)
	if rl.snaps != nil && seq%rl.snapEvery == 0 {
		// The newest waits for the snapshotter in place of an older one
		// still waiting, so that the node's own snapshot is never left
		// behind the cluster's. This goroutine is the only sender.
		v := e.freeze()
		select {
		case rl.frozen <- v:
		default:
			select {
			case <-rl.frozen:
			default: // the snapshotter took it meanwhile
			}
			rl.frozen <- v
		}
	}
	if seq%rl.every == 0 {
		d := e.stateDigest()
		rl.digests[seq] = d
		if seq > 8*rl.every {
			delete(rl.digests, seq-8*rl.every)
		}
		select {
		case rl.checkpoints <- &walRecord{Checkpoint: seq, Digest: d, ID: "checkpoint-" + strconv.FormatUint(seq, 10)}:
		default: // the checkpointer is behind: another node logs this one
		}
	}
	e.mu.Unlock()
	rl.moveTo(seq, rec.ID, out)
}

// moveTo notes that seq is applied, handing its outcome to its waiter.
func (rl *replicated) moveTo(seq uint64, id string, out outcome) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	// The outcome reaches its waiter before the sequence counts as
	// applied, so a waiter that sees it applied finds its outcome.
	if w := rl.waiters[id]; w != nil {
		w <- out // buffered: never blocks
		delete(rl.waiters, id)
	}
	if seq > rl.applied {
		rl.applied = seq
		close(rl.moved)
		rl.moved = make(chan struct{})
	}
}

func (rl *replicated) fail(err error) {
	rl.setErr(fmt.Errorf("%w: %w", ErrDiverged, err))
}

// setErr stops the engine's service with err, waking every waiter.
func (rl *replicated) setErr(err error) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.err == nil {
		rl.err = err
		close(rl.moved)
		rl.moved = make(chan struct{})
	}
}

// waitApplied waits until the engine has applied seq.
func (rl *replicated) waitApplied(ctx context.Context, seq uint64) error {
	for {
		rl.mu.Lock()
		applied, moved, err := rl.applied, rl.moved, rl.err
		rl.mu.Unlock()
		switch {
		case applied >= seq:
			return nil
		case err != nil:
			return err
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// lastCall is one question to the log for its last sequence, shared by the
// reads waiting for it.
type lastCall struct {
	done chan struct{} // closed once seq and err are set
	seq  uint64
	err  error
}

// lastTimeout bounds one question to the log: reads waiting on it leave on
// their own deadlines.
const lastTimeout = 10 * time.Second

// catchUp waits until the engine has applied every record stored before it
// was called: what makes a read see every write acknowledged, by any node,
// before it. Concurrent reads share questions to the log, but a read only
// takes the answer of a question asked after it came.
func (e *Engine) catchUp(ctx context.Context) error {
	rl := e.rl
	rl.lastMu.Lock()
	var c *lastCall
	switch {
	case rl.lastCur == nil:
		c = &lastCall{done: make(chan struct{})}
		rl.lastCur = c
		select {
		case rl.asks <- struct{}{}:
		default: // the asker is awake already
		}
	case rl.lastNext == nil:
		c = &lastCall{done: make(chan struct{})}
		rl.lastNext = c
	default:
		c = rl.lastNext
	}
	rl.lastMu.Unlock()
	select {
	case <-c.done:
	case <-ctx.Done():
		return ctx.Err()
	case <-rl.stopped:
		return ErrClosed
	}
	if c.err != nil {
		return fmt.Errorf("basket: asking the log for its last record: %w", c.err)
	}
	return rl.waitApplied(ctx, c.seq)
}

// asker asks the log for its last sequence for the reads waiting on
// lastCur, then for those on the question queued behind it, until none is
// left, each time it is woken, until ctx is done; it then answers the
// questions left with ErrClosed.
func (rl *replicated) asker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			rl.lastMu.Lock()
			for _, c := range [...]*lastCall{rl.lastCur, rl.lastNext} {
				if c != nil {
					c.err = ErrClosed
					close(c.done)
				}
			}
			rl.lastCur, rl.lastNext = nil, nil
			rl.lastMu.Unlock()
			return
		case <-rl.asks:
		}
		rl.lastMu.Lock()
		c := rl.lastCur
		rl.lastMu.Unlock()
		for c != nil {
			actx, cancel := context.WithTimeout(ctx, lastTimeout)
			seq, err := rl.log.Last(actx)
			cancel()
			rl.lastMu.Lock()
			c.seq, c.err = seq, err
			close(c.done)
			c, rl.lastCur, rl.lastNext = rl.lastNext, rl.lastNext, nil
			rl.lastMu.Unlock()
		}
	}
}

// submitReplicated appends a record to the replicated log under id and
// waits for its outcome, decided when it is applied as on every node.
func (e *Engine) submitReplicated(ctx context.Context, id string, rec *walRecord) (Result, error) {
	rl := e.rl
	if rec.Now == 0 {
		rec.Now = toMS(e.now())
	}
	rec.ID = id
	b, err := msgpack.Marshal(rec)
	if err != nil {
		return Result{}, fmt.Errorf("basket: encoding a batch: %w", err)
	}
	w := make(chan outcome, 1)
	rl.mu.Lock()
	rl.waiters[id] = w
	rl.mu.Unlock()
	defer func() {
		rl.mu.Lock()
		delete(rl.waiters, id)
		rl.mu.Unlock()
	}()
	seq, err := rl.log.Append(ctx, id, b)
	if err != nil {
		return Result{}, fmt.Errorf("basket: the batch was not logged: %w: %w", ErrStorage, err)
	}
	if err := rl.waitApplied(ctx, seq); err != nil {
		return Result{}, err
	}
	select {
	case out := <-w:
		return out.res, out.err
	default:
		// A duplicate of a record stored before (a retry): applied then.
		return Result{Applied: len(rec.Events)}, nil
	}
}

// newRecordID returns a random id for a record.
func newRecordID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ticker asks the log to move time on, once a tick interval, when
// time-based changes are due. Every node does; the log keeps one tick an
// interval, whoever sends it.
func (e *Engine) ticker(ctx context.Context) {
	t := time.NewTicker(e.rl.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := e.now()
		if toMS(now) < e.nextDue.Load() {
			continue
		}
		// One tick an interval survives the log's de-duplication, whichever
		// node sends it.
		id := "tick-" + strconv.FormatInt(now.UnixMilli()/e.rl.tick.Milliseconds(), 10)
		tctx, cancel := context.WithTimeout(ctx, 10*e.rl.tick)
		e.submitReplicated(tctx, id, &walRecord{Now: toMS(now)}) //nolint:errcheck // the next tick tries again
		cancel()
	}
}

// checkpointer logs the checkpoints the follower hands it. Every node logs
// every checkpoint; the log keeps the first, by its id.
func (rl *replicated) checkpointer(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case rec := <-rl.checkpoints:
			b, err := msgpack.Marshal(rec)
			if err != nil {
				continue
			}
			actx, cancel := context.WithTimeout(ctx, 30*time.Second)
			rl.log.Append(actx, rec.ID, b) //nolint:errcheck // another node's copy serves as well
			cancel()
		}
	}
}

// healthReplicated reports whether an engine on a replicated log serves.
func (rl *replicated) health() error {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	switch {
	case rl.err != nil:
		return rl.err
	case !rl.ready:
		return ErrCatchingUp
	}
	return nil
}

// Replicated reports whether the engine is on a replicated log.
func (e *Engine) Replicated() bool { return e.rl != nil }

// Position returns the sequence of the last record the engine applied from
// its replicated log, and the log's, for /healthz and metrics; zeros for an
// engine without one.
func (e *Engine) Position(ctx context.Context) (applied, last uint64, err error) {
	if e.rl == nil {
		return 0, 0, nil
	}
	e.rl.mu.Lock()
	applied = e.rl.applied
	e.rl.mu.Unlock()
	last, err = e.rl.log.Last(ctx)
	return applied, last, err
}

func (rl *replicated) stop() {
	rl.setErr(ErrClosed)
	rl.cancel()
	rl.done.Wait()
}

// loadLogSnapshot loads the newest snapshot the log keeps into the engine,
// which holds nothing yet, and returns its sequence (0 if there is none).
// A snapshot that fails to load is dropped from the engine, and an older
// one tried.
func (e *Engine) loadLogSnapshot(ctx context.Context, want settings) (uint64, error) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if seq, ok := e.loadLocalSnapshot(lctx, want); ok {
		return seq, nil
	}
	seq, err := e.rl.snaps.LoadSnapshot(lctx, func(seq uint64, r io.Reader) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		if err := e.loadSnapshot(r); err != nil {
			e.clearState(want)
			return err
		}
		if e.applied != seq {
			applied := e.applied
			e.clearState(want)
			return fmt.Errorf("the snapshot of record %d holds the state after record %d", seq, applied)
		}
		e.logTime.Store(e.lastNow)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("basket: loading the log's snapshot: %w", err)
	}
	if seq != 0 {
		e.logger.Info("started from the cluster's snapshot", "record", seq)
	}
	return seq, nil
}

// loadLocalSnapshot loads the newest snapshot of the node's own directory
// (Options.SnapshotDir) if it is at least as new as the newest the log
// keeps and not past the log's end (a log made anew): a restart then reads
// no snapshot over the network. It reports false, leaving the engine
// empty, if there is none to use or it fails to load.
func (e *Engine) loadLocalSnapshot(ctx context.Context, want settings) (uint64, bool) {
	rl := e.rl
	if rl.snapDir == "" {
		return 0, false
	}
	local := newestLocalSnapshot(rl.snapDir)
	if local == 0 {
		return 0, false
	}
	remote, err := rl.snaps.NewestSnapshot(ctx)
	if err != nil || remote > local {
		return 0, false
	}
	if last, err := rl.log.Last(ctx); err != nil || last < local {
		return 0, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	err = store.ReadSnapshotFile(store.OS{}, filepath.Join(rl.snapDir, localSnapshotName(local)), e.loadSnapshot)
	if err == nil && e.applied != local {
		err = fmt.Errorf("it holds the state after record %d", e.applied)
	}
	if err != nil {
		e.clearState(want)
		e.logger.Warn("the node's own snapshot does not load; loading the cluster's", "record", local, "err", err.Error())
		return 0, false
	}
	e.logTime.Store(e.lastNow)
	e.logger.Info("started from the node's own snapshot", "record", local)
	return local, true
}

// localSnapshotName is the file of the node's own snapshot after record
// seq; names sort as their sequences do.
func localSnapshotName(seq uint64) string { return fmt.Sprintf("snapshot-%020d.snap", seq) }

// newestLocalSnapshot returns the sequence of the newest snapshot in dir, 0
// if there is none.
func newestLocalSnapshot(dir string) uint64 {
	ents, _ := os.ReadDir(dir)
	var newest uint64
	for _, ent := range ents {
		digits, ok := strings.CutPrefix(ent.Name(), "snapshot-")
		digits, ok2 := strings.CutSuffix(digits, ".snap")
		if !ok || !ok2 || len(digits) != 20 {
			continue
		}
		if seq, err := strconv.ParseUint(digits, 10, 64); err == nil && seq > newest {
			newest = seq
		}
	}
	return newest
}

// saveLocalSnapshot writes v into the node's own directory and removes the
// older snapshots there.
func (e *Engine) saveLocalSnapshot(v *frozen) error {
	dir := e.rl.snapDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	name := localSnapshotName(v.applied)
	if err := store.WriteSnapshotFile(store.OS{}, dir, name, v.write); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, ent := range ents {
		if n := ent.Name(); strings.HasPrefix(n, "snapshot-") && n != name {
			err = errors.Join(err, os.Remove(filepath.Join(dir, n)))
		}
	}
	return err
}

// clearState empties the engine, as New made it, with settings s. e.mu
// must be held for writing.
func (e *Engine) clearState(s settings) {
	e.recs = newRecTable(0)
	e.erased = btree.NewMap[string, int64](0)
	e.tombs = btree.NewMap[string, tomb](0)
	e.suppressed = btree.NewMap[string, int64](0)
	e.changes, e.changeSeq, e.changesTrimmed = newChangeTree(), 0, 0
	e.followUps = make(map[string]followUp)
	e.tombQ = nil
	e.created, e.abandoned = newCountTree(&e.recs.slots), newAbTree(&e.recs.slots)
	e.byTag = make(map[string]*abTree)
	e.feed, e.pending = newFeedTree(), newPendingTree(&e.recs.slots)
	e.byEmail = newEmailIndex(0)
	e.counts = [StateExpired + 1]int{}
	e.recDigest = 0
	e.lastPos, e.applied, e.lastNow, e.clusterID = 0, 0, 0, nil
	e.setSettings(&s)
	e.hasSettings = false
	e.updateDue()
}

// snapshotter saves the frozen states the follower hands it. Every node
// takes the same snapshots; after a pause of its own it saves one only if
// no other node has.
func (e *Engine) snapshotter(ctx context.Context) {
	rl := e.rl
	for {
		var v *frozen
		select {
		case <-ctx.Done():
			return
		case v = <-rl.frozen:
		}
		if rl.snapDir != "" {
			if err := e.saveLocalSnapshot(v); err != nil {
				e.logger.Warn("writing the node's own snapshot failed", "record", v.applied, "err", err.Error())
			}
		}
		sleep(ctx, mrand.N(2*time.Second))
		sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		err := rl.snaps.SaveSnapshot(sctx, v.applied, v.write)
		cancel()
		if err != nil && ctx.Err() == nil {
			e.logger.Warn("saving a snapshot of the log failed; the next one tries again", "record", v.applied, "err", err.Error())
		}
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
