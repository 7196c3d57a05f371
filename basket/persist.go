package basket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/btree"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/basketlab/abandoned/basket/store"
)

// DefaultSnapshotEvery is how many bytes of log make a durable engine take a
// snapshot in the background, by default.
const DefaultSnapshotEvery = 64 << 20

// secretFile holds the recovery secret a durable engine generated, so that
// links and cursors survive a restart.
const secretFile = "recovery.secret"

// snapshotFormat is the version of the snapshot payload's layout. Formats 1
// (no sequence, time or settings, erasures without their time), 2 (no
// suppression list or cluster identity) and 3 (cached recovery links
// spelled out as text, no count of addresses) are still read.
const snapshotFormat = 4

// snapshotFields is the number of fields of each format's payload array.
var snapshotFields = [...]int{1: 6, 2: 9, 3: 13, 4: 14}

// walRecord is one entry of the log, applied at engine time Now (unix ms):
// a batch of events, a tick (no events: only the time-based changes due), a
// revocation, a change of settings, or a new epoch of feed positions. Seq
// numbers records from 1; records of format 1 logs have none.
type walRecord struct {
	_msgpack struct{} `msgpack:",as_array"`
	Now      int64
	Events   []Event
	Revoke   string
	Seq      uint64
	Settings *settings
	Epoch    uint64 // feed positions continue above it
	ID       string // on a replicated log: the writer's id for the record
	Identity []byte // on a replicated log: the cluster's (see identity)
	// On a replicated log, a checkpoint: the digest of the state right
	// after record Checkpoint, which every node compares with its own.
	Checkpoint uint64
	Digest     uint64
	// A normalised address to put on the suppression list (Unsubscribe).
	Unsubscribe string
	// A basket marked followed up (FollowUp).
	FollowUp *followUpRecord
}

// DecodeMsgpack reads a record of any version: the fields it holds, in
// order (a log written before a field existed has fewer), skipping any a
// later version added.
func (r *walRecord) DecodeMsgpack(dec *msgpack.Decoder) error {
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return err
	}
	fields := [...]any{&r.Now, &r.Events, &r.Revoke, &r.Seq, &r.Settings, &r.Epoch, &r.ID, &r.Identity, &r.Checkpoint, &r.Digest, &r.Unsubscribe, &r.FollowUp}
	for i := range max(n, 0) {
		switch {
		case i >= len(fields):
			err = dec.Skip()
		case i == 1:
			r.Events, err = decodeEvents(dec)
		default:
			err = dec.Decode(fields[i])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeEvents reads a record's events one at a time, so that the slice
// grows with the events read rather than with the count the record claims,
// and refuses an event without a type or a time, which no event written
// has: an event takes at least 13 bytes then, which bounds what the
// decoding of a corrupt record allocates to a small multiple of its bytes
// (a slice of empty events, one byte each, would be some 200 times them).
func decodeEvents(dec *msgpack.Decoder) ([]Event, error) {
	n, err := dec.DecodeArrayLen()
	if err != nil || n <= 0 {
		return nil, err // n is -1 for nil
	}
	evs := make([]Event, 0, min(n, 1024)) // a claim of more grows as it is read
	for i := range n {
		evs = append(evs, Event{})
		ev := &evs[len(evs)-1]
		if err := dec.Decode(ev); err != nil {
			return nil, err
		}
		if ev.Type == "" || ev.At.IsZero() {
			return nil, fmt.Errorf("event %d of %d has no type or no time", i, n)
		}
	}
	return evs, nil
}

// settings are the options that shape what records do. They are kept in the
// log and the snapshot, so that a replay applies every record under the
// settings it was first applied with, whatever the options of the process
// that replays it.
type settings struct {
	_msgpack         struct{} `msgpack:",as_array"`
	AbandonAfter     int64    // ms
	TTL              int64    // ms; 0: forever
	RecoveryValidity int64    // s
}

func (e *Engine) settings() settings {
	return settings{AbandonAfter: e.abandonAfter, TTL: e.ttl, RecoveryValidity: int64(e.recoveryValidity / time.Second)}
}

// setSettings puts s in force. e.mu must be held for writing.
func (e *Engine) setSettings(s *settings) {
	e.abandonAfter, e.ttl = s.AbandonAfter, s.TTL
	e.recoveryValidity = time.Duration(s.RecoveryValidity) * time.Second
	e.hasSettings = true
}

func (s settings) String() string {
	ttl := "forever"
	if s.TTL > 0 {
		ttl = (time.Duration(s.TTL) * time.Millisecond).String()
	}
	return fmt.Sprintf("abandon after %v, time to live %s, recovery links valid %v",
		time.Duration(s.AbandonAfter)*time.Millisecond, ttl, time.Duration(s.RecoveryValidity)*time.Second)
}

// Open returns an engine whose state is kept in the directory dir: a
// write-ahead log and snapshots (see package store). The directory is
// created if needed and locked against other processes. Without
// Options.RecoverySecrets, a secret is generated once and kept in the
// directory. Close releases it.
//
// While Open reads the directory's snapshot, Go's collector is off (as
// debug.SetGCPercent(-1)), for the records it reads all stay live: it is
// set back when they are read, or sooner if the heap outgrows what they
// were expected to take. A memory limit (GOMEMLIMIT) holds throughout. A
// program that sets the collector's percentage during an Open has its
// setting replaced by the one found when the Open began.
func Open(dir string, opts *Options) (*Engine, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	st, err := store.Open(dir, o.Store)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Engine, error) {
		st.Close()
		return nil, err
	}
	if len(o.RecoverySecrets) == 0 {
		secret, err := loadSecret(dir)
		if err != nil {
			return fail(err)
		}
		o.RecoverySecrets = [][]byte{secret}
	}
	sweep := o.SweepInterval
	o.SweepInterval = 0
	e, err := New(&o)
	if err != nil {
		return fail(err)
	}
	e.lazy = sweep <= 0
	want := e.settings()
	e.lastPos, e.changeSeq = 0, 0 // the snapshot and the log say where positions and changes are
	loaded, err := st.LoadSnapshot(e.loadSnapshot)
	if err != nil {
		return fail(err)
	}
	rep, err := st.Replay(e.replay)
	if err != nil {
		return fail(err)
	}
	if rep.TornTail {
		e.logger.Warn("cut a torn tail off the log", "file", rep.TornFile, "offset", rep.TornAt, "bytes", rep.TornBytes)
	}
	e.log, e.report = st, rep
	e.logSeq, e.logNow = e.applied, e.lastNow
	e.snapshotEvery = o.SnapshotEvery
	if e.snapshotEvery == 0 {
		e.snapshotEvery = DefaultSnapshotEvery
	}
	if err := e.settle(want, o, !loaded && rep.Records == 0); err != nil {
		e.log = nil
		return fail(err)
	}
	e.startBackground(sweep)
	return e, nil
}

// settle logs, after a replay, what the process's options change: settings
// that differ from those the log was written with (unless
// Options.KeepStoredSettings), and a new epoch of feed positions for a new
// directory, or for one whose log could have lost a tail that readers saw
// (any fsync policy but always), so that no position is handed out twice.
func (e *Engine) settle(want settings, o Options, fresh bool) error {
	cur := e.settings()
	switch {
	case !e.hasSettings:
		// A new directory, or one written by a version that kept none: the
		// options are the settings.
		if _, err := e.submit(context.Background(), &walRecord{Settings: &want}); err != nil {
			return err
		}
	case cur != want && o.KeepStoredSettings:
		e.logger.Info("using the settings the data directory was written with", "settings", cur.String())
	case cur != want:
		if _, err := e.submit(context.Background(), &walRecord{Settings: &want}); err != nil {
			return err
		}
		e.logger.Warn("settings changed since the data directory was written; the new ones apply from now on",
			"was", cur.String(), "now", want.String())
	}
	sync := store.SyncAlways
	if o.Store != nil {
		sync = o.Store.Sync
	}
	if fresh || sync != store.SyncAlways {
		if _, err := e.submit(context.Background(), &walRecord{Epoch: epochOf(e.now())}); err != nil {
			return err
		}
	}
	return nil
}

// StorageReport returns what opening the data directory found: the snapshot,
// the records replayed and any torn tail cut off. Zero for an in-memory
// engine.
func (e *Engine) StorageReport() store.Report { return e.report }

// loadSecret reads the directory's recovery secret, creating it if absent.
func loadSecret(dir string) ([]byte, error) { return KeepSecret(dir, secretFile) }

// replay applies one log record during Open: as it was applied when it was
// logged, refused or not. Records the snapshot covers are skipped.
func (e *Engine) replay(b []byte) error {
	var rec walRecord
	if err := checkMsg(b, maxScanDepth); err != nil {
		return fmt.Errorf("decoding a log record: %w", err)
	}
	if err := msgpack.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("decoding a log record: %w", err)
	}
	e.amu.Lock()
	defer e.amu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if rec.Seq != 0 && rec.Seq <= e.applied {
		return nil
	}
	// A replay has no readers to keep from waiting: its batches change the
	// indexes in place, which copies no node.
	from := e.stageFrom
	e.stageFrom = math.MaxInt
	e.applyRecord(&rec) //nolint:errcheck // a refused batch was refused when logged too
	e.stageFrom = from
	return nil
}

