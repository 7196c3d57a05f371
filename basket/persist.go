package basket

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
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

// snapshotFormat is the version of the snapshot payload's layout.
const snapshotFormat = 1

// walRecord is one entry of the log: a batch applied at engine time Now, or
// a revocation.
type walRecord struct {
	_msgpack struct{} `msgpack:",as_array"`
	Now      int64
	Events   []Event
	Revoke   string
}

// Open returns an engine whose state is kept in the directory dir: a
// write-ahead log and snapshots (see package store). The directory is
// created if needed and locked against other processes. Without
// Options.RecoverySecrets, a secret is generated once and kept in the
// directory. Close releases it.
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
	if _, err := st.LoadSnapshot(e.loadSnapshot); err != nil {
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
	e.snapshotEvery = o.SnapshotEvery
	if e.snapshotEvery == 0 {
		e.snapshotEvery = DefaultSnapshotEvery
	}
	e.startBackground(sweep)
	return e, nil
}

// StorageReport returns what opening the data directory found: the snapshot,
// the records replayed and any torn tail cut off. Zero for an in-memory
// engine.
func (e *Engine) StorageReport() store.Report { return e.report }

// loadSecret reads the directory's recovery secret, creating it if absent.
func loadSecret(dir string) ([]byte, error) {
	name := filepath.Join(dir, secretFile)
	b, err := os.ReadFile(name)
	if err == nil {
		s, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(s) < MinSecretLen {
			return nil, fmt.Errorf("basket: %s is not a valid secret", name)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("basket: %w", err)
	}
	s := make([]byte, 32)
	if _, err := rand.Read(s); err != nil {
		return nil, fmt.Errorf("basket: generating a recovery secret: %w", err)
	}
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("basket: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(s) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err == nil {
		err = store.OS{}.SyncDir(dir)
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("basket: keeping the recovery secret: %w", err)
	}
	return s, nil
}

// logBatch writes a batch to the log. A batch that changes nothing is not
// written, but still waits for everything logged before it: what it
// confirms must be durable too. e.mu must be held for writing.
func (e *Engine) logBatch(now int64, events []Event, noop bool) (uint64, error) {
	if noop {
		return e.log.Mark(), nil
	}
	rec, err := msgpack.Marshal(&walRecord{Now: now, Events: events})
	if err != nil {
		return 0, fmt.Errorf("basket: encoding a batch: %w", err)
	}
	t, err := e.log.Append(rec)
	if err != nil {
		return 0, fmt.Errorf("basket: the batch was not applied: %w: %w", ErrStorage, err)
	}
	return t, nil
}

// waitDurable waits for a log ticket, if the engine is durable.
func (e *Engine) waitDurable(ticket uint64) error {
	if e.log == nil || ticket == 0 {
		return nil
	}
	if err := e.log.Wait(ticket); err != nil {
		return fmt.Errorf("basket: the batch is applied in memory but may not be on disk; the engine takes no more writes: %w: %w", ErrStorage, err)
	}
	return nil
}

// replay applies one log record during Open.
func (e *Engine) replay(b []byte) error {
	var rec walRecord
	if err := msgpack.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("decoding a log record: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if rec.Revoke != "" {
		return e.revokeLocked(rec.Now, rec.Revoke)
	}
	if _, _, err := e.applyLocked(rec.Now, rec.Events, false); err != nil {
		return fmt.Errorf("a logged batch no longer applies: %w", err)
	}
	return nil
}

// Snapshot writes a snapshot of a durable engine's state and truncates the
// log. Writers are held only for the switch to a new log segment; the
// snapshot itself is written from a frozen copy of the indexes.
func (e *Engine) Snapshot(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.log == nil {
		return errors.New("basket: Snapshot of an in-memory engine")
	}
	e.snapMu.Lock()
	defer e.snapMu.Unlock()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	seq, err := e.log.Rotate()
	if err != nil {
		e.mu.Unlock()
		return err
	}
	v := frozen{
		created: e.created.Copy(),
		erased:  e.erased.Copy(),
		tombs:   e.tombs.Copy(),
		lastPos: e.lastPos,
		expired: e.counts[StateExpired],
	}
	e.mu.Unlock()
	return e.log.WriteSnapshot(seq, v.write)
}

// frozen is a copy-on-write view of the state for a snapshot.
type frozen struct {
	created *btree.BTreeG[aentry]
	erased  *btree.Map[string, struct{}]
	tombs   *btree.Map[string, tomb]
	lastPos uint64
	expired int
}

func (v *frozen) write(w io.Writer) error {
	enc := msgpack.NewEncoder(w)
	var err error
	do := func(e error) {
		if err == nil {
			err = e
		}
	}
	do(enc.EncodeArrayLen(6))
	do(enc.EncodeUint(snapshotFormat))
	do(enc.EncodeUint(v.lastPos))
	do(enc.EncodeInt(int64(v.expired)))
	do(enc.EncodeArrayLen(v.created.Len()))
	v.created.Scan(func(a aentry) bool {
		do(encodeRecord(enc, a.rec))
		return err == nil
	})
	do(enc.EncodeArrayLen(v.erased.Len()))
	v.erased.Scan(func(id string, _ struct{}) bool {
		do(enc.EncodeString(id))
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
	return err
}

const recordFields = 22

func encodeRecord(enc *msgpack.Encoder, r *record) error {
	var err error
	do := func(e error) {
		if err == nil {
			err = e
		}
	}
	do(enc.EncodeArrayLen(recordFields))
	do(enc.EncodeString(r.id))
	do(enc.EncodeInt(r.created))
	do(enc.EncodeInt(r.lastAt))
	do(enc.EncodeInt(r.abandonedAt))
	do(enc.EncodeInt(r.deadline))
	do(enc.EncodeUint(r.feedPos))
	do(enc.EncodeInt(int64(r.linkExp)))
	do(enc.EncodeInt(int64(r.revokedUntil)))
	do(enc.EncodeInt(r.recoveredAt))
	do(enc.EncodeInt(r.completedAt))
	do(enc.EncodeUint(r.createHash))
	do(enc.EncodeUint(uint64(r.state)))
	do(enc.EncodeString(r.details.Email))
	do(enc.EncodeString(r.details.FirstName))
	do(enc.EncodeString(r.details.LastName))
	do(enc.EncodeString(r.details.CompanyName))
	do(enc.EncodeArrayLen(len(r.items)))
	for _, it := range r.items {
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
	do(enc.EncodeMapLen(len(r.tracking)))
	for _, k := range slices.Sorted(maps.Keys(r.tracking)) {
		do(enc.EncodeString(k))
		do(enc.EncodeString(r.tracking[k]))
	}
	do(enc.EncodeArrayLen(len(r.identities)))
	for _, id := range r.identities {
		do(enc.EncodeArrayLen(4))
		do(enc.EncodeString(id.Sub))
		do(enc.EncodeString(id.Iss))
		do(enc.EncodeString(id.Service))
		do(enc.EncodeString(id.Type))
	}
	do(enc.EncodeString(r.entry))
	if len(r.customFields) == 0 {
		do(enc.EncodeNil())
	} else {
		do(enc.Encode(r.customFields))
	}
	do(enc.EncodeString(r.link))
	return err
}

// loadSnapshot reads a snapshot's payload into an empty engine.
func (e *Engine) loadSnapshot(rd io.Reader) error {
	dec := msgpack.NewDecoder(rd)
	d := decoder{dec: dec}
	d.arrayLen(6)
	if v := d.uint(); d.err == nil && v != snapshotFormat {
		return fmt.Errorf("%w: snapshot payload format %d; this build reads %d", store.ErrVersion, v, snapshotFormat)
	}
	lastPos := d.uint()
	expired := d.int()
	n := d.arrayLen(-1)
	e.recs = make(map[string]*record, n)
	var feed []fentry
	var prev ckey
	for i := 0; i < n && d.err == nil; i++ {
		r := d.record(e.intern)
		if d.err != nil {
			break
		}
		k := ckey{r.created, r.id}
		if i > 0 && !ckeyLess(prev, k) {
			return fmt.Errorf("snapshot out of order at basket %q", r.id)
		}
		prev = k
		if !strings.HasPrefix(r.link, e.recoverPath+"?") {
			r.link, r.linkExp = "", 0 // the recovery path changed: issued afresh
		}
		if _, dup := e.recs[r.id]; dup {
			return fmt.Errorf("snapshot holds basket %q twice", r.id)
		}
		// Records come in (created, id) order: the B-trees are bulk loaded.
		e.recs[r.id] = r
		e.created.Load(aentry{r.created, r})
		e.counts[r.state]++
		if k := r.emailKey(); k != "" {
			e.byEmail[k] = append(e.byEmail[k], r.id)
		}
		if r.abandoned() {
			e.abandoned.Load(aentry{r.created, r})
			if tag := r.tag(); tag != "" {
				tr := e.byTag[tag]
				if tr == nil {
					tr = newAbandonedTree()
					e.byTag[tag] = tr
				}
				tr.Load(aentry{r.created, r})
			}
			feed = append(feed, fentry{r.feedPos, r})
		}
		if r.deadline != 0 {
			e.pending.Set(pentry{r.deadline, r.id})
		}
	}
	slices.SortFunc(feed, func(a, b fentry) int { return cmp.Compare(a.pos, b.pos) })
	for _, f := range feed {
		e.feed.Load(f)
	}
	n = d.arrayLen(-1)
	for i := 0; i < n && d.err == nil; i++ {
		e.erased.Set(d.str(), struct{}{})
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
	if d.err != nil {
		return fmt.Errorf("decoding the snapshot: %w", d.err)
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

// decoder reads a snapshot, keeping the first error. Its scratch space is
// reused from record to record: catalogue strings, items and tracking maps
// repeat, and the interner keeps one copy of each.
type decoder struct {
	dec      *msgpack.Decoder
	err      error
	buf      []byte
	items    []OrderItem
	products []Product
	tracking map[string]string
}

// strIn reads a string that the interner shares, allocating only for one
// it has not seen.
func (d *decoder) strIn(in *interner) string {
	if d.err != nil {
		return ""
	}
	n, err := d.dec.DecodeBytesLen()
	if err != nil || n <= 0 {
		d.err = err
		return ""
	}
	if cap(d.buf) < n {
		d.buf = make([]byte, n)
	}
	b := d.buf[:n]
	if d.err = d.dec.ReadFull(b); d.err != nil {
		return ""
	}
	if s, ok := in.strs[string(b)]; ok {
		return s
	}
	return in.str(string(b))
}

func (d *decoder) arrayLen(want int) int {
	if d.err != nil {
		return 0
	}
	n, err := d.dec.DecodeArrayLen()
	switch {
	case err != nil:
		d.err = err
	case want >= 0 && n != want:
		d.err = fmt.Errorf("an array of %d where %d belong", n, want)
	case n < 0:
		n = 0
	}
	return n
}

func (d *decoder) str() string {
	if d.err != nil {
		return ""
	}
	s, err := d.dec.DecodeString()
	d.err = err
	return s
}

func (d *decoder) int() int64 {
	if d.err != nil {
		return 0
	}
	v, err := d.dec.DecodeInt64()
	d.err = err
	return v
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := d.dec.DecodeUint64()
	d.err = err
	return v
}

func (d *decoder) bool() bool {
	if d.err != nil {
		return false
	}
	v, err := d.dec.DecodeBool()
	d.err = err
	return v
}

func (d *decoder) record(in *interner) *record {
	d.arrayLen(recordFields)
	r := &record{
		id: d.str(), created: d.int(), lastAt: d.int(), abandonedAt: d.int(), deadline: d.int(),
		feedPos: d.uint(), linkExp: uint32(d.int()), revokedUntil: uint32(d.int()), recoveredAt: d.int(), completedAt: d.int(), createHash: d.uint(),
		state: State(d.uint()),
	}
	r.details = CustomerDetails{Email: d.str(), FirstName: d.str(), LastName: d.str(), CompanyName: d.str()}
	// Items and tracking are read into scratch space: the interner returns
	// its shared copy, or copies them.
	items := d.items[:0]
	products := d.products[:0]
	for range d.arrayLen(-1) {
		d.arrayLen(3)
		it := OrderItem{Name: d.strIn(in), Path: d.strIn(in)}
		start := len(products)
		for range d.arrayLen(-1) {
			d.arrayLen(2)
			products = append(products, Product{Path: d.strIn(in), ProductCode: d.strIn(in)})
		}
		if len(products) > start {
			it.Products = products[start:len(products):len(products)]
		}
		items = append(items, it)
	}
	r.items = in.orderItems(items)
	clear(items)
	d.items, d.products = items[:0], products[:0]
	if d.err == nil {
		n, err := d.dec.DecodeMapLen()
		d.err = err
		if n > 0 {
			if d.tracking == nil {
				d.tracking = make(map[string]string, n)
			}
			clear(d.tracking)
			for range n {
				k := d.strIn(in)
				d.tracking[k] = d.strIn(in)
			}
			r.tracking = in.trackingMap(d.tracking)
		}
	}
	if n := d.arrayLen(-1); n > 0 {
		r.identities = make([]Identity, n)
		for i := range r.identities {
			d.arrayLen(4)
			r.identities[i] = Identity{Sub: d.str(), Iss: d.strIn(in), Service: d.strIn(in), Type: d.strIn(in)}
		}
	}
	r.entry = d.strIn(in)
	if d.err == nil {
		var cf map[string]any
		d.err = d.dec.Decode(&cf)
		if len(cf) > 0 {
			r.customFields = cf
		}
	}
	r.link = d.str()
	if d.err == nil && (r.id == "" || r.state < StateOpen || r.state > StateCompleted) {
		d.err = fmt.Errorf("a malformed basket record %q", r.id)
	}
	return r
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
			e.maintain(toMS(e.now()))
		case <-snapC:
			if e.log.SinceSnapshot() >= e.snapshotEvery {
				if err := e.Snapshot(context.Background()); err != nil && !errors.Is(err, ErrClosed) {
					e.logger.Error("snapshot failed; the log keeps growing", "err", err)
				}
			}
		}
	}
}

var discardLogger = slog.New(slog.DiscardHandler)
