package basket

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// snapshotOf returns a snapshot payload of e.
func snapshotOf(t testing.TB, e *Engine) []byte {
	t.Helper()
	e.mu.Lock()
	v := e.freeze()
	e.mu.Unlock()
	var buf bytes.Buffer
	if err := v.write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// variedEngine returns an engine of n baskets drawn from many shapes (items,
// tracking, identities, entries, names and custom fields mixed at random),
// so that a snapshot's sections repeat, but not always from the basket
// before.
func variedEngine(t testing.TB, seed uint64, n int) (*Engine, *Options) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	now := t0
	opts := &Options{TTL: NoExpiry, RecoverySecrets: [][]byte{[]byte("0123456789abcdef0123456789abcdef")},
		Now: func() time.Time { return now }}
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	offers := [][]OrderItem{nil,
		{{Name: "Digital", Path: "/offers/digital"}},
		{{Name: "Print", Path: "/offers/print", Products: []Product{{Path: "/p/print", ProductCode: "SKU-P"}}}},
		{{Name: "Both", Path: "/offers/both", Products: []Product{{Path: "/p/a", ProductCode: "A"}, {Path: "/p/b", ProductCode: "B"}}},
			{Name: "Gift", Path: "/offers/gift"}},
		{{Name: strings.Repeat("long ", 120), Path: "/offers/long"}}, // a section too long to keep
	}
	trackings := []map[string]string{nil, {"tag": "direct"}, {"tag": "social"},
		{"tag": "web", "utm_source": "news", "utm_medium": "email"}, {"utm_campaign": "spring"}}
	entries := []string{"", "/checkout", "/checkout/weekend"}
	issuers := []string{"https://a.example", "https://b.example"}
	ctx := context.Background()
	for i := range n {
		now = t0.Add(time.Duration(i) * time.Second)
		id := fmt.Sprintf("b-%05d", i)
		evs := []Event{{Type: EventCreated, BasketID: id, At: now, Entry: entries[r.IntN(len(entries))],
			OrderItems: offers[r.IntN(len(offers))], Tracking: trackings[r.IntN(len(trackings))]}}
		if r.IntN(5) == 0 {
			evs[0].CustomFields = map[string]any{"plan": "annual", "seats": int64(r.IntN(9)), "flags": map[string]any{"b": true, "a": "x"}}
		}
		cd := &CustomerDetails{Email: fmt.Sprintf("user%d@example.com", r.IntN(n/3+1))}
		if r.IntN(2) == 0 {
			cd.FirstName = "Ann"
		}
		if r.IntN(4) == 0 {
			cd.CompanyName = "Example Ltd"
		}
		for k := range r.IntN(3) {
			evs = append(evs, Event{Type: EventIdentified, BasketID: id, At: now,
				Identity:        &Identity{Sub: fmt.Sprintf("sub-%d-%d", i, k), Iss: issuers[r.IntN(len(issuers))], Service: "sso", Type: "account"},
				CustomerDetails: cd})
		}
		if len(evs) == 1 && r.IntN(2) == 0 {
			evs = append(evs, Event{Type: EventEmailCaptured, BasketID: id, At: now, Email: cd.Email})
		}
		if r.IntN(6) == 0 {
			evs = append(evs, Event{Type: EventCompleted, BasketID: id, At: now})
		}
		if _, err := e.Apply(ctx, evs...); err != nil {
			t.Fatalf("basket %d: %v", i, err)
		}
	}
	return e, opts
}