// Snapshot writes a snapshot of a durable engine's state and truncates the
// log. Writers are held only for the switch to a new log segment (and its
// fsync), readers not at all: the snapshot is written from a frozen copy of
// the indexes, as of a record at or after the switch.
func (e *Engine) Snapshot(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.log == nil {
		return errors.New("basket: Snapshot of an in-memory engine")
	}
	e.snapMu.Lock()
	defer e.snapMu.Unlock()
	e.wmu.Lock()
	if e.isClosed.Load() {
		e.wmu.Unlock()
		return ErrClosed
	}
	seq, err := e.log.Rotate()
	covered, mark := e.logSeq, e.log.Mark()
	e.wmu.Unlock()
	if err != nil {
		if errors.Is(err, store.ErrFailed) {
			return fmt.Errorf("basket: snapshot: %w: %w", ErrStorage, err)
		}
		return err
	}
	// Everything logged before the switch is applied first, so that the
	// snapshot covers the segments it supersedes.
	if err := e.log.Wait(mark); err != nil {
		return fmt.Errorf("basket: snapshot: %w: %w", ErrStorage, err)
	}
	e.drain(mark)
	if e.drained != nil {
		e.drained()
	}
	// The applier's lock first: a record being applied has set e.applied
	// before its changes are in (applyLocked and runDue work with e.mu held
	// for reading only), and a freeze between would save the sequence
	// without the changes, which a restart would then skip.
	e.amu.Lock()
	e.mu.Lock()
	e.amu.Unlock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	if e.applied < covered {
		e.mu.Unlock()
		return fmt.Errorf("basket: snapshot: record %d of %d applied", e.applied, covered)
	}
	v := e.freeze()
	e.mu.Unlock()
	return e.log.WriteSnapshot(seq, v.write)
}

