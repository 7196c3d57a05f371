package basket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/btree"

	"github.com/basketlab/abandoned/basket/store"
)

// DefaultTTL is a basket's time to live from its creation, by default.
const DefaultTTL = 14 * 24 * time.Hour

// NoExpiry, as Options.TTL, keeps baskets forever.
const NoExpiry time.Duration = -1

// Options configure an Engine. A nil *Options means the defaults.
type Options struct {
	// Now is the engine's clock. Default: time.Now.
	Now func() time.Time

	// AbandonAfter is how long a contactable basket must be idle before it
	// is abandoned. Default 0: abandoned as soon as it is contactable.
	AbandonAfter time.Duration

	// TTL is a basket's time to live from its creation; then it expires and
	// is purged. Default 0 means DefaultTTL (14 days); NoExpiry keeps
	// baskets forever.
	TTL time.Duration

	// RecoverySecrets sign recovery tokens and cursors: the first signs, all
	// verify, so a new secret is rotated in by putting it first. Each is at
	// least MinSecretLen bytes. Default: one random secret, so links and
	// cursors do not outlive the process.
	RecoverySecrets [][]byte

	// RecoveryValidity is how long a recovery token stays valid from its
	// issue. Default 0 means DefaultRecoveryValidity (30 days).
	RecoveryValidity time.Duration

	// RecoverPath is the path of recovery links. Default
	// DefaultRecoverPath.
	RecoverPath string

	// Alias is the environment name that cursors carry and queries report.
	// Default "".
	Alias string

	// SweepInterval, when positive, starts a background goroutine that
	// promotes idle baskets and purges expired ones at that interval; Close
	// stops it. Default 0: that work is done lazily by the next call that
	// needs it.
	SweepInterval time.Duration

	// Store configures the log of a durable engine (Open): the fsync policy
	// and its interval. Default nil: store's defaults (fsync always).
	Store *store.Options

	// SnapshotEvery is how many bytes of log make a durable engine write a
	// snapshot in the background. Default 0 means DefaultSnapshotEvery;
	// negative: only when Snapshot is called.
	SnapshotEvery int64

	// Log, if set, is a replicated log that the engine writes every change
	// to and applies, in its order, with the other nodes of a cluster (see
	// package cluster): New catches up with it before it returns, and
	// checks that the log's alias, secrets and settings are the engine's.
	// Time-based changes follow the time recorded in the log. Default nil.
	Log Log

	// TickInterval is how often an engine on a Log asks it to move time on
	// when time-based changes are due. Default DefaultTickInterval.
	TickInterval time.Duration

	// CheckpointEvery is how many records of a Log come between two
	// checkpoints of the state's digest, which every node compares with its
	// own (a node that differs stops serving). Every node of a cluster
	// needs the same. Default DefaultCheckpointEvery.
	CheckpointEvery uint64

	// LogSnapshotEvery is how many records of a Log come between two
	// snapshots of the state, for a Log that keeps snapshots (LogSnapshots):
	// a node starts from the newest one and the log's records after it, and
	// the log drops the records older snapshots cover; Go's collector is
	// off while New reads it, as while Open reads a snapshot. Default
	// DefaultLogSnapshotEvery.
	LogSnapshotEvery uint64

	// SnapshotDir, with a Log that keeps snapshots, is a directory of the
	// node's own where it keeps the newest snapshot too, so that a restart
	// reads it from disk rather than from the log's store when it is as
	// new. Default "": none.
	SnapshotDir string

	// ChangeRetention is how long the change journal (Changes) keeps a
	// change, in engine time: what outgoing webhooks deliver from. Default
	// 0: no journal (its sequence still moves); DefaultChangeRetention is
	// what a server that pushes changes uses.
	ChangeRetention time.Duration

	// KeepStoredSettings makes a durable engine (Open) keep the settings
	// its directory was written with (AbandonAfter, TTL, RecoveryValidity)
	// when they differ from these options, as a reader of another
	// process's directory should. Default false: the options apply from
	// now on, the change is logged (so a replay reproduces it) and a
	// warning says so.
	KeepStoredSettings bool

	// Logger receives warnings of a durable engine (a torn log tail cut off,
	// a failed background snapshot). It never logs basket contents. Default:
	// discard.
	Logger *slog.Logger
}

// tomb is what remains of a purged basket while its recovery links may still
// be used: no personal data.
type tomb struct {
	offerPath string
	completed bool
	until     int64 // unix ms, when the tomb itself goes
}