// TestSnapshotReadBack loads a snapshot of varied baskets through readers
// that hand over all, half or one byte at a time (so that values and the
// sections a decoder keeps cross the refills of its window), and writes
// each engine's snapshot again: byte for byte the one it was loaded from.
func TestSnapshotReadBack(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	e, opts := variedEngine(t, seed, 3000)
	want := snapshotOf(t, e)
	for _, tc := range []struct {
		name string
		r    func([]byte) io.Reader
	}{
		{"whole", func(b []byte) io.Reader { return bytes.NewReader(b) }},
		{"halves", func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
		{"bytes", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e2, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := e2.loadSnapshot(tc.r(want)); err != nil {
				t.Fatal(err)
			}
			if err := e2.Check(); err != nil {
				t.Fatal(err)
			}
			if got := snapshotOf(t, e2); !bytes.Equal(got, want) {
				i := 0
				for i < len(got) && i < len(want) && got[i] == want[i] {
					i++
				}
				t.Fatalf("the loaded engine's snapshot differs from byte %d (of %d, %d)", i, len(got), len(want))
			}
		})
	}
}

// TestSnapshotCut: a snapshot cut short anywhere is an error, never a
// panic, and leaves no basket half filed.
func TestSnapshotCut(t *testing.T) {
	e, opts := variedEngine(t, 1, 40)
	snap := snapshotOf(t, e)
	for n := 0; n < len(snap); n += 1 + n/50 {
		e2, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := e2.loadSnapshot(bytes.NewReader(snap[:n])); err == nil {
			t.Fatalf("a snapshot cut at %d of %d bytes loaded", n, len(snap))
		}
	}
}

// FuzzLoadSnapshot: any payload loads or is refused with an error; one
// that loads passes the engine's invariants.
func FuzzLoadSnapshot(f *testing.F) {
	e, opts := variedEngine(f, 2, 12)
	f.Add(snapshotOf(f, e))
	e0, err := New(opts)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(snapshotOf(f, e0))
	f.Fuzz(func(t *testing.T, b []byte) {
		e2, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := e2.loadSnapshot(bytes.NewReader(b)); err != nil {
			return
		}
		if err := e2.Check(); err != nil {
			t.Fatalf("a snapshot that loads breaks the invariants: %v", err)
		}
	})
}

// TestMsgReader reads random msgpack values, written by msgpack's own
// encoder, through a window fed one byte or a few at a time, with a
// reflective decoder reading every few values from the same window: the
// same values, and the end of the data is io.ErrUnexpectedEOF.
func TestMsgReader(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 9))
	type val struct {
		kind int // 0 int, 1 bool, 2 string, 3 array header, 4 map header, 5 nil, 6 reflective map
		i    int64
		s    string
		m    map[string]any
	}
	var vals []val
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	ints := []int64{0, 1, 127, 128, 255, 256, 65535, 65536, 1 << 31, 1<<32 + 5, -1, -32, -33, -128, -129, -32768, -32769, -1 << 40, 1<<63 - 1, -1 << 63}
	for range 3000 {
		v := val{kind: r.IntN(7)}
		switch v.kind {
		case 0:
			v.i = ints[r.IntN(len(ints))]
			if r.IntN(2) == 0 {
				enc.EncodeInt(v.i) //nolint:errcheck // a bytes.Buffer
			} else {
				enc.EncodeInt64(v.i) //nolint:errcheck // a bytes.Buffer
			}
		case 1:
			v.i = int64(r.IntN(2))
			enc.EncodeBool(v.i == 1) //nolint:errcheck // a bytes.Buffer
		case 2:
			v.s = strings.Repeat("x", []int{0, 1, 31, 32, 255, 256, 70000}[r.IntN(7)])
			enc.EncodeString(v.s) //nolint:errcheck // a bytes.Buffer
		case 3, 4:
			v.i = int64([]int{0, 15, 16, 65535, 65536}[r.IntN(5)])
			if v.kind == 3 {
				enc.EncodeArrayLen(int(v.i)) //nolint:errcheck // a bytes.Buffer
			} else {
				enc.EncodeMapLen(int(v.i)) //nolint:errcheck // a bytes.Buffer
			}
		case 5:
			enc.EncodeNil() //nolint:errcheck // a bytes.Buffer
		case 6:
			v.m = map[string]any{"a": int8(1), "b": "two"}
			enc.Encode(v.m) //nolint:errcheck // a bytes.Buffer
		}
		vals = append(vals, v)
	}
	data := buf.Bytes()
	for name, src := range map[string]io.Reader{
		"whole": bytes.NewReader(data),
		"bytes": iotest.OneByteReader(bytes.NewReader(data)),
		"half":  iotest.HalfReader(bytes.NewReader(data)),
	} {
		m := newMsgReader(src)
		dec := msgpack.NewDecoder(&m)
		for i, v := range vals {
			var ok bool
			switch v.kind {
			case 0:
				ok = m.int() == v.i
			case 1:
				ok = m.bool() == (v.i == 1)
			case 2:
				ok = string(m.strBytes()) == v.s
			case 3:
				ok = m.arrayLen() == int(v.i)
			case 4:
				ok = m.mapLen() == int(v.i)
			case 5:
				ok = m.peek() == 0xc0 && m.arrayLen() == -1
			case 6:
				var got map[string]any
				ok = dec.Decode(&got) == nil && fmt.Sprint(got) == fmt.Sprint(v.m)
			}
			if !ok || m.err != nil {
				t.Fatalf("%s: value %d (kind %d) read wrong; err %v", name, i, v.kind, m.err)
			}
		}
		if m.int(); m.err != io.ErrUnexpectedEOF {
			t.Fatalf("%s: a read past the end: %v; want io.ErrUnexpectedEOF", name, m.err)
		}
	}
}