// freeze returns a copy-on-write view of the state for a snapshot. e.mu
// must be held.
func (e *Engine) freeze() *frozen {
	return &frozen{
		e:          e,
		created:    e.created.copy(),
		slots:      e.recs.slots.freeze(),
		erased:     e.erased.Copy(),
		tombs:      e.tombs.Copy(),
		lastPos:    e.lastPos,
		expired:    e.counts[StateExpired],
		addresses:  e.byEmail.n,
		applied:    e.applied,
		lastNow:    e.lastNow,
		settings:   e.settings(),
		suppressed: e.suppressed.Copy(),
		clusterID:  e.clusterID,
		changeSeq:  e.changeSeq,
		trimmed:    e.changesTrimmed,
		changes:    e.changes.Copy(),
		followUps:  maps.Clone(e.followUps),
	}
}

// frozen is a copy-on-write view of the state for a snapshot.
type frozen struct {
	e       *Engine    // for its recovery path and keys, which never change
	created *countTree // walked only (each): its searches would read the live slots
	slots   frozenSlots
	erased  *btree.Map[string, int64]
	tombs   *btree.Map[string, tomb]
	lastPos uint64
	expired int
	// addresses is the number of baskets with an address, for the loader
	// to size the address index by (it holds at most as many keys).
	addresses int
	applied   uint64
	lastNow   int64
	settings  settings
	// suppressed is the suppression list: normalised address, time.
	suppressed *btree.Map[string, int64]
	clusterID  []byte // on a replicated log: its identity
	// The change journal: its last sequence, the last change dropped, the
	// changes kept.
	changeSeq, trimmed uint64
	changes            *btree.BTreeG[centry]
	followUps          map[string]followUp
}

func (v *frozen) write(w io.Writer) error {
	enc := msgpack.NewEncoder(w)
	enc.SetSortMapKeys(true) // custom fields: the same state, the same bytes
	var err error
	do := func(e error) {
		if err == nil {
			err = e
		}
	}
	do(enc.EncodeArrayLen(snapshotFields[snapshotFormat]))
	do(enc.EncodeUint(snapshotFormat))
	do(enc.EncodeUint(v.lastPos))
	do(enc.EncodeInt(int64(v.expired)))
	do(enc.EncodeUint(uint64(v.addresses)))
	do(enc.EncodeArrayLen(v.created.len()))
	v.created.each(func(a aentry) bool {
		do(v.encodeRecord(enc, v.slots.get(a.h)))
		return err == nil
	})
	do(enc.EncodeArrayLen(v.erased.Len()))
	v.erased.Scan(func(id string, at int64) bool {
		do(enc.EncodeArrayLen(2))
		do(enc.EncodeString(id))
		do(enc.EncodeInt(at))
		return err == nil
	})
	do(enc.EncodeArrayLen(v.tombs.Len()))
	v.tombs.Scan(func(id string, t tomb) bool {
		do(enc.EncodeArrayLen(4))
		do(enc.EncodeString(id))
		do(enc.EncodeString(t.offerPath))
		do(enc.EncodeBool(t.completed))
		do(enc.EncodeInt(t.until))
		return err == nil
	})
	do(enc.EncodeUint(v.applied))
	do(enc.EncodeInt(v.lastNow))
	do(enc.Encode(&v.settings))
	do(enc.EncodeArrayLen(v.suppressed.Len()))
	v.suppressed.Scan(func(email string, at int64) bool {
		do(enc.EncodeArrayLen(2))
		do(enc.EncodeString(email))
		do(enc.EncodeInt(at))
		return err == nil
	})
	do(enc.EncodeBytes(v.clusterID))
	do(enc.EncodeArrayLen(3))
	do(enc.EncodeUint(v.changeSeq))
	do(enc.EncodeUint(v.trimmed))
	do(enc.EncodeArrayLen(v.changes.Len()))
	v.changes.Scan(func(ce centry) bool {
		do(enc.EncodeArrayLen(6))
		do(enc.EncodeUint(ce.seq))
		do(enc.EncodeInt(ce.at))
		do(enc.EncodeUint(uint64(ce.typ)))
		do(enc.EncodeString(ce.id))
		do(enc.EncodeUint(ce.feedPos))
		do(enc.EncodeArrayLen(len(ce.ids)))
		for _, id := range ce.ids {
			do(enc.EncodeString(id))
		}
		return err == nil
	})
	do(enc.EncodeArrayLen(len(v.followUps)))
	for _, id := range slices.Sorted(maps.Keys(v.followUps)) {
		f := v.followUps[id]
		do(enc.EncodeArrayLen(3))
		do(enc.EncodeString(id))
		do(enc.EncodeInt(f.at))
		do(enc.EncodeString(f.note))
	}
	return err
}

const recordFields = 22

// minRecordBytes is the fewest bytes a record of a snapshot takes: its
// array's header, and a byte for each field.
const minRecordBytes = 1 + recordFields