// Engine is an abandoned-basket engine. It is safe for concurrent use.
type Engine struct {
	now              func() time.Time
	abandonAfter     int64 // ms
	ttl              int64 // ms; 0: forever
	recoveryValidity time.Duration
	recoverPath      string
	alias            string
	keys             *keyring
	logger           *slog.Logger

	log           *store.Store // nil in memory
	report        store.Report
	snapshotEvery int64

	rl      *replicated  // nil unless on a replicated log
	logTime atomic.Int64 // on a replicated log: the time of the last record applied, unix ms

	// lazy: no sweeper runs, so a read that finds time-based changes due
	// makes them (through the log, as a tick) before it reads.
	lazy bool

	// Lock order: snapMu, wmu, amu, mu, qmu. A durable engine logs a
	// record under wmu, and applies it under amu and mu once it is durable
	// (drain).
	//
	// amu is the applier's: whoever changes the state holds it (and mu for
	// writing) throughout, so that a batch's working copies are made under
	// mu held only for reading (applyLocked), and readers wait for no more
	// than the swap of its records into the indexes.
	snapMu sync.Mutex // one snapshot at a time
	amu    sync.Mutex
	// txnEnts is the applier's (guarded by amu): the space of a batch's
	// touched baskets, reused from batch to batch.
	txnEnts []went
	// stageFrom is the applier's (guarded by amu): the number of touched
	// baskets from which a batch is staged (stagedTxn; tests change it).
	stageFrom int
	// staging, if set, is called by stage and runDue with their copies
	// made, e.mu held for reading: a test's window into a commit in
	// progress.
	staging func()
	// drained, if set, is called by Snapshot between its drain and its
	// freeze, with no lock held: a test's window there.
	drained func()
	// committed, if set, is called by the applier (amu held) with each
	// batch's commit time, the write lock's hold: a benchmark's measure.
	committed func(time.Duration)
	wmu       sync.Mutex // orders appends to the log; guards logSeq and logNow
	logSeq    uint64     // the sequence of the last record logged
	logNow    int64      // the time stamped on it, unix ms
	qmu       sync.Mutex // guards queue
	queue     []*pending // records logged and not yet applied, in log order

	// nextDue is the unix ms time of the next time-based change (a
	// promotion, an expiry, a tomb's end); math.MaxInt64 if none.
	nextDue atomic.Int64

	isClosed atomic.Bool // closed, for Health, which takes no lock

	mu      sync.RWMutex // guards the fields below
	closed  bool
	lastNow int64 // the engine's time, unix ms: never earlier than any time acted on
	// abandonAfter, ttl and recoveryValidity above are the settings in
	// force; a replay changes them, under mu, where the log did.
	hasSettings bool   // the settings came from the snapshot or the log
	clusterID   []byte // on a replicated log: its identity, from the founding record
	recDigest   uint64 // on a replicated log: the XOR of every record's digest
	applied     uint64 // the sequence of the last record applied (a durable engine)
	recs        recTable
	erased      *btree.Map[string, int64] // ids erased, forever, with the erasure's time
	tombs       *btree.Map[string, tomb]
	suppressed  *btree.Map[string, int64] // normalised addresses unsubscribed, with the time

	// The change journal (see Changes): the last sequence handed out, the
	// changes kept (if changeRetention > 0, in ms), the last one dropped,
	// and a channel closed at the next change, if a reader waits.
	changeSeq       uint64
	changes         *btree.BTreeG[centry]
	changesTrimmed  uint64
	changeRetention int64
	changesMoved    chan struct{}

	followUps map[string]followUp // baskets marked followed up, by id

	tombQ     []string   // ids in tombs, in order of tomb.until
	created   *countTree // every live record by (created, id)
	abandoned *abTree
	byTag     map[string]*abTree
	feed      *btree.BTreeG[fentry]
	pending   *btree.BTreeG[pentry]
	byEmail   emailIndex
	lastPos   uint64
	intern    *interner
	counts    [StateExpired + 1]int

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New returns an in-memory engine.
func New(opts *Options) (*Engine, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AbandonAfter < 0 {
		return nil, fmt.Errorf("basket: AbandonAfter %v is negative", o.AbandonAfter)
	}
	switch {
	case o.TTL == 0:
		o.TTL = DefaultTTL
	case o.TTL < 0 && o.TTL != NoExpiry:
		return nil, fmt.Errorf("basket: TTL %v is negative", o.TTL)
	}
	if o.RecoveryValidity == 0 {
		o.RecoveryValidity = DefaultRecoveryValidity
	}
	if o.RecoveryValidity < time.Second {
		return nil, fmt.Errorf("basket: RecoveryValidity %v is under a second", o.RecoveryValidity)
	}
	if o.RecoverPath == "" {
		o.RecoverPath = DefaultRecoverPath
	}
	kr, err := newKeyring(o.RecoverySecrets)
	if err != nil {
		return nil, fmt.Errorf("basket: %w", err)
	}
	e := &Engine{
		now:              o.Now,
		abandonAfter:     o.AbandonAfter.Milliseconds(),
		recoveryValidity: o.RecoveryValidity,
		recoverPath:      o.RecoverPath,
		alias:            o.Alias,
		keys:             kr,
		recs:             newRecTable(0),
		erased:           btree.NewMap[string, int64](0),
		tombs:            btree.NewMap[string, tomb](0),
		suppressed:       btree.NewMap[string, int64](0),
		changes:          newChangeTree(),
		followUps:        make(map[string]followUp),
		changeRetention:  o.ChangeRetention.Milliseconds(),
		byTag:            make(map[string]*abTree),
		feed:             newFeedTree(),
		byEmail:          newEmailIndex(0),
		intern:           newInterner(),
		stageFrom:        stagedTxn,
	}
	e.created, e.abandoned = newCountTree(&e.recs.slots), newAbTree(&e.recs.slots)
	e.pending = newPendingTree(&e.recs.slots)
	if o.TTL > 0 {
		e.ttl = o.TTL.Milliseconds()
	}
	if e.logger = o.Logger; e.logger == nil {
		e.logger = discardLogger
	}
	e.nextDue.Store(math.MaxInt64)
	// Positions start at the start time, so that a new process never hands
	// out a position an earlier one did (see epochOf).
	e.lastPos = epochOf(o.Now())
	e.changeSeq = e.lastPos
	e.lazy = o.SweepInterval <= 0
	if o.Log != nil {
		e.lazy = false
		if err := e.startReplicated(context.Background(), &o); err != nil {
			return nil, err
		}
		return e, nil
	}
	e.startBackground(o.SweepInterval)
	return e, nil
}

// epochOf is where feed positions start for an engine started at t: its
// unix milliseconds times 1024. An engine that starts later begins above
// every position an earlier one handed out unless that one averaged over a
// million abandonments a second; and positions stay below 2^53, so that a
// client reading them as a JavaScript number keeps them exact.
func epochOf(t time.Time) uint64 {
	ms := t.UnixMilli()
	if ms < 0 {
		return 0
	}
	return uint64(ms) << 10
}

// Alias returns the environment alias.
func (e *Engine) Alias() string { return e.alias }

// Close stops the background work, makes every later call fail with
// ErrClosed and, for a durable engine, fsyncs the log and releases the
// directory. It is idempotent.
func (e *Engine) Close() error {
	var err error
	e.closeOnce.Do(func() {
		if e.stop != nil {
			close(e.stop)
			<-e.done
		}
		if e.rl != nil {
			e.rl.stop()
		}
		e.wmu.Lock() // no record is logged after this
		e.mu.Lock()
		e.closed = true
		e.isClosed.Store(true)
		e.mu.Unlock()
		e.wmu.Unlock()
		if e.log != nil {
			e.snapMu.Lock() // let a snapshot under way finish
			err = e.log.Close()
			e.snapMu.Unlock()
		}
	})
	return err
}

// Health reports whether the engine serves: nil, ErrClosed after Close, or
// an error that is ErrStorage once a durable engine's log has failed. It
// takes no lock and changes nothing, so a public probe may call it freely.
func (e *Engine) Health(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.isClosed.Load() {
		return ErrClosed
	}
	if e.rl != nil {
		return e.rl.health()
	}
	if e.log != nil {
		if err := e.log.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
	}
	return nil
}

// Sweep promotes baskets that have been idle long enough and purges expired
// ones, as of the engine's clock. Reads do this themselves when it is due and
// no sweeper runs (Options.SweepInterval 0); Sweep is for callers that want
// it done at a time of their choosing. It returns at once, taking no lock,
// when nothing is due.
func (e *Engine) Sweep(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.isClosed.Load() {
		return ErrClosed
	}
	if toMS(e.now()) < e.nextDue.Load() {
		return nil
	}
	_, err := e.submit(ctx, &walRecord{}) // a tick
	return err
}

// beforeRead readies the engine for a read. On a replicated log it waits
// until every record stored before the read started is applied, so that the
// read sees every write acknowledged by any node. Otherwise, when no sweeper
// runs, it makes the time-based changes that are due; that failure is not
// the read's, which then serves what is there.
func (e *Engine) beforeRead(ctx context.Context) error {
	if e.rl != nil {
		if err := e.rl.health(); err != nil {
			return err
		}
		return e.catchUp(ctx)
	}
	if e.lazy && toMS(e.now()) >= e.nextDue.Load() && !e.isClosed.Load() {
		e.submit(ctx, &walRecord{}) //nolint:errcheck // see above
	}
	return nil
}

// readNow is the time a read computes with (links to hand out), unix ms:
// on a replicated log the log's, so that every node answers alike.
func (e *Engine) readNow() int64 {
	if e.rl != nil {
		return e.logTime.Load()
	}
	return toMS(e.now())
}

// runDue promotes, expires and forgets what is due at now. e.amu and e.mu
// must be held, e.mu for writing. What is due is worked out, the promoted
// baskets' copies and links made, under e.mu held for reading; so are
// the index changes, in copies (see ixw), when they are many; e.mu is
// held for writing again to file them.
func (e *Engine) runDue(now int64) {
	if e.somethingDue(now) {
		e.mu.Unlock()
		e.mu.RLock()
		d := e.collectDue(now)
		var x *ixw
		if len(d.ents) >= e.stageFrom {
			x = &ixw{e: e, cow: true}
			d.index(x)
			if e.staging != nil {
				e.staging()
			}
		}
		e.mu.RUnlock()
		e.mu.Lock()
		if x == nil {
			in := e.inPlace()
			x = &in
			d.index(x)
		} else {
			x.install()
		}
		d.file()
	}
	for len(e.tombQ) > 0 {
		id := e.tombQ[0]
		if t, ok := e.tombs.Get(id); ok && t.until > now {
			break
		}
		e.tombs.Delete(id)
		e.tombQ[0] = ""
		e.tombQ = e.tombQ[1:]
	}
	if len(e.tombQ) == 0 && cap(e.tombQ) > 1024 {
		e.tombQ = nil
	}
	e.updateDue()
}

// somethingDue reports whether a basket is due to be promoted or to expire
// at now. e.mu must be held.
func (e *Engine) somethingDue(now int64) bool {
	if p, ok := e.pending.Min(); ok && p.deadline <= now {
		return true
	}
	k, ok := e.created.min()
	return ok && e.ttl > 0 && k.created+e.ttl <= now
}

// dueWork is what runDue found due: promotions and expiries, in order.
type dueWork struct {
	e       *Engine
	ents    []dueEnt
	lastPos uint64 // the last feed position the promotions hand out
	digest  uint64 // on a replicated log: the XOR of the digests changed
}

// dueEnt is a promotion of h's record old to c, or (c nil) its expiry.
type dueEnt struct {
	h      handle
	old, c *record
}

// collectDue finds what is due at now, in the order in which it is done:
// promotions by deadline, then expiries by created time. e.amu and e.mu
// must be held; it changes nothing.
func (e *Engine) collectDue(now int64) *dueWork {
	d := &dueWork{e: e, lastPos: e.lastPos}
	var promoted map[handle]*record // for the expiries that follow
	e.pending.Scan(func(p pentry) bool {
		if p.deadline > now {
			return false
		}
		r := e.recs.slots.get(p.h)
		c := *r
		c.mark = 0 // no longer pending
		// One that expires before it has been idle long enough is never
		// abandoned: the expiry below takes it.
		if e.ttl == 0 || r.created+e.ttl > p.deadline {
			e.abandon(&c, p.deadline, now, &d.lastPos)
		}
		d.ents = append(d.ents, dueEnt{p.h, r, &c})
		if e.ttl > 0 {
			if promoted == nil {
				promoted = make(map[handle]*record)
			}
			promoted[p.h] = &c
		}
		return true
	})
	if e.ttl > 0 {
		e.created.each(func(k aentry) bool {
			if k.created+e.ttl > now {
				return false
			}
			r := promoted[k.h]
			if r == nil {
				r = e.recs.slots.get(k.h)
			}
			d.ents = append(d.ents, dueEnt{k.h, r, nil})
			return true
		})
	}
	return d
}

// index makes the index changes of what is due in x.
func (d *dueWork) index(x *ixw) {
	for _, de := range d.ents {
		if de.c != nil {
			x.reindex(de.h, de.old, de.c)
		} else {
			x.remove(de.h, de.old)
		}
		if d.e.rl != nil {
			d.digest ^= d.e.digest(de.old)
			if de.c != nil {
				d.digest ^= d.e.digest(de.c)
			}
		}
	}
}

// file does the engine's part of what is due, its index changes made.
// e.mu must be held for writing.
func (d *dueWork) file() {
	e := d.e
	e.lastPos = d.lastPos
	e.recDigest ^= d.digest
	for _, de := range d.ents {
		if de.c != nil {
			e.refiled(de.h, de.old, de.c)
			continue
		}
		r := de.old
		e.unfiled(de.h, r)
		e.counts[StateExpired]++
		e.tombs.Set(r.id, tomb{
			offerPath: r.firstOfferPath(),
			completed: r.state == StateCompleted,
			until:     r.created + e.ttl + e.recoveryValidity.Milliseconds(),
		})
		e.tombQ = append(e.tombQ, r.id)
	}
}

// updateDue recomputes nextDue. e.mu must be held for writing.
func (e *Engine) updateDue() {
	due := int64(math.MaxInt64)
	if p, ok := e.pending.Min(); ok {
		due = p.deadline
	}
	if e.ttl > 0 {
		if k, ok := e.created.min(); ok {
			due = min(due, k.created+e.ttl)
		}
	}
	if len(e.tombQ) > 0 {
		t, _ := e.tombs.Get(e.tombQ[0])
		due = min(due, t.until)
	}
	e.nextDue.Store(due)
}

// abandon marks c abandoned at the given moment with the feed position
// after *pos, and moves *pos on. It changes c only (and *pos).
func (e *Engine) abandon(c *record, at, now int64, pos *uint64) {
	*pos++
	c.feedPos = *pos
	c.mark = at
	if e.freshLink(c, now/1000) {
		return // the link of its last abandonment is still fresh
	}
	e.issueLink(c, now/1000+int64(e.recoveryValidity/time.Second))
}

// schedule sets the abandonment fields of c, a changed record, after
// activity at c.lastAt, with feed positions after *pos. It changes c only
// (and *pos).
func (e *Engine) schedule(c *record, now int64, pos *uint64) {
	if c.state != StateCompleted {
		c.mark = 0
	}
	c.feedPos = 0
	if c.state != StateContactable {
		c.dropLink()
		return
	}
	if e.abandonAfter == 0 {
		e.abandon(c, c.lastAt, now, pos)
		return
	}
	d := c.lastAt + e.abandonAfter
	if d <= now {
		e.abandon(c, d, now, pos)
		return
	}
	c.mark = d // pending
}

// filed does the engine's part, beside the indexes' (ixw.insert), of
// adding h's new record r: h is in the slot table already, and is filed
// by r's id here. e.mu must be held for writing.
func (e *Engine) filed(h handle, r *record) {
	e.noteChange(nil, r)
	e.recs.file(h, r.id)
	e.counts[r.state]++
	if k := r.emailKey(); k != "" {
		e.byEmail.add(k, h)
	}
}

// remove takes h's record r out of the engine. e.mu must be held for
// writing.
func (e *Engine) remove(h handle, r *record) {
	if e.rl != nil {
		e.recDigest ^= e.digest(r)
	}
	x := e.inPlace()
	x.remove(h, r)
	e.unfiled(h, r)
}

// unfiled does the engine's part, beside the indexes' (ixw.remove), of
// taking h's record r out, and releases h: it comes after the indexes'
// part, whose searches read h's id. e.mu must be held for writing.
func (e *Engine) unfiled(h handle, r *record) {
	delete(e.followUps, r.id)
	e.counts[r.state]--
	if k := r.emailKey(); k != "" {
		e.byEmail.remove(k, h)
	}
	e.recs.delete(h, r.id)
}

// replace swaps h's record old for its changed copy c. The index entries
// that name h and keep their keys stay as they are. e.mu must be held for
// writing.
func (e *Engine) replace(h handle, old, c *record) {
	if e.rl != nil {
		e.recDigest ^= e.digest(old) ^ e.digest(c)
	}
	x := e.inPlace()
	x.reindex(h, old, c)
	e.refiled(h, old, c)
}

// refiled does the engine's part, beside the indexes' (ixw.reindex), of
// replacing h's record old with c. e.mu must be held for writing.
func (e *Engine) refiled(h handle, old, c *record) {
	e.noteChange(old, c)
	e.recs.replace(h, c)
	e.counts[old.state]--
	e.counts[c.state]++
	if old.email() != c.email() {
		if ok, nk := old.emailKey(), c.emailKey(); ok != nk {
			if ok != "" {
				e.byEmail.remove(ok, h)
			}
			if nk != "" {
				e.byEmail.add(nk, h)
			}
		}
	}
}

// ixw is where a change to the ordered indexes (created, abandoned, tags,
// feed, pending) goes. In place (inPlace), it changes the engine's own
// trees, under e.mu held for writing. Copied (staged), it changes
// copy-on-write copies of them, made beside the readers of the trees they
// copy, under e.mu held for reading only, and installed under e.mu held for
// writing: the index work of a large batch, which its searches in cold
// nodes make most of a commit's time, keeps no reader waiting. A copy
// shares every node with its tree until it changes one, which it copies
// then: about a node per touched basket in each index it changes, when
// baskets arrive in random order, and a few nodes a batch when they arrive
// in time order, at the indexes' ends.
type ixw struct {
	e         *Engine
	cow       bool
	created   *countTree // cow: nil until copied
	abandoned *abTree    // cow: nil until copied
	feed      *btree.BTreeG[fentry]
	pending   *btree.BTreeG[pentry]
	tags      map[string]*abTree // cow: the tags' trees copied or made
}

// inPlace returns the engine's own indexes. e.mu must be held for writing.
func (e *Engine) inPlace() ixw {
	return ixw{e: e, created: e.created, abandoned: e.abandoned, feed: e.feed, pending: e.pending}
}

func (x *ixw) createdTree() *countTree {
	if x.created == nil {
		x.created = x.e.created.copy()
	}
	return x.created
}

func (x *ixw) abandonedTree() *abTree {
	if x.abandoned == nil {
		x.abandoned = x.e.abandoned.copy()
	}
	return x.abandoned
}

func (x *ixw) feedTree() *btree.BTreeG[fentry] {
	if x.feed == nil {
		x.feed = x.e.feed.Copy()
	}
	return x.feed
}

func (x *ixw) pendingTree() *btree.BTreeG[pentry] {
	if x.pending == nil {
		x.pending = x.e.pending.Copy()
	}
	return x.pending
}

// tagTree returns the tree of tag; nil if it has none, unless create.
func (x *ixw) tagTree(tag string, create bool) *abTree {
	e := x.e
	if !x.cow {
		tr := e.byTag[tag]
		if tr == nil && create {
			tr = newAbTree(&e.recs.slots)
			e.byTag[tag] = tr
		}
		return tr
	}
	tr, ok := x.tags[tag]
	if !ok {
		if tr = e.byTag[tag]; tr != nil {
			tr = tr.copy()
		}
		if x.tags == nil {
			x.tags = make(map[string]*abTree)
		}
		x.tags[tag] = tr
	}
	if tr == nil && create {
		tr = newAbTree(&e.recs.slots)
		x.tags[tag] = tr
	}
	return tr
}

// install makes the copies the engine's indexes. e.mu must be held for
// writing.
func (x *ixw) install() {
	e := x.e
	if x.created != nil {
		e.created = x.created
	}
	if x.abandoned != nil {
		e.abandoned = x.abandoned
	}
	if x.feed != nil {
		e.feed = x.feed
	}
	if x.pending != nil {
		e.pending = x.pending
	}
	for tag, tr := range x.tags {
		if tr == nil || tr.len() == 0 {
			delete(e.byTag, tag)
		} else {
			e.byTag[tag] = tr
		}
	}
}

// insert files h's new record r in the indexes.
func (x *ixw) insert(h handle, r *record) {
	x.createdTree().set(aentry{r.created, h}) // appended when created in time order
	x.index(h, r)
}

// remove takes h's record r out of the indexes. h's slot must still hold
// r: the searches read its id.
func (x *ixw) remove(h handle, r *record) {
	x.createdTree().delete(aentry{r.created, h})
	x.unindex(h, r)
}

// index files r's abandonment entries.
func (x *ixw) index(h handle, r *record) {
	if r.abandoned() {
		ent := aentry{r.created, h}
		x.abandonedTree().set(ent)
		if tag := r.tag(); tag != "" {
			x.tagTree(tag, true).set(ent)
		}
		x.feedTree().Load(fentry{r.feedPos, h}) // new positions are the greatest: appended
	}
	if d := r.deadline(); d != 0 {
		x.pendingTree().Set(pentry{d, h})
	}
}

// reindex moves the abandonment entries of old to c, its changed copy,
// where their keys change.
func (x *ixw) reindex(h handle, old, c *record) {
	if !old.abandoned() || !c.abandoned() || old.tag() != c.tag() {
		x.unindex(h, old)
		x.index(h, c)
		return
	}
	// The abandoned and tag entries keep their keys; neither record is
	// pending, being abandoned.
	if old.feedPos != c.feedPos {
		f := x.feedTree()
		f.Delete(fentry{pos: old.feedPos})
		f.Load(fentry{c.feedPos, h}) // new positions are the greatest: appended
	}
}

func (x *ixw) unindex(h handle, r *record) {
	if r.abandoned() {
		k := aentry{r.created, h}
		x.abandonedTree().delete(k)
		if tag := r.tag(); tag != "" {
			if tr := x.tagTree(tag, false); tr != nil {
				tr.delete(k)
				if tr.len() == 0 && !x.cow {
					delete(x.e.byTag, tag)
				}
			}
		}
		x.feedTree().Delete(fentry{pos: r.feedPos})
	}
	if d := r.deadline(); d != 0 {
		x.pendingTree().Delete(pentry{d, h})
	}
}

// Get returns a basket by id, or an error that is ErrNotFound if there is
// none and ErrClosed after Close. Reading is never customer activity.
func (e *Engine) Get(ctx context.Context, id string) (Basket, error) {
	if err := ctx.Err(); err != nil {
		return Basket{}, err
	}
	if err := e.beforeRead(ctx); err != nil {
		return Basket{}, err
	}
	now := e.readNow()
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return Basket{}, ErrClosed
	}
	r := e.recs.get(id)
	if r == nil {
		return Basket{}, fmt.Errorf("basket %q: %w", id, ErrNotFound)
	}
	return e.materialise(r, now/1000), nil
}

