package basket_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
	"github.com/basketlab/abandoned/basket/store"
)

// The model-based test: random batches of events go to the engine and to a
// plain oracle (a map scanned and sorted on every query); every query, every
// paging walk and every feed walk must agree. Run with SEED=n to replay one
// sequence; -model.n sets how many sequences run.

// obasket is the oracle's basket.
type obasket struct {
	id           string
	created      int64 // ms
	lastAt       int64
	recoveredAt  int64
	completedAt  int64
	completed    bool
	details      basket.CustomerDetails
	identities   []basket.Identity
	items        []basket.OrderItem
	createdItems []basket.OrderItem // as the created event set them
	tracking     map[string]string
	entry        string
	abandonedAt  int64
	pos          uint64
	deadline     int64
}

func (b *obasket) contactable() bool { return b.details.Email != "" || len(b.identities) > 0 }

func (b *obasket) state() basket.State {
	switch {
	case b.completed:
		return basket.StateCompleted
	case b.contactable():
		return basket.StateContactable
	}
	return basket.StateOpen
}

func (b *obasket) clone() *obasket {
	c := *b
	c.identities = slices.Clone(b.identities)
	return &c
}

type oracle struct {
	abandonAfter int64 // ms
	ttl          int64 // ms
	baskets      map[string]*obasket
	erased       map[string]int64 // id -> the erasure's time
	expired      map[string]bool
	lastPos      uint64
}

func newOracle(abandonAfter, ttl time.Duration) *oracle {
	return &oracle{
		abandonAfter: abandonAfter.Milliseconds(), ttl: ttl.Milliseconds(),
		baskets: map[string]*obasket{}, erased: map[string]int64{}, expired: map[string]bool{},
	}
}

func (o *oracle) clone() *oracle {
	c := *o
	c.baskets = make(map[string]*obasket, len(o.baskets))
	for id, b := range o.baskets {
		c.baskets[id] = b.clone()
	}
	c.erased = maps.Clone(o.erased)
	c.expired = maps.Clone(o.expired)
	return &c
}

// maintain promotes due baskets in (deadline, id) order, then expires.
func (o *oracle) maintain(now int64) {
	var due []*obasket
	for _, b := range o.baskets {
		// A basket that expires before it has been idle long enough is
		// never abandoned.
		if b.deadline != 0 && b.deadline <= now && b.created+o.ttl > b.deadline {
			due = append(due, b)
		}
	}
	slices.SortFunc(due, func(a, b *obasket) int {
		return cmp.Or(cmp.Compare(a.deadline, b.deadline), strings.Compare(a.id, b.id))
	})
	for _, b := range due {
		o.lastPos++
		b.pos, b.abandonedAt, b.deadline = o.lastPos, b.deadline, 0
	}
	for id, b := range o.baskets {
		if b.created+o.ttl <= now {
			delete(o.baskets, id)
			o.expired[id] = true
		}
	}
}

func (o *oracle) schedule(b *obasket, now int64) {
	b.abandonedAt, b.pos, b.deadline = 0, 0, 0
	if b.completed || !b.contactable() {
		return
	}
	d := b.lastAt + o.abandonAfter
	if o.abandonAfter == 0 || d <= now {
		o.lastPos++
		b.pos, b.abandonedAt = o.lastPos, d
		return
	}
	b.deadline = d
}