// TestTxnSpaceKeepsNothing: the space the applier reuses for a batch's
// touched baskets holds no id or record after the batch, also after a
// batch that outgrew it.
func TestTxnSpaceKeepsNothing(t *testing.T) {
	e, err := New(&Options{TTL: NoExpiry, RecoverySecrets: [][]byte{[]byte("0123456789abcdef0123456789abcdef")}})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	batch := func(n int) {
		evs := make([]Event, n)
		for i := range evs {
			evs[i] = Event{Type: EventCreated, BasketID: fmt.Sprintf("b-%d-%d", n, i), At: at}
		}
		if _, err := e.Apply(context.Background(), evs...); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []int{1000, maxKeptTxn + 1000, 10} {
		batch(n)
		for i, w := range e.txnEnts[:cap(e.txnEnts)] {
			if w != (went{}) {
				t.Fatalf("after a batch of %d, entry %d of the space keeps %+v", n, i, w)
			}
		}
	}
}

// TestTakeLink: a cached link of a snapshot of format 4 is taken back with
// its key and MAC; one whose key is past the keyring is dropped (issued
// afresh when needed); one of another length, or without its expiry, or
// an expiry without one, is refused, naming the basket.
func TestTakeLink(t *testing.T) {
	e, err := New(&Options{TTL: NoExpiry, RecoverySecrets: [][]byte{[]byte("0123456789abcdef0123456789abcdef")}})
	if err != nil {
		t.Fatal(err)
	}
	mac := bytes.Repeat([]byte{7}, tokenMACLen)
	link := append([]byte{0}, mac...)
	for _, tc := range []struct {
		name    string
		exp     uint32
		b       []byte
		wantExp uint32 // 0: no link kept
		wantErr bool
	}{
		{"none", 0, nil, 0, false},
		{"kept", 99, link, 99, false},
		{"key past the keyring", 99, append([]byte{1}, mac...), 0, false},
		{"short", 99, link[:linkBytes-1], 0, true},
		{"long", 99, append(link, 0), 0, true},
		{"no expiry", 0, link, 0, true},
		{"no MAC", 99, nil, 0, true},
	} {
		r := &record{id: "b-1", linkExp: tc.exp}
		err := e.takeLink(r, tc.b)
		switch {
		case tc.wantErr:
			if err == nil || !strings.Contains(err.Error(), `"b-1"`) {
				t.Errorf("%s: takeLink = %v; want an error naming b-1", tc.name, err)
			}
			continue
		case err != nil:
			t.Errorf("%s: takeLink: %v", tc.name, err)
		case r.linkExp != tc.wantExp:
			t.Errorf("%s: expiry %d; want %d", tc.name, r.linkExp, tc.wantExp)
		case tc.wantExp != 0 && (r.linkKey != 0 || !bytes.Equal(r.linkMAC[:], mac)):
			t.Errorf("%s: key %d, MAC %x; want 0, %x", tc.name, r.linkKey, r.linkMAC, mac)
		}
	}
}

// TestSnapshotSizesAddressIndex: a snapshot says how many of its baskets
// have an address, and the loader makes the address index for them, so
// that no shard of it grows while the baskets are filed (before format 4
// it was made for half of them, and every shard grew once when all had
// one). With 200 addresses a shard, a shard made for them has 512 slots
// and never grows; made for half, it has 256, and grows to 512 only if it
// takes more than 192, which some shards do not.
func TestSnapshotSizesAddressIndex(t *testing.T) {
	const n = 200 * handleShards
	e, err := New(&Options{TTL: NoExpiry})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	var evs []Event
	for i := range n {
		id := fmt.Sprintf("b-%05d", i)
		evs = append(evs, Event{Type: EventCreated, BasketID: id, At: t0}, Event{Type: EventEmailCaptured, BasketID: id, At: t0, Email: id + "@example.com"})
		if len(evs) == 2000 || i == n-1 {
			if _, err := e.Apply(ctx, evs...); err != nil {
				t.Fatal(err)
			}
			evs = evs[:0]
		}
	}
	snap := snapshotOf(t, e)
	e2, err := New(&Options{TTL: NoExpiry})
	if err != nil {
		t.Fatal(err)
	}
	if err := e2.loadSnapshot(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if e2.byEmail.n != n {
		t.Fatalf("the address index holds %d baskets; want %d", e2.byEmail.n, n)
	}
	want := len(newHandleTable(n).shards[0].slots)
	for i := range e2.byEmail.one.shards {
		if got := len(e2.byEmail.one.shards[i].slots); got != want {
			t.Fatalf("shard %d of the address index has %d slots; want %d, as made for %d addresses", i, got, want, n)
		}
	}
	if err := e2.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotAddressCountChecked: a snapshot whose count of baskets with
// an address is not what its records hold is refused, saying both.
func TestSnapshotAddressCountChecked(t *testing.T) {
	e, opts := variedEngine(t, 3, 200)
	for _, delta := range []int{-1, 1, 1 << 40} {
		e.mu.Lock()
		v := e.freeze()
		e.mu.Unlock()
		v.addresses += delta
		var buf bytes.Buffer
		if err := v.write(&buf); err != nil {
			t.Fatal(err)
		}
		e2, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		err = e2.loadSnapshot(bytes.NewReader(buf.Bytes()))
		if want := fmt.Sprintf("announces %d baskets with an address and holds %d", e.byEmail.n+delta, e.byEmail.n); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a count off by %d: %v; want an error saying %q", delta, err, want)
		}
	}
}

// TestSnapshotFeedOutOfOrder loads snapshots whose baskets became
// abandoned in another order than they were created (some were active
// later, and waited longer): the feed's entries that come out of order are
// filed after the rest, set one by one when they are few (one basket near
// the end abandoned late) or all sorted again when they are many (a third
// of them active later), and the feed reads as it did.
func TestSnapshotFeedOutOfOrder(t *testing.T) {
	for _, c := range []struct {
		name      string
		later     func(r *rand.Rand, i int) bool
		minLate   int
		fewerThan int
	}{
		{"a third later", func(r *rand.Rand, _ int) bool { return r.IntN(3) == 0 }, 1000, 3000},
		{"one near the end", func(_ *rand.Rand, i int) bool { return i == 2899 }, 100, 3000 / 16},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, 9))
			t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
			now := t0
			opts := &Options{TTL: NoExpiry, AbandonAfter: time.Hour, RecoverySecrets: [][]byte{[]byte("0123456789abcdef0123456789abcdef")},
				Now: func() time.Time { return now }}
			e, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for i := range 3000 {
				at := t0.Add(time.Duration(i) * time.Second)
				id := fmt.Sprintf("b-%05d", i)
				evs := []Event{
					{Type: EventCreated, BasketID: id, At: at, OrderItems: []OrderItem{{Name: "x", Path: "/x"}}},
					{Type: EventEmailCaptured, BasketID: id, At: at, Email: id + "@example.com"},
				}
				if c.later(r, i) { // active again later: abandoned later
					evs = append(evs, Event{Type: EventItemsChanged, BasketID: id, At: at.Add(time.Duration(3600+r.IntN(3600)) * time.Second),
						OrderItems: []OrderItem{{Name: "y", Path: "/y"}}})
				}
				if _, err := e.Apply(ctx, evs...); err != nil {
					t.Fatal(err)
				}
			}
			now = t0.Add(10 * time.Hour)
			feedOf := func(e *Engine) []string {
				var out []string
				for after := uint64(0); ; {
					p, err := e.Feed(ctx, after, 500)
					if err != nil {
						t.Fatal(err)
					}
					if len(p.Items) == 0 {
						return out
					}
					for _, b := range p.Items {
						out = append(out, fmt.Sprintf("%d %s", b.FeedPosition, b.ID))
					}
					after = p.Next
				}
			}
			want := feedOf(e)
			if len(want) != 3000 {
				t.Fatalf("%d baskets in the feed; want 3000", len(want))
			}
			// The snapshot's records, in created order, have feed
			// positions out of order: as many as the case is for.
			late := 0
			var last uint64
			e.created.each(func(a aentry) bool {
				if p := e.recs.slots.get(a.h).feedPos; p < last {
					late++
				} else {
					last = p
				}
				return true
			})
			if late < c.minLate || late >= c.fewerThan {
				t.Fatalf("%d entries come late; the case wants %d to %d", late, c.minLate, c.fewerThan-1)
			}
			e2, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := e2.loadSnapshot(bytes.NewReader(snapshotOf(t, e))); err != nil {
				t.Fatal(err)
			}
			if err := e2.Check(); err != nil {
				t.Fatal(err)
			}
			if got := feedOf(e2); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("the loaded feed differs: %d items, want %d", len(got), len(want))
			}
		})
	}
}