// materialise returns the public view of r. e.mu must be held.
func (e *Engine) materialise(r *record, nowSec int64) Basket {
	m := materialiser{e: e, nowSec: nowSec, validity: e.recoveryValidity, follows: e.followUps}
	return m.basket(r)
}

// materialiser makes the public views of records for one read. The
// baskets of a page share its buffers: one allocation for their links and
// one for their identities (or none, with reuse, for a reader that is
// handed one basket at a time).
//
// Records never change once filed, so a read collects its records under
// e.mu and makes their views after releasing it: hold takes, under e.mu,
// what else the views need (the settings of the moment, the records'
// follow-ups). A read's lock is held for the index walk only, never for
// the views or for what the caller does with them.
type materialiser struct {
	e        *Engine
	nowSec   int64
	validity time.Duration       // the recovery links' validity when the read began
	follows  map[string]followUp // the follow-ups of the read's records; nil if none
	reuse    bool                // each basket is valid only until the next: reuse idents
	links    strings.Builder
	idents   []Identity
	touched  byte // what grow read, kept so that its reads are not dropped
}

// hold takes what the views of recs need besides the records themselves.
// e.mu must be held.
func (m *materialiser) hold(recs []*record) {
	m.validity = m.e.recoveryValidity
	if len(m.e.followUps) == 0 {
		return
	}
	for _, r := range recs {
		if f, ok := m.e.followUps[r.id]; ok {
			if m.follows == nil {
				m.follows = make(map[string]followUp)
			}
			m.follows[r.id] = f
		}
	}
}