// apply returns the failing event's index and the sentinel, or -1, nil.
func (o *oracle) apply(now int64, evs []basket.Event, invalid []bool) (int, error) {
	o.maintain(now)
	for i := range evs {
		if invalid[i] {
			return i, basket.ErrInvalidEvent
		}
	}
	work := o.clone()
	var order []string
	dirty := map[string]bool{}
	touch := func(id string) {
		if !slices.Contains(order, id) {
			order = append(order, id)
		}
	}
	for i := range evs {
		ev := &evs[i]
		at := ev.At.UnixMilli()
		if ev.Type == basket.EventErased {
			key := basket.NormalizeEmail(ev.Email)
			for id, b := range work.baskets {
				if basket.NormalizeEmail(b.details.Email) == key && b.created <= at {
					delete(work.baskets, id)
					work.erased[id] = at
					delete(dirty, id)
				}
			}
			continue
		}
		id := ev.BasketID
		b := work.baskets[id]
		if erasedAt, ok := work.erased[id]; ok {
			if at <= erasedAt {
				continue // a re-send of news from before the erasure: harmless
			}
			return i, basket.ErrUnknownBasket
		}
		switch {
		case b == nil && work.expired[id]:
			return i, basket.ErrExpired
		case b == nil && ev.Type != basket.EventCreated:
			return i, basket.ErrUnknownBasket
		}
		touch(id)
		if ev.Type == basket.EventCreated {
			if b != nil {
				if b.created == at && b.entry == ev.Entry && reflect.DeepEqual(b.createdItems, nilIfEmpty(ev.OrderItems)) &&
					reflect.DeepEqual(b.tracking, nilIfEmptyMap(ev.Tracking)) {
					continue
				}
				return i, basket.ErrConflict
			}
			if at+o.ttl <= now {
				return i, basket.ErrExpired
			}
			work.baskets[id] = &obasket{id: id, created: at, lastAt: at, entry: ev.Entry,
				items: nilIfEmpty(ev.OrderItems), createdItems: nilIfEmpty(ev.OrderItems), tracking: nilIfEmptyMap(ev.Tracking)}
			dirty[id] = true
			continue
		}
		if b.completed {
			if ev.Type == basket.EventCompleted || at <= b.lastAt {
				continue
			}
			return i, basket.ErrCompleted
		}
		stale := at < b.lastAt && ev.Type != basket.EventCompleted
		changed := false
		details := func(d *basket.CustomerDetails) {
			set := func(dst *string, v string) {
				if v != "" && *dst != v && (!stale || *dst == "") {
					*dst = v
					changed = true
				}
			}
			set(&b.details.Email, strings.TrimSpace(d.Email))
			set(&b.details.FirstName, d.FirstName)
			set(&b.details.LastName, d.LastName)
			set(&b.details.CompanyName, d.CompanyName)
		}
		switch ev.Type {
		case basket.EventItemsChanged:
			if !stale && !reflect.DeepEqual(b.items, nilIfEmpty(ev.OrderItems)) {
				b.items, changed = nilIfEmpty(ev.OrderItems), true
			}
		case basket.EventEmailCaptured:
			details(&basket.CustomerDetails{Email: ev.Email})
		case basket.EventCustomerDetailsChanged:
			details(ev.CustomerDetails)
		case basket.EventIdentified:
			if !slices.Contains(b.identities, *ev.Identity) {
				if len(b.identities) == basket.MaxIdentities {
					b.identities = b.identities[1:]
				}
				b.identities = append(b.identities, *ev.Identity)
				changed = true
			}
			if ev.CustomerDetails != nil {
				details(ev.CustomerDetails)
			}
		case basket.EventCompleted:
			b.completed, b.completedAt, changed = true, at, true
		case basket.EventRecovered:
			if !stale && at > b.recoveredAt {
				b.recoveredAt, changed = at, true
			}
		}
		if !changed && at <= b.lastAt {
			continue
		}
		b.lastAt = max(b.lastAt, at)
		dirty[id] = true
	}
	for _, id := range order {
		if b := work.baskets[id]; b != nil && dirty[id] {
			work.schedule(b, now)
		}
	}
	*o = *work
	return -1, nil
}

// ms is t in unix milliseconds, 0 for the zero time.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func nilIfEmpty(items []basket.OrderItem) []basket.OrderItem {
	if len(items) == 0 {
		return nil
	}
	return items
}

func nilIfEmptyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// query returns the abandoned baskets matching q, sorted.
func (o *oracle) query(q basket.Query) []*obasket {
	var out []*obasket
	for _, b := range o.baskets {
		switch {
		case b.pos == 0,
			!q.CreatedAfter.IsZero() && b.created <= q.CreatedAfter.UnixMilli(),
			!q.CreatedBefore.IsZero() && b.created >= q.CreatedBefore.UnixMilli(),
			q.Email != "" && basket.NormalizeEmail(b.details.Email) != basket.NormalizeEmail(q.Email),
			q.Tag != "" && b.tracking["tag"] != q.Tag:
			continue
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b *obasket) int {
		return cmp.Or(cmp.Compare(a.created, b.created), strings.Compare(a.id, b.id))
	})
	return out
}

func (o *oracle) feed() []*obasket {
	var out []*obasket
	for _, b := range o.baskets {
		if b.pos != 0 {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b *obasket) int { return cmp.Compare(a.pos, b.pos) })
	return out
}

// gen makes random events over small pools of ids, emails and tags, so that
// conflicts, re-sends, stale events and erasures happen often.
type gen struct {
	r       *rand.Rand
	ids     []string
	emails  []string
	tags    []string
	offers  [][]basket.OrderItem
	sent    []basket.Event // events sent before, for re-sends
	created []string       // ids of created events sent
}

func newGen(r *rand.Rand) *gen {
	g := &gen{r: r, tags: []string{"", "direct", "social"}}
	for i := range 40 {
		g.ids = append(g.ids, fmt.Sprintf("b-%02d", i))
	}
	for i := range 8 {
		g.emails = append(g.emails, fmt.Sprintf("user%d@example.com", i))
	}
	for _, name := range []string{"Digital", "Print", "Weekend"} {
		g.offers = append(g.offers, []basket.OrderItem{{
			Name: name, Path: "/offers/" + name,
			Products: []basket.Product{{Path: "/products/" + name, ProductCode: "SKU-" + name}},
		}})
	}
	return g
}

func (g *gen) email() string {
	e := g.emails[g.r.IntN(len(g.emails))]
	switch g.r.IntN(4) {
	case 0:
		return strings.ToUpper(e[:1]) + e[1:]
	case 1:
		return " " + e + " "
	}
	return e
}

// event returns a random event at about now, and whether it is invalid.
func (g *gen) event(now time.Time) (basket.Event, bool) {
	if len(g.sent) > 0 && g.r.IntN(8) == 0 {
		return g.sent[g.r.IntN(len(g.sent))], false // a re-send
	}
	at := now.Add(time.Duration(g.r.IntN(12)-9) * time.Minute).Truncate(time.Millisecond)
	id := g.ids[g.r.IntN(len(g.ids))]
	if len(g.created) > 0 && g.r.IntN(5) != 0 {
		id = g.created[g.r.IntN(len(g.created))]
	}
	ev := basket.Event{BasketID: id, At: at}
	invalid := false
	switch k := g.r.IntN(100); {
	case k < 30:
		ev.Type = basket.EventCreated
		ev.BasketID = g.ids[g.r.IntN(len(g.ids))]
		g.created = append(g.created, ev.BasketID)
		ev.Entry = "/checkout"
		ev.OrderItems = g.offers[g.r.IntN(len(g.offers))]
		if tag := g.tags[g.r.IntN(len(g.tags))]; tag != "" {
			ev.Tracking = map[string]string{"tag": tag}
		}
	case k < 42:
		ev.Type = basket.EventItemsChanged
		ev.OrderItems = g.offers[g.r.IntN(len(g.offers))]
	case k < 60:
		ev.Type = basket.EventEmailCaptured
		ev.Email = g.email()
		if g.r.IntN(25) == 0 {
			ev.Email, invalid = "not an email", true
		}
	case k < 70:
		ev.Type = basket.EventIdentified
		ev.Identity = &basket.Identity{Sub: fmt.Sprint("sub-", g.r.IntN(5)), Iss: "https://issuer.example", Service: "salesforce", Type: "account"}
		if g.r.IntN(2) == 0 {
			ev.CustomerDetails = &basket.CustomerDetails{Email: g.email(), FirstName: "Ann"}
		}
	case k < 78:
		ev.Type = basket.EventCustomerDetailsChanged
		ev.CustomerDetails = &basket.CustomerDetails{FirstName: []string{"Ann", "Bob", ""}[g.r.IntN(3)], LastName: "Lee"}
		if g.r.IntN(3) == 0 {
			ev.CustomerDetails.Email = g.email()
		}
	case k < 88:
		ev.Type = basket.EventCompleted
	case k < 98:
		ev.Type = basket.EventRecovered
	default:
		ev = basket.Event{Type: basket.EventErased, Email: g.email(), At: at}
	}
	if !invalid {
		g.sent = append(g.sent, ev)
	}
	return ev, invalid
}