// TestFileLateFeedDuplicate: two entries at one feed position are an
// error, whether the late entries are few (set one by one) or many (sorted
// with the rest).
func TestFileLateFeedDuplicate(t *testing.T) {
	for _, late := range [][]fentry{
		{{pos: 51, h: 9}},                  // few: set one by one
		{{pos: 30, h: 9}, {pos: 30, h: 8}}, // few, and the two late ones at one position
		{{pos: 7, h: 9}, {pos: 60, h: 8}, {pos: 3, h: 7}, {pos: 20, h: 6}, {pos: 9, h: 5}, {pos: 11, h: 4}, {pos: 13, h: 3}}, // many, dense
		{{pos: 9000, h: 9}, {pos: 5000, h: 8}, {pos: 1000, h: 7}, {pos: 1000, h: 6}},                                         // many, sparse: sorted
		{{pos: 9000, h: 9}, {pos: 5000, h: 8}, {pos: 99, h: 7}, {pos: 2000, h: 6}},                                           // many, sparse, one at a filed position
	} {
		e, err := New(nil)
		if err != nil {
			t.Fatal(err)
		}
		for p := uint64(1); p <= 100; p += 2 { // 1, 3, ... 99: 50 entries
			e.feed.Load(fentry{p, handle(p)})
		}
		if err := e.fileLateFeed(late); err == nil || !strings.Contains(err.Error(), "two baskets at feed position") {
			t.Errorf("fileLateFeed(%v) = %v; want an error about two baskets at one position", late, err)
		}
		e.Close()
	}
}

