package basket

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// scanned returns how many bytes scanValue reads of b for one value, or -1
// with its error.
func scanned(b []byte) (int, error) {
	n := 0
	err := scanValue(func(k int) []byte {
		if k < 0 || n+k > len(b) {
			return nil
		}
		n += k
		return b[n-k : n]
	}, maxScanDepth)
	if err != nil {
		return -1, err
	}
	return n, nil
}

// skipped returns how many bytes msgpack's own decoder reads of b when it
// skips one value, or -1 if it fails.
func skipped(b []byte) int {
	r := bytes.NewReader(b)
	if err := msgpack.NewDecoder(r).Skip(); err != nil {
		return -1
	}
	return len(b) - r.Len()
}

// randomValue returns a value of every kind msgpack writes: integers of
// each width, floats, strings and binaries of each length form, times (an
// extension), and arrays and maps, small and of the 16-bit forms.
func randomValue(rng *rand.Rand, depth int) any {
	switch k := rng.IntN(14); {
	case k == 0:
		return nil
	case k == 1:
		return rng.IntN(2) == 0
	case k == 2:
		return int64(rng.Uint64()) >> rng.IntN(64)
	case k == 3:
		return rng.Uint64() >> rng.IntN(64)
	case k == 4:
		return rng.Float64()
	case k == 5:
		return float32(rng.Float64())
	case k == 6:
		return strings.Repeat("s", []int{0, 5, 31, 32, 255, 256, 66_000}[rng.IntN(7)])
	case k == 7:
		return bytes.Repeat([]byte{7}, []int{0, 3, 255, 256, 70_000}[rng.IntN(5)])
	case k == 8:
		return time.Unix(rng.Int64N(1e10), rng.Int64N(1e9))
	case depth == 0:
		return "leaf"
	case k <= 10:
		n := []int{0, 1, 15, 16, 70}[rng.IntN(5)]
		a := make([]any, n)
		for i := range a {
			a[i] = randomValue(rng, depth-1)
		}
		return a
	default:
		n := []int{0, 1, 15, 16, 20}[rng.IntN(5)]
		m := make(map[string]any, n)
		for i := range n {
			m[strings.Repeat("k", i+1)] = randomValue(rng, depth-1)
		}
		return m
	}
}

// TestScanValueAgreesWithMsgpack checks the scanner against msgpack's own
// encoder and decoder: it reads exactly the bytes of each encoded value,
// as msgpack's Skip does, and refuses every cut of one.
func TestScanValueAgreesWithMsgpack(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 9))
	for i := range 300 {
		v := randomValue(rng, 2+i%2)
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		tail := append(append([]byte(nil), b...), 0xc0, 0x01) // what follows is not read
		if n, err := scanned(tail); n != len(b) || err != nil {
			t.Fatalf("value %d (%T): scanned %d bytes of %d: %v", i, v, n, len(b), err)
		}
		if n := skipped(tail); n != len(b) {
			t.Fatalf("value %d: msgpack skipped %d bytes of %d", i, n, len(b))
		}
		for _, cut := range []int{0, len(b) / 3, len(b) / 2, len(b) - 1} {
			if _, err := scanned(b[:cut]); err == nil || checkMsg(b[:cut], maxScanDepth) == nil {
				t.Fatalf("value %d cut at %d of %d: scanned it", i, cut, len(b))
			}
		}
	}
}

// FuzzScanValue compares the scanner with msgpack's Skip on any input:
// where one reads a value, the other reads the same bytes. A value nested
// deeper than the scanner allows is the one difference.
func FuzzScanValue(f *testing.F) {
	for _, s := range []string{"\x91\x01", "\xdd\xff\xff\xff\xff\x01", "\x82\xa1a\xc0\xa1b\x93\x01\x02\x03",
		"\xc7\x02\x05ab", "\xd6\xff\x00\x00\x00\x01", "\xc1", "\xdb\x00\x00\x00\x02ab", "\xdf\x00\x00\x00\x01\x01"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := scanned(b)
		m := skipped(b)
		if err != nil && strings.Contains(err.Error(), "nested") {
			return
		}
		if n != m {
			t.Fatalf("scanned %d bytes (%v); msgpack skipped %d", n, err, m)
		}
	})
}

// TestScanValueDepth checks the bound on nesting: arrays nested as deep as
// the scanner allows are read, one more is refused.
func TestScanValueDepth(t *testing.T) {
	deep := func(n int) []byte { return append(bytes.Repeat([]byte{0x91}, n), 0x01) }
	if n, err := scanned(deep(maxScanDepth)); err != nil || n != maxScanDepth+1 {
		t.Fatalf("%d nested arrays: %d, %v; want them read", maxScanDepth, n, err)
	}
	if _, err := scanned(deep(maxScanDepth + 1)); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Fatalf("%d nested arrays: %v; want refused as too deep", maxScanDepth+1, err)
	}
}