func (v *frozen) encodeRecord(enc *msgpack.Encoder, r *record) error {
	var err error
	do := func(e error) {
		if err == nil {
			err = e
		}
	}
	x := r.extra()
	do(enc.EncodeArrayLen(recordFields))
	do(enc.EncodeString(r.id))
	do(enc.EncodeInt(r.created))
	do(enc.EncodeInt(r.lastAt))
	do(enc.EncodeInt(r.abandonedAt()))
	do(enc.EncodeInt(r.deadline()))
	do(enc.EncodeUint(r.feedPos))
	do(enc.EncodeInt(int64(r.linkExp)))
	do(enc.EncodeInt(int64(x.revokedUntil)))
	do(enc.EncodeInt(x.recoveredAt))
	do(enc.EncodeInt(r.completedAt()))
	do(enc.EncodeUint(r.createHash))
	do(enc.EncodeUint(uint64(r.state)))
	do(enc.EncodeString(r.email()))
	do(enc.EncodeString(x.firstName()))
	do(enc.EncodeString(x.lastName()))
	do(enc.EncodeString(x.companyName()))
	items := r.items()
	do(enc.EncodeArrayLen(len(items)))
	for _, it := range items {
		do(enc.EncodeArrayLen(3))
		do(enc.EncodeString(it.Name))
		do(enc.EncodeString(it.Path))
		do(enc.EncodeArrayLen(len(it.Products)))
		for _, p := range it.Products {
			do(enc.EncodeArrayLen(2))
			do(enc.EncodeString(p.Path))
			do(enc.EncodeString(p.ProductCode))
		}
	}
	tr := r.tracking()
	do(enc.EncodeMapLen(len(tr)))
	for _, k := range slices.Sorted(maps.Keys(tr)) {
		do(enc.EncodeString(k))
		do(enc.EncodeString(tr[k]))
	}
	n := r.numIdentities()
	do(enc.EncodeArrayLen(n))
	for i := range n {
		id := r.identity(i)
		do(enc.EncodeArrayLen(4))
		do(enc.EncodeString(id.Sub))
		do(enc.EncodeString(id.Iss))
		do(enc.EncodeString(id.Service))
		do(enc.EncodeString(id.Type))
	}
	do(enc.EncodeString(r.entry()))
	if len(x.customFields) == 0 {
		do(enc.EncodeNil())
	} else {
		do(enc.Encode(x.customFields))
	}
	// A cached recovery link is its key's position and its MAC (its expiry
	// is a field above): the link is spelled out from them when read.
	if r.linkExp == 0 {
		do(enc.EncodeBytes(nil))
	} else {
		var b [linkBytes]byte
		b[0] = r.linkKey
		copy(b[1:], r.linkMAC[:])
		do(enc.EncodeBytes(b[:]))
	}
	return err
}

// linkBytes is the length of a cached recovery link in a snapshot: its
// key's position in the keyring, and its MAC.
const linkBytes = 1 + tokenMACLen

// takeLink takes the link cached in a snapshot of format 4 or later back
// into r, if its key's position is in the keyring (a link cached before
// the secrets changed verifies, or not, as it did); otherwise r keeps no
// link, and one is issued afresh when needed.
func (e *Engine) takeLink(r *record, b []byte) error {
	switch {
	case len(b) == 0 && r.linkExp == 0:
		return nil
	case len(b) != linkBytes || r.linkExp == 0:
		return fmt.Errorf("basket record %q with a cached recovery link of %d bytes and expiry %d", r.id, len(b), r.linkExp)
	case int(b[0]) >= len(e.keys.keys):
		r.dropLink()
		return nil
	}
	r.linkKey = b[0]
	copy(r.linkMAC[:], b[1:])
	return nil
}