// modelSeeds returns n seeds from the time, or the one SEED names.
func modelSeeds(t *testing.T, n int) []uint64 {
	if s, ok := envSeed(t); ok {
		return []uint64{s}
	}
	seeds := make([]uint64, n)
	base := uint64(time.Now().UnixNano())
	for i := range seeds {
		seeds[i] = base + uint64(i)
	}
	return seeds
}

func envSeed(t *testing.T) (uint64, bool) {
	s := os.Getenv("SEED")
	if s == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("SEED=%q: %v", s, err)
	}
	return n, true
}

func TestModel(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 300
	}
	seeds := modelSeeds(t, n)
	seen := map[string]int{}
	for _, seed := range seeds {
		if !runModel(t, seed, seen, modelMemory) {
			t.Fatalf("replay with SEED=%d go test ./basket -run 'TestModel$'", seed)
		}
	}
	t.Logf("outcomes over %d sequences: %v", len(seeds), seen)
	if len(seeds) > 1 {
		// The generator must reach every outcome, or the test proves little.
		for _, k := range []string{"ok", "abandoned", "fed", "paged", "counted",
			basket.ErrInvalidEvent.Error(), basket.ErrUnknownBasket.Error(), basket.ErrConflict.Error(),
			basket.ErrCompleted.Error(), basket.ErrExpired.Error()} {
			if seen[k] == 0 {
				t.Errorf("no sequence reached %q", k)
			}
		}
	}
}

// TestModelDurable is TestModel with a durable engine (fsync=always) that is
// restarted at random moments, cleanly or by a crash that drops what was not
// fsynced, and snapshotted at random, while a reader races every batch: every
// answer agrees with the oracle, and every basket (positions, abandonedAt and
// recovery links included) is the same after a restart as before.
func TestModelDurable(t *testing.T) {
	n := 150
	if testing.Short() {
		n = 30
	}
	seeds := modelSeeds(t, n)
	seen := map[string]int{}
	for _, seed := range seeds {
		if !runModel(t, seed, seen, modelDurable) {
			t.Fatalf("replay with SEED=%d go test ./basket -run TestModelDurable", seed)
		}
	}
	t.Logf("outcomes over %d sequences: %v", len(seeds), seen)
	if len(seeds) > 1 {
		for _, k := range []string{"clean restart", "crash", "snapshot", "ok", "fed"} {
			if seen[k] == 0 {
				t.Errorf("no sequence reached %q", k)
			}
		}
	}
}

// modelMode says what runModel runs the sequence through.
type modelMode struct {
	durable bool
	// nodes, if set, starts the engines of a cluster's nodes on a new log
	// with the options: the batches go to each in turn, and every node is
	// compared with the oracle.
	nodes func(t *testing.T, opts *basket.Options) []*basket.Engine
}

var (
	modelMemory  = modelMode{}
	modelDurable = modelMode{durable: true}
)