// TestSnapshotHugeCount loads a snapshot whose custom field claims an
// array of 2³²−1 values: the load fails, having allocated nothing like
// the 64 GiB msgpack's decoder would have made room for.
func TestSnapshotHugeCount(t *testing.T) {
	e, err := New(&Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Apply(context.Background(), Event{Type: EventCreated, BasketID: "b", At: time.Now(),
		CustomFields: map[string]any{"k": []any{"zz"}}}); err != nil {
		t.Fatal(err)
	}
	snap := snapshotOf(t, e)
	arr := []byte("\x91\xa2zz")
	if bytes.Count(snap, arr) != 1 {
		t.Fatalf("the custom field's array is not in the snapshot once")
	}
	bad := bytes.Replace(snap, arr, []byte("\xdd\xff\xff\xff\xff\xa2zz"), 1)
	e2, err := New(&Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = e2.loadSnapshot(bytes.NewReader(bad))
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("a snapshot with a count past its end loaded")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Fatalf("loading it allocated %d MiB", grew>>20)
	}
	// The intact snapshot loads, with its custom field.
	e3, err := New(&Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e3.Close()
	if err := e3.loadSnapshot(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if r := e3.recs.get("b"); r == nil || r.x == nil || len(r.x.customFields["k"].([]any)) != 1 {
		t.Fatalf("the custom field did not load back")
	}
}

// TestLogRecordEmptyEvents decodes a log record of a million events that
// are each one byte (nil, or an empty map): it is refused, having
// allocated a small part of the 288 MiB that a slice of a million events
// takes; a record of real events decodes whole.
func TestLogRecordEmptyEvents(t *testing.T) {
	for name, one := range map[string]byte{"nil": 0xc0, "empty map": 0x80} {
		const n = 1 << 20
		b := []byte{0x92, 0x01, 0xdd, n >> 24, n >> 16 & 0xff, n >> 8 & 0xff, n & 0xff} // [1, array32 of n...]
		b = append(b, bytes.Repeat([]byte{one}, n)...)
		if err := checkMsg(b, maxScanDepth); err != nil {
			t.Fatalf("%s: the record is not well formed msgpack: %v", name, err)
		}
		var rec walRecord
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := msgpack.Unmarshal(b, &rec)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "event 0 of 1048576 has no type or no time") {
			t.Errorf("%s: decoding = %v; want event 0 refused", name, err)
		}
		// The process's count: other goroutines' allocations may add a
		// little to the decoder's, far below the 288 MiB of a slice.
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
			t.Errorf("%s: decoding allocated %d MiB", name, grew>>20)
		}
	}
	at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	want := walRecord{Now: 7, Seq: 3, Events: []Event{
		{Type: EventCreated, BasketID: "b", At: at, OrderItems: []OrderItem{{Name: "n", Path: "/p"}}},
		{Type: EventEmailCaptured, BasketID: "b", At: at, Email: "a@example.com"},
	}}
	b, err := msgpack.Marshal(&want)
	if err != nil {
		t.Fatal(err)
	}
	var got walRecord
	if err := msgpack.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Now != 7 || got.Seq != 3 || len(got.Events) != 2 || got.Events[1].Email != "a@example.com" ||
		!got.Events[0].At.Equal(at) || got.Events[0].OrderItems[0].Path != "/p" {
		t.Fatalf("decoded %+v; want %+v", got, want)
	}
}

// TestCustomFieldDepth checks the bound Validate puts on a custom field's
// nesting, and that a basket at the bound is read back from a snapshot and
// from the log.
func TestCustomFieldDepth(t *testing.T) {
	nested := func(n int) any {
		var v any = "leaf"
		for range n {
			v = []any{v}
		}
		return v
	}
	ev := func(id string, depth int) Event {
		return Event{Type: EventCreated, BasketID: id, At: time.Now(), CustomFields: map[string]any{"deep": nested(depth)}}
	}
	tooDeep := ev("b", MaxValueDepth+1)
	var ee *EventError
	if err := tooDeep.Validate(); !errors.As(err, &ee) || ee.Field != "customFields" || !strings.Contains(ee.Reason, "deep") {
		t.Fatalf("Validate of a field nested %d deep = %v; want an EventError naming customFields", MaxValueDepth+1, err)
	}
	erased := Event{Type: EventErased, Email: "a@example.com", At: time.Now(), CustomFields: tooDeep.CustomFields}
	if err := erased.Validate(); err == nil {
		t.Fatal("an erased event with a field too deep passed")
	}
	// Nesting only the encoder sees: in a map's keys, and in a struct
	// embedded unexported, whose fields msgpack inlines.
	var key any = "k"
	for range MaxValueDepth + 1 {
		key = [1]any{key}
	}
	type inner struct{ X any }
	type outer struct{ inner }
	for name, v := range map[string]any{"a map key": map[any]any{key: 1}, "an embedded struct": outer{inner{nested(MaxValueDepth + 1)}}} {
		ev := Event{Type: EventCreated, BasketID: "b", At: time.Now(), CustomFields: map[string]any{"f": v}}
		if err := ev.Validate(); err == nil {
			t.Errorf("a field nested too deep in %s passed", name)
		}
	}
	dir := t.TempDir()
	e, err := Open(dir, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Apply(context.Background(), ev("b", MaxValueDepth)); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for _, snapshot := range []bool{false, true} {
		e, err := Open(dir, &Options{})
		if err != nil {
			t.Fatalf("reopening (snapshot %v): %v", snapshot, err)
		}
		if _, err := e.Get(context.Background(), "b"); err != nil {
			t.Fatalf("reopened (snapshot %v): %v", snapshot, err)
		}
		if !snapshot {
			if err := e.Snapshot(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