// TestFileLateFeed compares fileLateFeed with a sort of the entries, for
// positions dense enough to be placed (up to twice as many positions as
// entries) and too sparse, with the entries filed before in order and the
// late ones in any order.
func TestFileLateFeed(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, spread := range []int{1, 2, 3, 10} {
		for _, n := range []int{2, 17, 1000, 5000} {
			// n positions, spread apart by 1 to spread, each taken once.
			pos := make([]uint64, n)
			p := uint64(1 + r.IntN(50))
			for i := range pos {
				pos[i] = p
				p += uint64(1 + r.IntN(spread))
			}
			onTime := n / (2 + r.IntN(8)) // in order, filed before; the rest late, shuffled
			e, err := New(nil)
			if err != nil {
				t.Fatal(err)
			}
			var want []fentry
			for i, p := range pos {
				f := fentry{p, handle(1000 + i)}
				want = append(want, f)
				if i < onTime {
					e.feed.Load(f)
				}
			}
			late := slices.Clone(want[onTime:])
			r.Shuffle(len(late), func(i, j int) { late[i], late[j] = late[j], late[i] })
			if err := e.fileLateFeed(late); err != nil {
				t.Fatalf("spread %d, n %d: %v", spread, n, err)
			}
			var got []fentry
			e.feed.Scan(func(f fentry) bool { got = append(got, f); return true })
			if !slices.Equal(got, want) {
				t.Fatalf("spread %d, n %d (%d filed before): the feed holds %d entries, not as sorted (%d)", spread, n, onTime, len(got), len(want))
			}
			e.Close()
		}
	}
}