// grow sizes the buffers for recs, and reads what the views read first
// that is not in the lines it reads anyway: the first byte of each record's
// id, the record's last line (a record spans two or three lines, and its
// email's length and cached link are at its end), its extra when it has
// one and, for a caller that encodes the page (reuse), its email's first
// byte. Bytes of a large engine are mostly out of the cache. Read in one
// short loop, the misses of a page's baskets overlap; read by the views
// one basket after another, each waits for the last.
func (m *materialiser) grow(recs []*record) {
	n, ids := 0, 0
	var touch byte
	for _, r := range recs {
		if r.abandoned() {
			n += m.e.linkLen(r)
		}
		ids += r.numIdentities()
		touch += byte(r.emailLen)
		if len(r.id) > 0 {
			touch += r.id[0]
		}
		if r.x != nil {
			touch += byte(r.x.firstLen)
		}
		if m.reuse && len(r.es) > 0 {
			touch += r.es[0]
		}
	}
	m.touched = touch
	m.links.Grow(n)
	if !m.reuse && ids > 0 {
		m.idents = make([]Identity, 0, ids)
	}
}

func (m *materialiser) basket(r *record) Basket {
	var b Basket
	m.fill(&b, r)
	return b
}

// fill makes *b the view of r. It sets every field of *b, so that a
// reader's basket, reused from one record to the next, keeps nothing of
// the one before; and it sets them in place: a view built and then copied
// into a page's slice was a second copy of its 400 bytes, for each basket.
func (m *materialiser) fill(b *Basket, r *record) {
	x := r.extra()
	b.ID = r.id
	b.Created = msTime(r.created)
	// Field by field: built whole, the details went through the stack,
	// where 8-byte stores, read back 16 bytes at a time to be copied, could
	// not be forwarded and waited for every store before them.
	b.CustomerDetails.Email = r.email()
	b.CustomerDetails.FirstName = x.firstName()
	b.CustomerDetails.LastName = x.lastName()
	b.CustomerDetails.CompanyName = x.companyName()
	b.OrderItems = r.shape.items
	b.Tracking = r.shape.tracking
	b.Entry = r.shape.entry
	b.Completed = r.state == StateCompleted
	b.CustomFields = x.customFields
	b.State = r.state
	b.LastActivity = msTime(r.lastAt)
	b.RecoveredAt = msTime(x.recoveredAt)
	b.CompletedAt = msTime(r.completedAt())
	b.Abandoned = r.abandoned()
	b.AbandonedAt = msTime(r.abandonedAt())
	b.FeedPosition = r.feedPos
	b.Identities = nil
	switch {
	case r.x != nil && len(x.idents()) > 0:
		b.Identities = x.idents()
	case r.shape.hasIdent:
		if m.reuse {
			m.idents = m.idents[:0]
		}
		start := len(m.idents)
		m.idents = append(m.idents, Identity{})
		r.setShapeIdentity(&m.idents[start])
		b.Identities = m.idents[start:len(m.idents):len(m.idents)]
	}
	b.RecoveryLink = ""
	if r.abandoned() {
		start := m.links.Len()
		m.e.writeRecoveryLink(&m.links, r, m.nowSec, m.validity)
		b.RecoveryLink = m.links.String()[start:]
	}
	b.FollowedUpAt, b.FollowUpNote = time.Time{}, ""
	if m.follows != nil {
		if f, ok := m.follows[r.id]; ok {
			b.FollowedUpAt, b.FollowUpNote = msTime(f.at), f.note
		}
	}
}