// runModel runs one random sequence and reports whether engine and oracle
// agreed throughout. A durable run restarts the engine at random.
func runModel(t *testing.T, seed uint64, seen map[string]int, mode modelMode) bool {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, seed>>1|1))
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := btest.NewClock(start)
	abandonAfter := []time.Duration{0, 0, 20 * time.Minute}[r.IntN(3)]
	ttl := []time.Duration{basket.DefaultTTL, 6 * time.Hour}[r.IntN(2)]
	opts := &basket.Options{
		Now: clock.Now, AbandonAfter: abandonAfter, TTL: ttl,
		RecoverySecrets: [][]byte{btest.Secret}, Alias: "model",
	}
	durable := mode.durable
	var (
		eng   *basket.Engine
		nodes []*basket.Engine
		err   error
		dir   string
		fs    *btest.FaultFS
	)
	switch {
	case mode.nodes != nil:
		opts.Alias = fmt.Sprintf("model-%d", seed)
		nodes = mode.nodes(t, opts)
		eng = nodes[0]
	case durable:
		dir, fs = t.TempDir(), &btest.FaultFS{}
		opts.SnapshotEvery = -1
		opts.Store = &store.Options{Sync: store.SyncAlways, FS: fs}
		eng, err = basket.Open(dir, opts)
	default:
		eng, err = basket.New(opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Odd seeds stage every batch's index changes in copies, beside the
	// readers; even ones make them in place, as batches of a few events
	// are made. Of a cluster's nodes, odd seeds stage every other one, so
	// that the nodes' checkpoints compare the two ways.
	staged := seed%2 == 1
	stage := func(e *basket.Engine) {
		if staged {
			basket.SetStageFrom(e, 1)
		}
	}
	if nodes == nil {
		stage(eng)
	}
	for i, nd := range nodes {
		if i%2 == 0 {
			stage(nd)
		}
	}
	if nodes == nil {
		defer func() { eng.Close() }()
	}
	o := newOracle(abandonAfter, ttl)
	o.lastPos = btest.Stats(t, eng).LastPosition // where the engine's positions start
	g := newGen(r)
	fail := func(format string, args ...any) bool {
		t.Errorf("seed %d (abandonAfter %v, ttl %v): %s", seed, abandonAfter, ttl, fmt.Sprintf(format, args...))
		return false
	}
	for step := range 60 {
		clock.Add(time.Duration(r.IntN(25)) * time.Minute)
		now := clock.Now()
		evs := make([]basket.Event, 1+r.IntN(4))
		invalid := make([]bool, len(evs))
		for i := range evs {
			evs[i], invalid[i] = g.event(now)
		}
		wantIdx, wantErr := o.apply(now.UnixMilli(), evs, invalid)
		var race sync.WaitGroup
		if durable {
			// A reader races the batch; it may make time-based changes.
			race.Go(func() {
				if r := seed + uint64(step); r%2 == 0 {
					eng.Feed(ctx, 0, 5) //nolint:errcheck // only its timing matters
				} else {
					eng.Get(ctx, "b-1") //nolint:errcheck // only its timing matters
				}
			})
		}
		writer := eng
		if nodes != nil {
			writer = nodes[step%len(nodes)]
		}
		res, err := writer.Apply(ctx, evs...)
		race.Wait()
		if !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
			return fail("step %d: Apply(%+v) = %v; want %v", step, evs, err, wantErr)
		}
		if err != nil {
			for _, s := range []error{basket.ErrInvalidEvent, basket.ErrUnknownBasket, basket.ErrConflict, basket.ErrCompleted, basket.ErrExpired} {
				if errors.Is(err, s) {
					seen[s.Error()]++
				}
			}
		} else {
			seen["ok"]++
		}
		if err != nil {
			var te *basket.TransitionError
			var ee *basket.EventError
			gotIdx := -2
			switch {
			case errors.As(err, &te):
				gotIdx = te.Index
			case errors.As(err, &ee):
				gotIdx = ee.Index
			}
			if gotIdx != wantIdx {
				return fail("step %d: Apply error %v at index %d; want index %d", step, err, gotIdx, wantIdx)
			}
		} else if res.Applied != len(evs) {
			return fail("step %d: Applied = %d; want %d", step, res.Applied, len(evs))
		}
		if err := eng.Check(); err != nil {
			return fail("step %d: invariants: %v", step, err)
		}

		if step%3 == 0 && !compareNodes(t, eng, nodes, o, r, now, seen, fail) {
			return false
		}
		if durable && r.IntN(15) == 0 {
			if err := eng.Snapshot(ctx); err != nil {
				return fail("step %d: Snapshot: %v", step, err)
			}
			seen["snapshot"]++
		}
		if durable && r.IntN(8) == 0 {
			ids := newGen(r).ids
			before := capture(t, eng, ids)
			linksBefore := links(t, eng, ids)
			if r.IntN(2) == 0 {
				if err := eng.Close(); err != nil {
					return fail("step %d: Close: %v", step, err)
				}
				seen["clean restart"]++
			} else {
				if err := fs.Crash(dir); err != nil { // the directory as a crash leaves it
					t.Fatal(err)
				}
				eng.Close() // only its descriptors: it writes nothing more
				seen["crash"]++
			}
			if eng, err = basket.Open(dir, opts); err != nil {
				return fail("step %d: Open after a restart: %v", step, err)
			}
			stage(eng)
			if err := eng.Check(); err != nil {
				return fail("step %d: invariants after a restart: %v", step, err)
			}
			if after := capture(t, eng, ids); !reflect.DeepEqual(after, before) {
				return fail("step %d: after a restart\n%+v\nwant\n%+v", step, after, before)
			}
			if after := links(t, eng, ids); !maps.Equal(after, linksBefore) {
				return fail("step %d: recovery links after a restart %v; want %v", step, after, linksBefore)
			}
		}
	}
	return compareNodes(t, eng, nodes, o, r, clock.Now(), seen, fail)
}