// loadSnapshot reads a snapshot's payload into an empty engine.
func (e *Engine) loadSnapshot(rd io.Reader) error {
	// The reflective decoder reads the few values that need it (settings,
	// custom fields) from the same window, without a buffer of its own.
	d := decoder{msgReader: newMsgReader(rd), contentsOrder: newMRU(), identsOrder: newMRU()}
	d.dec = msgpack.NewDecoder(&d.msgReader)
	d.rawDec = msgpack.NewDecoder(&d.rawReader)
	fields := d.arrayLen(-1)
	format := d.uint()
	switch {
	case d.err != nil:
		return fmt.Errorf("decoding the snapshot: %w", d.err)
	case format >= 1 && format <= snapshotFormat && fields == snapshotFields[format]:
	case format >= 1 && format <= snapshotFormat:
		return fmt.Errorf("decoding the snapshot: an array of %d fields for format %d", fields, format)
	default:
		return fmt.Errorf("%w: snapshot payload format %d; this build reads 1 to %d", store.ErrVersion, format, snapshotFormat)
	}
	lastPos := d.uint()
	expired := d.int()
	// The address index is made for the baskets with an address. Before
	// format 4 their number is not known: it is made for half the
	// baskets, and grows if more have one.
	addresses, announced := -1, uint64(0)
	if format >= 4 {
		announced = d.uint()
		addresses = int(min(announced, math.MaxInt32))
	}
	n := d.arrayLen(-1)
	// The tables are made for the records the header announces, no more
	// than the payload can hold.
	size := min(n, 1<<16)
	var payload int64
	if s, ok := rd.(interface{ Size() int64 }); ok {
		payload = s.Size()
		size = int(min(int64(n), 1<<24, payload/minRecordBytes))
	}
	// The collector is off while the records are read (see collectorHold).
	hold := holdCollector(snapshotAllowance(n, payload))
	defer hold.end()
	// One goroutine decodes the records while this one makes the tables,
	// then files them: the decoder owns the reader and the interner until
	// it is done.
	batches, stop, done := make(chan []*record, 4), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer close(batches)
		const batchSize = 1024
		batch := make([]*record, 0, batchSize)
		for i := 0; i < n && d.err == nil; i++ {
			r, link := d.record(e.intern)
			if d.err != nil {
				break
			}
			if format < 4 {
				e.parseLink(r, link)
			} else if err := e.takeLink(r, link); err != nil {
				d.setErr(err)
				break
			}
			if batch = append(batch, r); len(batch) == batchSize || i == n-1 {
				select {
				case batches <- batch:
				case <-stop:
					return
				}
				batch = make([]*record, 0, batchSize)
			}
		}
	}()
	e.recs = newRecTable(size)
	if addresses < 0 {
		addresses = size / 2
	}
	e.byEmail = newEmailIndex(min(addresses, size))
	late, err := e.fileSnapshotRecords(batches, hold)
	close(stop)
	<-done
	if err != nil {
		return err
	}
	if err := e.fileLateFeed(late); err != nil {
		return err
	}
	hold.end()
	n = d.arrayLen(-1)
	for i := 0; i < n && d.err == nil; i++ {
		if format == 1 {
			e.erased.Set(d.str(), 0) // of unknown time: every later event is refused
			continue
		}
		d.arrayLen(2)
		id := d.str()
		e.erased.Set(id, d.int())
	}
	n = d.arrayLen(-1)
	type qt struct {
		id    string
		until int64
	}
	var q []qt
	for i := 0; i < n && d.err == nil; i++ {
		d.arrayLen(4)
		id := d.str()
		t := tomb{offerPath: d.str(), completed: d.bool(), until: d.int()}
		e.tombs.Set(id, t)
		q = append(q, qt{id, t.until})
	}
	if format >= 2 && d.err == nil {
		e.applied = d.uint()
		e.lastNow = d.int()
		var st settings
		if err := d.dec.Decode(&st); err != nil {
			d.setErr(err)
		} else {
			e.setSettings(&st)
		}
	}
	if format >= 3 {
		n = d.arrayLen(-1)
		for i := 0; i < n && d.err == nil; i++ {
			d.arrayLen(2)
			email := d.str()
			e.suppressed.Set(email, d.int())
		}
		if d.err == nil {
			var id []byte
			if id = d.strBytes(); len(id) > 0 {
				e.clusterID = slices.Clone(id)
			}
		}
		d.arrayLen(3)
		e.changeSeq = d.uint()
		e.changesTrimmed = d.uint()
		n = d.arrayLen(-1)
		var prevSeq uint64
		for i := 0; i < n && d.err == nil; i++ {
			d.arrayLen(6)
			ce := centry{seq: d.uint(), at: d.int(), typ: uint8(d.uint()), id: d.str(), feedPos: d.uint()}
			if m := d.arrayLen(-1); m > 0 {
				ce.ids = make([]string, 0, min(m, 64))
				for j := 0; j < m && d.err == nil; j++ {
					ce.ids = append(ce.ids, d.str())
				}
			}
			if d.err == nil && (ce.typ == 0 || int(ce.typ) >= len(changeTypeOf) || ce.seq <= prevSeq || ce.seq > e.changeSeq) {
				return fmt.Errorf("decoding the snapshot: change %d of the journal is malformed", i)
			}
			prevSeq = ce.seq
			e.changes.Load(ce)
		}
		n = d.arrayLen(-1)
		for i := 0; i < n && d.err == nil; i++ {
			d.arrayLen(3)
			id, at, note := d.str(), d.int(), d.str()
			if d.err == nil && e.recs.get(id) == nil {
				return fmt.Errorf("decoding the snapshot: a follow-up of basket %q, which it does not hold", id)
			}
			e.followUps[id] = followUp{at: at, note: note}
		}
	}
	if d.err != nil {
		return fmt.Errorf("decoding the snapshot: %w", d.err)
	}
	if format >= 4 && uint64(e.byEmail.n) != announced {
		return fmt.Errorf("decoding the snapshot: it announces %d baskets with an address and holds %d", announced, e.byEmail.n)
	}
	slices.SortStableFunc(q, func(a, b qt) int {
		switch {
		case a.until < b.until:
			return -1
		case a.until > b.until:
			return 1
		}
		return strings.Compare(a.id, b.id)
	})
	for _, t := range q {
		e.tombQ = append(e.tombQ, t.id)
	}
	e.lastPos = uint64(lastPos)
	e.counts[StateExpired] = int(expired)
	e.updateDue()
	return nil
}

// fileSnapshotRecords files the records of a snapshot, which come in
// (created, id) order, in the engine's indexes. Baskets were abandoned
// mostly in the order they were created: the feed's entries that come in
// order are appended to it, and the others returned, to be filed after.
// It checks hold's allowance at each batch.
func (e *Engine) fileSnapshotRecords(batches <-chan []*record, hold *collectorHold) ([]fentry, error) {
	// Another goroutine files the addresses, a batch behind: it owns
	// e.byEmail until it is done, before this returns.
	type filedBatch struct {
		recs []*record
		hs   []handle
	}
	emails, filed := make(chan filedBatch, 4), make(chan struct{})
	go func() {
		defer close(filed)
		type keyed struct {
			k uint32
			h handle
		}
		var todo []keyed
		var touch uint64
		for b := range emails {
			// The batch's keys are worked out first, then their slots
			// read in a loop of loads alone, where the cache misses
			// overlap, so that filing finds them in the cache (as in the
			// id table's loop below). Between hashes, each load would
			// wait for the one before to leave the processor's window.
			todo = todo[:0]
			for i, r := range b.recs {
				if a := r.emailKey(); a != "" {
					todo = append(todo, keyed{e.byEmail.key(a), b.hs[i]})
				}
			}
			for _, t := range todo {
				touch ^= e.byEmail.one.warm(t.k)
			}
			for _, t := range todo {
				e.byEmail.addKey(t.k, t.h)
			}
		}
		runtime.KeepAlive(touch)
	}()
	defer func() {
		close(emails)
		<-filed
	}()
	var late []fentry
	var lastFeed uint64
	var prev ckey
	first := true
	var touch uint64
	defer func() { runtime.KeepAlive(touch) }()
	var keys []uint32
	for batch := range batches {
		hold.check()
		// The id table's slots of the batch are read first, in a loop of
		// loads alone where their cache misses overlap: one by one in the
		// filing below, each would wait for the last. The keys are worked
		// out before it, and kept for the filing.
		keys = keys[:0]
		for _, r := range batch {
			keys = append(keys, e.recs.key(r.id))
		}
		for _, k := range keys {
			touch ^= e.recs.m.warm(k)
		}
		hs := make([]handle, len(batch))
		for i, r := range batch {
			k := ckey{r.created, r.id}
			if !first && !ckeyLess(prev, k) {
				return nil, fmt.Errorf("snapshot out of order at basket %q", r.id)
			}
			prev, first = k, false
			h := e.recs.addKey(keys[i], r)
			if h == 0 {
				return nil, fmt.Errorf("snapshot holds basket %q twice", r.id)
			}
			hs[i] = h
			// The indexes take entries in order at their ends.
			if e.rl != nil {
				e.recDigest ^= e.digest(r)
			}
			e.created.set(aentry{r.created, h})
			e.counts[r.state]++
			if r.abandoned() {
				e.abandoned.set(aentry{r.created, h})
				if tag := r.tag(); tag != "" {
					tr := e.byTag[tag]
					if tr == nil {
						tr = newAbTree(&e.recs.slots)
						e.byTag[tag] = tr
					}
					tr.set(aentry{r.created, h})
				}
				if f := (fentry{r.feedPos, h}); f.pos > lastFeed {
					e.feed.Load(f)
					lastFeed = f.pos
				} else {
					late = append(late, f)
				}
			}
			if d := r.deadline(); d != 0 {
				e.pending.Set(pentry{d, h})
			}
		}
		emails <- filedBatch{batch, hs}
	}
	return late, nil
}