// Stats are counts of the engine's contents.
type Stats struct {
	Open, Contactable, Completed int // live baskets by state
	Expired                      int // baskets purged at their TTL since start
	Abandoned                    int // abandoned now (a subset of Contactable)
	Pending                      int // contactable, waiting to be idle long enough
	Erased                       int // basket ids erased
	Suppressed                   int // addresses on the suppression list
	LastPosition                 uint64
}

// Stats returns counts of the engine's contents, or ErrClosed.
func (e *Engine) Stats(ctx context.Context) (Stats, error) {
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	if err := e.beforeRead(ctx); err != nil {
		return Stats{}, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return Stats{}, ErrClosed
	}
	return Stats{
		Open:         e.counts[StateOpen],
		Contactable:  e.counts[StateContactable],
		Completed:    e.counts[StateCompleted],
		Expired:      e.counts[StateExpired],
		Abandoned:    e.abandoned.len(),
		Pending:      e.pending.Len(),
		Erased:       e.erased.Len(),
		Suppressed:   e.suppressed.Len(),
		LastPosition: e.lastPos,
	}, nil
}

// Check verifies the engine's internal invariants: every index agrees with
// the records. It is meant for tests; it waits for the applier (whose
// staged batch has records in the slot table that no index names yet),
// takes the read lock and costs O(n).
func (e *Engine) Check() error {
	e.amu.Lock()
	defer e.amu.Unlock()
	e.mu.RLock()
	defer e.mu.RUnlock()
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if e.created.len() != e.recs.len() {
		fail("created index has %d entries, records %d", e.created.len(), e.recs.len())
	}
	e.created.check(func(format string, args ...any) { fail("created index: "+format, args...) })
	for id := range e.followUps {
		if e.recs.get(id) == nil {
			fail("a follow-up of %q, which is not live", id)
		}
	}
	var counts [StateExpired + 1]int
	nAb, nPend := 0, 0
	tagCounts := map[string]int{}
	emailCounts := 0
	e.recs.all(func(h handle, r *record) {
		id := r.id
		if rh, rr := e.recs.lookup(id); rh != h || rr != r {
			fail("record %q not found by its id", id)
		}
		counts[r.state]++
		if !e.created.has(aentry{r.created, h}) {
			fail("basket %q missing from the created index", id)
		}
		if r.state == StateOpen && r.contactable() || r.state == StateContactable && !r.contactable() {
			fail("basket %q in state %s with contactable=%v", id, r.state, r.contactable())
		}
		if r.abandoned() {
			nAb++
			if r.state != StateContactable {
				fail("basket %q abandoned in state %s", id, r.state)
			}
			if !e.abandoned.has(aentry{r.created, h}) {
				fail("basket %q missing from the abandoned index", id)
			}
			if f, ok := e.feed.Get(fentry{pos: r.feedPos}); !ok || f.h != h {
				fail("basket %q missing from the feed at %d", id, r.feedPos)
			}
			if r.feedPos == 0 || r.feedPos > e.lastPos {
				fail("basket %q has feed position %d of %d", id, r.feedPos, e.lastPos)
			}
			if tag := r.tag(); tag != "" {
				tagCounts[tag]++
				if tr := e.byTag[tag]; tr == nil {
					fail("basket %q of tag %q, which has no index", id, tag)
				} else if !tr.has(aentry{r.created, h}) {
					fail("basket %q missing from the index of tag %q", id, tag)
				}
			}
		}
		if d := r.deadline(); d != 0 {
			nPend++
			if p, ok := e.pending.Get(pentry{d, h}); !ok || p.h != h {
				fail("basket %q missing from the pending index", id)
			}
			if r.abandoned() {
				fail("basket %q both pending and abandoned", id)
			}
		}
		if k := r.emailKey(); k != "" {
			emailCounts++
			if !e.byEmail.has(k, h) {
				fail("basket %q missing from the email index", id)
			}
		}
	})
	for s := StateOpen; s <= StateCompleted; s++ {
		if counts[s] != e.counts[s] {
			fail("count of %s is %d, records say %d", s, e.counts[s], counts[s])
		}
	}
	if nAb != e.abandoned.len() || nAb != e.feed.Len() {
		fail("abandoned: %d records, index %d, feed %d", nAb, e.abandoned.len(), e.feed.Len())
	}
	e.abandoned.check(func(format string, args ...any) { fail("abandoned index: "+format, args...) })
	if nPend != e.pending.Len() {
		fail("pending: %d records, index %d", nPend, e.pending.Len())
	}
	for tag, tr := range e.byTag {
		if tr.len() != tagCounts[tag] {
			fail("tag %q index has %d, records %d", tag, tr.len(), tagCounts[tag])
		}
		tr.check(func(format string, args ...any) { fail("tag %q: "+format, append([]any{tag}, args...)...) })
	}
	if n := e.byEmail.check(fail); n != emailCounts {
		fail("email index has %d ids, records %d", n, emailCounts)
	}
	return errors.Join(errs...)
}