// compareNodes compares the engine, or every node of a cluster, with the
// oracle. A cluster's time moves with ticks in its log: one is made first,
// as a read of a lone engine makes it.
func compareNodes(t *testing.T, eng *basket.Engine, nodes []*basket.Engine, o *oracle, r *rand.Rand, now time.Time, seen map[string]int, fail func(string, ...any) bool) bool {
	t.Helper()
	if nodes == nil {
		return compareModel(t, eng, o, r, now, seen, fail)
	}
	if err := nodes[0].Sweep(context.Background()); err != nil {
		return fail("Sweep: %v", err)
	}
	for i, n := range nodes {
		if err := n.Check(); err != nil {
			return fail("node %d: invariants: %v", i, err)
		}
		if err := n.Health(context.Background()); err != nil {
			return fail("node %d: %v", i, err)
		}
		if !compareModel(t, n, o, r, now, seen, fail) {
			return fail("node %d disagrees", i)
		}
	}
	return true
}

// links returns the recovery link of every basket that has one.
func links(t *testing.T, eng *basket.Engine, ids []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, id := range ids {
		if b, ok := btest.Lookup(t, eng, id); ok && b.RecoveryLink != "" {
			m[id] = b.RecoveryLink
		}
	}
	return m
}

func compareModel(t *testing.T, eng *basket.Engine, o *oracle, r *rand.Rand, now time.Time, seen map[string]int, fail func(string, ...any) bool) bool {
	t.Helper()
	ctx := context.Background()
	o.maintain(now.UnixMilli())
	// Every basket, by id.
	for _, id := range newGen(r).ids {
		got, ok := btest.Lookup(t, eng, id)
		want := o.baskets[id]
		if ok != (want != nil) {
			return fail("Get(%s) found %v; want %v", id, ok, want != nil)
		}
		if !ok {
			continue
		}
		if got.State != want.state() || got.CustomerDetails != want.details ||
			!slices.Equal(got.Identities, want.identities) || !reflect.DeepEqual(got.OrderItems, want.items) ||
			got.LastActivity.UnixMilli() != want.lastAt || got.Created.UnixMilli() != want.created ||
			ms(got.RecoveredAt) != want.recoveredAt || ms(got.CompletedAt) != want.completedAt ||
			got.FeedPosition != want.pos || got.Abandoned != (want.pos != 0) ||
			(want.pos != 0 && got.AbandonedAt.UnixMilli() != want.abandonedAt) {
			return fail("Get(%s) = %+v; want %+v", id, got, *want)
		}
	}
	// Queries with random filters, walked to the end with random limits.
	for range 6 {
		q := basket.Query{Count: r.IntN(2) == 0}
		if r.IntN(2) == 0 {
			q.CreatedAfter = now.Add(-time.Duration(r.IntN(600)) * time.Minute)
		}
		if r.IntN(3) == 0 {
			q.CreatedBefore = now.Add(-time.Duration(r.IntN(300)) * time.Minute)
		}
		if r.IntN(4) == 0 {
			q.Email = newGen(r).email()
		}
		if r.IntN(3) == 0 {
			q.Tag = []string{"direct", "social", "none"}[r.IntN(3)]
		}
		want := o.query(q)
		var got []basket.Basket
		for pages := 0; ; pages++ {
			q.Limit = 1 + r.IntN(4)
			p, err := eng.Abandoned(ctx, q)
			if err != nil {
				return fail("Abandoned(%+v): %v", q, err)
			}
			if q.Count && p.Total != len(want) {
				return fail("Abandoned(%+v).Total = %d; want %d", q, p.Total, len(want))
			}
			if p.Alias != eng.Alias() {
				return fail("Alias = %q", p.Alias)
			}
			got = append(got, p.Items...)
			if p.Cursor != "" && len(got) >= len(want) {
				return fail("Abandoned(%+v) gave a cursor after %d of %d items", q, len(got), len(want))
			}
			if p.Cursor == "" {
				break
			}
			seen["paged"]++
			if r.IntN(2) == 0 { // continue with the cursor alone
				q = basket.Query{Count: q.Count}
			}
			q.Cursor = p.Cursor
		}
		if len(got) != len(want) {
			return fail("walk of %+v: %d items; want %d", q, len(got), len(want))
		}
		seen["abandoned"] += len(got)
		if q.Count {
			seen["counted"]++
		}
		for i := range got {
			if got[i].ID != want[i].id || got[i].RecoveryLink == "" {
				return fail("walk of %+v: item %d = %s; want %s", q, i, got[i].ID, want[i].id)
			}
		}
	}
	// The feed, from the start, in pages.
	want := o.feed()
	var got []basket.Basket
	var after uint64
	for {
		p, err := eng.Feed(ctx, after, 1+r.IntN(5))
		if err != nil {
			return fail("Feed(%d): %v", after, err)
		}
		if len(p.Items) == 0 {
			if p.Next != min(after, o.lastPos) {
				return fail("empty Feed(%d).Next = %d; want %d", after, p.Next, min(after, o.lastPos))
			}
			break
		}
		got = append(got, p.Items...)
		after = p.Next
	}
	if len(got) != len(want) {
		return fail("feed: %d items; want %d", len(got), len(want))
	}
	seen["fed"] += len(got)
	for i := range got {
		if got[i].ID != want[i].id || got[i].FeedPosition != want[i].pos || got[i].AbandonedAt.UnixMilli() != want[i].abandonedAt {
			return fail("feed item %d = %s@%d; want %s@%d", i, got[i].ID, got[i].FeedPosition, want[i].id, want[i].pos)
		}
	}
	return true
}