// fileLateFeed files the feed's entries that came out of order of
// position (fileSnapshotRecords). A few are set one by one. Many (one
// basket abandoned late, and those after it all come late) are put in
// order with those filed already, and the feed loaded again in order: no
// worse than sorting all of them after the records, as an out-of-order
// feed would be anyway. Two entries at one position are an error.
func (e *Engine) fileLateFeed(late []fentry) error {
	dup := func(pos uint64) error {
		return fmt.Errorf("decoding the snapshot: two baskets at feed position %d", pos)
	}
	if len(late)*16 <= e.feed.Len() {
		for _, f := range late {
			if _, replaced := e.feed.Set(f); replaced {
				return dup(f.pos)
			}
		}
		return nil
	}
	// Positions are handed out one after another, and most stay taken
	// while their baskets are abandoned: when they are dense, each entry
	// goes to its position's place in an array over their span, in one
	// pass, and the array is read in order. (A sort takes two passes of
	// each entry for a million positions, and twice the memory.)
	lo, hi := uint64(math.MaxUint64), uint64(0)
	if f, ok := e.feed.Min(); ok {
		lo = f.pos
		f, _ = e.feed.Max()
		hi = f.pos
	}
	for _, f := range late {
		lo, hi = min(lo, f.pos), max(hi, f.pos)
	}
	if n := uint64(e.feed.Len() + len(late)); hi-lo < 2*n {
		span := hi - lo + 1
		hs := make([]handle, span)
		taken := make([]uint64, (span+63)/64)
		put := func(f fentry) bool {
			i := f.pos - lo
			if taken[i/64]&(1<<(i%64)) != 0 {
				return false
			}
			taken[i/64] |= 1 << (i % 64)
			hs[i] = f.h
			return true
		}
		e.feed.Scan(func(f fentry) bool { put(f); return true }) // a tree's positions are distinct
		for _, f := range late {
			if !put(f) {
				return dup(f.pos)
			}
		}
		e.feed = newFeedTree()
		for w, word := range taken {
			for ; word != 0; word &= word - 1 {
				i := uint64(w)*64 + uint64(bits.TrailingZeros64(word))
				e.feed.Load(fentry{lo + i, hs[i]})
			}
		}
		return nil
	}
	all := make([]fentry, 0, e.feed.Len()+len(late))
	e.feed.Scan(func(f fentry) bool { all = append(all, f); return true })
	all = sortByPos(append(all, late...))
	e.feed = newFeedTree()
	for i, f := range all {
		if i > 0 && all[i-1].pos == f.pos {
			return dup(f.pos)
		}
		e.feed.Load(f)
	}
	return nil
}