// TestSnapshotNamesTooLong: a snapshot's record whose first and last names
// together are over 65,535 bytes (no event's can be) is refused, naming
// the basket, not taken to lengths that wrap.
func TestSnapshotNamesTooLong(t *testing.T) {
	e, opts := variedEngine(t, 1, 10)
	e.mu.Lock()
	r := e.recs.get("b-00003")
	r.ext().names = strings.Repeat("a", 80_000)
	r.x.firstLen, r.x.lastLen = 40_000, 40_000
	e.mu.Unlock()
	payload := snapshotOf(t, e)
	e2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := e2.loadSnapshot(bytes.NewReader(payload)); err == nil || !strings.Contains(err.Error(), `"b-00003" with a first and last name of 80000 bytes`) {
		t.Fatalf("loadSnapshot = %v; want an error naming the basket and its names' length", err)
	}
}

// TestSortByPos compares sortByPos with a comparison sort, on positions
// small, wide, with ties (kept in their order) and at the extremes.
func TestSortByPos(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	for _, c := range []struct {
		name string
		gen  func() uint64
	}{
		{"small", func() uint64 { return r.Uint64N(100) }},
		{"a million", func() uint64 { return r.Uint64N(1e6) }},
		{"wide", func() uint64 { return r.Uint64() }},
		{"extremes", func() uint64 { return [...]uint64{0, 1, 1<<64 - 1, 1 << 63, 1<<11 - 1, 1 << 11}[r.IntN(6)] }},
	} {
		for _, n := range []int{0, 1, 2, 100, 5000} {
			fs := make([]fentry, n)
			for i := range fs {
				fs[i] = fentry{c.gen(), handle(i)}
			}
			want := slices.Clone(fs)
			slices.SortStableFunc(want, func(a, b fentry) int { return cmp.Compare(a.pos, b.pos) })
			if got := sortByPos(slices.Clone(fs)); !slices.Equal(got, want) {
				t.Fatalf("%s n=%d: sortByPos differs from a stable sort", c.name, n)
			}
		}
	}
}