// sortByPos sorts fs by position, stably, and returns them: a radix sort,
// 11 bits a pass, as many passes as the greatest position needs (three up
// to 2^33), in place of a comparison sort of up to millions of entries.
func sortByPos(fs []fentry) []fentry {
	const bits = 11
	var most uint64
	for _, f := range fs {
		most = max(most, f.pos)
	}
	buf := make([]fentry, len(fs))
	for shift := uint(0); shift < 64 && most>>shift != 0; shift += bits {
		var count [1<<bits + 1]int
		for _, f := range fs {
			count[(f.pos>>shift)&(1<<bits-1)+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		for _, f := range fs {
			d := (f.pos >> shift) & (1<<bits - 1)
			buf[count[d]] = f
			count[d]++
		}
		fs, buf = buf, fs
	}
	return fs
}

// decoder reads a snapshot, keeping the first error. Its scratch space is
// reused from record to record: catalogue strings, items and tracking maps
// repeat, and the interner keeps one copy of each.
type decoder struct {
	msgReader
	dec *msgpack.Decoder
	// raw holds a record's custom fields, copied and checked (copyValue),
	// for rawDec to decode.
	raw       []byte
	rawReader bytes.Reader
	rawDec    *msgpack.Decoder
	items     []OrderItem
	products  []Product
	tracking  map[string]string
	strs      []byte // a record's id, email, subject and names, then one string
	names     []byte
	x         extra

	// What repeats from basket to basket is read once: the sections of
	// recent records that follow the names (items and tracking) and that
	// follow the one identity's subject (its issuer, service and type, and
	// the entry), and the last shape. msgpack values are prefix-free, so
	// bytes that begin with a section's bytes hold the same values.
	contents      [sectionWays]contentSection
	idents        [sectionWays]identSection
	contentsOrder mru
	identsOrder   mru
	lastKey       shapeKey
	lastShape     *shape
}

// sectionWays is how many recent sections of each kind a decoder keeps;
// maxSection bounds the bytes of one.
const (
	sectionWays = 4
	maxSection  = 512
)

type contentSection struct {
	raw      []byte
	items    []OrderItem
	tracking map[string]string
	trackKey string
}

type identSection struct {
	raw   []byte
	ident identMeta
	entry string
}

// mru orders the slots of a decoder's recent sections, the most recently
// used first.
type mru [sectionWays]uint8

func newMRU() mru {
	var o mru
	for i := range o {
		o[i] = uint8(i)
	}
	return o
}

// use moves the slot at place p to the front and returns it.
func (o *mru) use(p int) uint8 {
	s := o[p]
	copy(o[1:p+1], o[:p])
	o[0] = s
	return s
}

// recent returns the slot of the section that the window begins with, by
// raw, and skips its bytes; -1 if none.
func (d *decoder) recent(o *mru, raw func(slot uint8) []byte) int {
	rest := d.buf[d.off:]
	for p := range sectionWays {
		if b := raw(o[p]); len(b) > 0 && len(rest) >= len(b) && string(rest[:len(b)]) == string(b) {
			d.off += len(b)
			return int(o.use(p))
		}
	}
	return -1
}

// sectionFrom returns the bytes read since start (an offset in the window
// at generation gen), copied into old, or nil when they are not all in the
// window or too many.
func (d *decoder) sectionFrom(start, gen int, old []byte) []byte {
	if d.err != nil || d.gen != gen || d.off-start > maxSection {
		return nil
	}
	return append(old[:0], d.buf[start:d.off]...)
}

// strIn reads a string that the interner shares, allocating only for one
// it has not seen.
func (d *decoder) strIn(in *interner) string {
	b := d.strBytes()
	if len(b) == 0 {
		return ""
	}
	if s, ok := in.strs[string(b)]; ok {
		return s
	}
	return in.str(string(b))
}

func (d *decoder) arrayLen(want int) int {
	n := d.msgReader.arrayLen()
	switch {
	case d.err != nil:
		return 0
	case want >= 0 && n != want:
		d.setErr(fmt.Errorf("an array of %d where %d belong", n, want))
	case n < 0:
		n = 0
	}
	return n
}

// record reads a basket, and the recovery link it has cached (empty if
// none), a view valid until the next read.
func (d *decoder) record(in *interner) (*record, []byte) {
	d.arrayLen(recordFields)
	// The record's own strings are gathered in d.strs: the id, the email
	// and the one identity's subject (es), then the names.
	strs := append(d.strs[:0], d.strBytes()...)
	idLen := len(strs)
	r := &record{created: d.int(), lastAt: d.int()}
	abandonedAt, deadline := d.int(), d.int()
	r.feedPos, r.linkExp = d.uint(), uint32(d.int())
	x := &d.x
	*x = extra{revokedUntil: uint32(d.int()), recoveredAt: d.int()}
	completedAt := d.int()
	r.createHash, r.state = d.uint(), State(d.uint())
	// The three times of the state are one field: the state and the feed
	// position say which a snapshot's record has (it has at most one).
	switch {
	case r.state == StateCompleted:
		r.mark = completedAt
	case r.feedPos != 0:
		r.mark = abandonedAt
	case r.state == StateContactable:
		r.mark = deadline
	}
	strs = append(strs, d.strBytes()...)
	emailLen := len(strs) - idLen
	names := d.names[:0]
	var nameLen [3]int
	for i := range nameLen {
		n := len(names)
		names = append(names, d.strBytes()...)
		nameLen[i] = len(names) - n
	}
	d.names = names
	var sh shape
	if slot := d.recent(&d.contentsOrder, func(s uint8) []byte { return d.contents[s].raw }); slot >= 0 {
		c := &d.contents[slot]
		sh.items, sh.tracking, sh.trackKey = c.items, c.tracking, c.trackKey
	} else {
		d.contentSection(in, &sh)
	}
	switch n := d.arrayLen(-1); {
	case n == 1:
		d.arrayLen(4)
		strs = append(strs, d.strBytes()...)
		sh.hasIdent = true
		if slot := d.recent(&d.identsOrder, func(s uint8) []byte { return d.idents[s].raw }); slot >= 0 {
			c := &d.idents[slot]
			sh.ident, sh.entry = c.ident, c.entry
			break
		}
		start, gen := d.off, d.gen
		sh.ident = identMeta{d.strIn(in), d.strIn(in), d.strIn(in)}
		sh.entry = d.strIn(in)
		// A section not kept takes no place from one that is.
		slot := d.identsOrder[sectionWays-1]
		if raw := d.sectionFrom(start, gen, d.idents[slot].raw); raw != nil {
			d.identsOrder.use(sectionWays - 1)
			d.idents[slot] = identSection{raw, sh.ident, sh.entry}
		}
	case n > MaxIdentities:
		if d.err == nil {
			d.setErr(fmt.Errorf("basket record %q with %d identities", strs[:idLen], n))
		}
	case n > 1:
		ids := make([]Identity, n)
		for i := range ids {
			d.arrayLen(4)
			ids[i] = Identity{Sub: d.str(), Iss: d.strIn(in), Service: d.strIn(in), Type: d.strIn(in)}
		}
		x.identities = &ids
		sh.entry = d.strIn(in)
	default:
		sh.entry = d.strIn(in)
	}
	esEnd := len(strs)
	strs = append(strs, names...)
	d.strs = strs
	if d.peek() == 0xc0 {
		d.code()
	} else if d.err == nil {
		// Copied and checked first: msgpack's decoder sizes an array of
		// interfaces by the count it reads.
		var err error
		if d.raw, err = d.copyValue(d.raw[:0]); err != nil {
			d.setErr(err)
		} else {
			var cf map[string]any
			d.rawReader.Reset(d.raw)
			d.rawDec.Reset(&d.rawReader)
			if err := d.rawDec.Decode(&cf); err != nil {
				d.setErr(err)
			}
			if len(cf) > 0 {
				x.customFields = cf
			}
		}
		if cap(d.raw) > 1<<20 {
			d.raw = nil // a rare large value's space is not kept
		}
	}
	if emailLen > math.MaxUint16 && d.err == nil {
		d.setErr(fmt.Errorf("basket record %q with an email of %d bytes", strs[:idLen], emailLen))
	}
	if nameLen[0]+nameLen[1] > maxNamesLen && d.err == nil {
		d.setErr(fmt.Errorf("basket record %q with a first and last name of %d bytes", strs[:idLen], nameLen[0]+nameLen[1]))
	}
	if idLen == 0 || r.state < StateOpen || r.state > StateCompleted {
		if d.err == nil {
			d.setErr(fmt.Errorf("a malformed basket record %q", strs[:idLen]))
		}
	}
	link := d.strBytes()
	if d.err != nil {
		return r, nil
	}
	// The id, the email with the subject, and the names are one string
	// each: an id outlives its record (erasures, tombs, the change
	// journal) and must not keep the customer's address or names alive.
	r.id, r.es, r.emailLen = string(strs[:idLen]), string(strs[idLen:esEnd]), uint16(emailLen)
	if nameLen != [3]int{} {
		x.names, x.firstLen, x.lastLen = string(strs[esEnd:]), uint16(nameLen[0]), uint16(nameLen[1])
	}
	if !x.empty() {
		r.x = new(extra)
		*r.x = *x
	}
	if k := keyOf(&sh); k == d.lastKey && d.lastShape != nil {
		r.shape = d.lastShape
	} else {
		r.shape = in.shapeOf(&sh, k)
		d.lastKey, d.lastShape = k, r.shape
	}
	return r, link
}

// contentSection reads a record's items and tracking into sh, and keeps
// their bytes as the most recent section. They are read into scratch
// space: the interner returns its shared copy, or copies them.
func (d *decoder) contentSection(in *interner, sh *shape) {
	start, gen := d.off, d.gen
	items, products := d.items[:0], d.products[:0]
	// The loops stop at an error: a count read from bad data can be huge.
	for n, i := d.arrayLen(-1), 0; i < n && d.err == nil; i++ {
		d.arrayLen(3)
		it := OrderItem{Name: d.strIn(in), Path: d.strIn(in)}
		first := len(products)
		for m, j := d.arrayLen(-1), 0; j < m && d.err == nil; j++ {
			d.arrayLen(2)
			products = append(products, Product{Path: d.strIn(in), ProductCode: d.strIn(in)})
		}
		if len(products) > first {
			it.Products = products[first:len(products):len(products)]
		}
		items = append(items, it)
	}
	sh.items = in.orderItems(items)
	clear(items)
	d.items, d.products = items[:0], products[:0]
	if d.err == nil {
		if n := d.mapLen(); n > 0 {
			if d.tracking == nil {
				d.tracking = make(map[string]string, min(n, 16))
			}
			clear(d.tracking)
			for i := 0; i < n && d.err == nil; i++ {
				k := d.strIn(in)
				d.tracking[k] = d.strIn(in)
			}
			sh.tracking, sh.trackKey = in.trackingMap(d.tracking)
		}
	}
	// A section not kept takes no place from one that is.
	slot := d.contentsOrder[sectionWays-1]
	if raw := d.sectionFrom(start, gen, d.contents[slot].raw); raw != nil {
		d.contentsOrder.use(sectionWays - 1)
		d.contents[slot] = contentSection{raw, sh.items, sh.tracking, sh.trackKey}
	}
}

// startBackground starts the sweeper and, for a durable engine, the
// snapshotter. Both stop in Close.
func (e *Engine) startBackground(sweep time.Duration) {
	if sweep <= 0 && (e.log == nil || e.snapshotEvery < 0) {
		return
	}
	e.stop = make(chan struct{})
	e.done = make(chan struct{})
	go e.background(sweep)
}

func (e *Engine) background(sweep time.Duration) {
	defer close(e.done)
	var sweepC, snapC <-chan time.Time
	if sweep > 0 {
		t := time.NewTicker(sweep)
		defer t.Stop()
		sweepC = t.C
	}
	if e.log != nil && e.snapshotEvery > 0 {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		snapC = t.C
	}
	for {
		select {
		case <-e.stop:
			return
		case <-sweepC:
			if err := e.Sweep(context.Background()); err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrStorage) {
				e.logger.Error("sweep failed", "err", err)
			}
		case <-snapC:
			if e.log.Err() != nil {
				continue // the store has failed: Health says so; nothing to snapshot
			}
			if e.log.SinceSnapshot() >= e.snapshotEvery {
				if err := e.Snapshot(context.Background()); err != nil && !errors.Is(err, ErrClosed) {
					e.logger.Error("snapshot failed; the log keeps growing", "err", err)
				}
			}
		}
	}
}

var discardLogger = slog.New(slog.DiscardHandler)
