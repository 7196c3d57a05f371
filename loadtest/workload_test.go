package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/simulator"
)

func TestPack(t *testing.T) {
	// A week of simulated events, erasures included.
	sc := simulator.DefaultScenario()
	sc.Days, sc.Rate = 7, 40
	sc.Erasure.Share = 0.2
	var sink collectSink
	sink.max = math.MaxInt
	sim, err := simulator.New(&simulator.Options{Scenario: &sc, Seed: 3, Sink: &sink})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	events := sink.events
	for _, size := range []int{1, 7, 100, 1000} {
		t.Run("size="+itoa(size), func(t *testing.T) {
			batches, dropped := pack(events, size)
			erasures := 0
			perBasket := map[string][]basket.Event{}
			for _, ev := range events {
				if ev.BasketID == "" {
					erasures++
					continue
				}
				perBasket[ev.BasketID] = append(perBasket[ev.BasketID], ev)
			}
			if erasures == 0 || dropped != erasures {
				t.Errorf("dropped %d; want the %d erasures (and some)", dropped, erasures)
			}
			seenIn := map[string]int{}
			total := 0
			for i, b := range batches {
				if b.Len != len(b.Events) || b.Len == 0 {
					t.Fatalf("batch %d: Len %d, %d events", i, b.Len, len(b.Events))
				}
				total += b.Len
				ids := map[string]bool{}
				for _, ev := range b.Events {
					ids[ev.BasketID] = true
				}
				if b.Len > size && len(ids) != 1 {
					t.Errorf("batch %d: %d events over %d, from %d baskets; only one basket's may exceed", i, b.Len, size, len(ids))
				}
				for id := range ids {
					if j, ok := seenIn[id]; ok {
						t.Errorf("basket %s in batches %d and %d; want whole baskets", id, j, i)
					}
					seenIn[id] = i
				}
			}
			if total != len(events)-erasures {
				t.Errorf("%d events packed; want %d", total, len(events)-erasures)
			}
			// Each basket's events keep their order.
			for id, want := range perBasket {
				b := batches[seenIn[id]]
				var got []basket.Event
				for _, ev := range b.Events {
					if ev.BasketID == id {
						got = append(got, ev)
					}
				}
				if len(got) != len(want) {
					t.Fatalf("basket %s: %d events packed; want %d", id, len(got), len(want))
				}
				for k := range got {
					if got[k].Type != want[k].Type || !got[k].At.Equal(want[k].At) {
						t.Fatalf("basket %s: event %d is %s at %v; want %s at %v", id, k, got[k].Type, got[k].At, want[k].Type, want[k].At)
					}
				}
			}
			if size >= 7 {
				full := 0
				for _, b := range batches {
					if b.Len == size {
						full++
					}
				}
				if full < (len(batches)-1)*9/10 {
					t.Errorf("%d of %d batches full; want nearly all", full, len(batches))
				}
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestBatchesApply applies every batch of a workload, out of order and then
// recycled, to an engine: no error.
func TestBatchesApply(t *testing.T) {
	for _, ndjson := range []bool{false, true} {
		w, err := NewWorkload(t.Context(), &WorkloadOptions{Seed: 5, IngestEvents: 3000, BatchSize: 250, NDJSON: ndjson})
		if err != nil {
			t.Fatal(err)
		}
		n, events := w.Batches()
		if n == 0 || events == 0 || events > 3000 {
			t.Fatalf("Batches() = %d, %d; want some, at most 3000 events", n, events)
		}
		if ndjson {
			// The NDJSON holds one event per line, and the renamed copy
			// renames every basket id.
			b := w.batches[0]
			r := b.renamed(3)
			lines := 0
			sc := bufio.NewScanner(bytes.NewReader(r.NDJSON))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var ev basket.Event
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(ev.BasketID, "c3-basket-") {
					t.Errorf("renamed basket id %q; want the prefix c3-", ev.BasketID)
				}
				lines++
			}
			if lines != b.Len || r.Len != b.Len {
				t.Errorf("renamed NDJSON: %d lines, Len %d; want %d", lines, r.Len, b.Len)
			}
			continue
		}
		eng, err := basket.New(&basket.Options{TTL: basket.NoExpiry})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		tgt := EngineTarget{eng}
		for i := n - 1; i >= 0; i-- { // backwards: batches do not depend on each other
			if err := tgt.Ingest(t.Context(), &w.batches[i]); err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
		}
		created := mustStats(t, eng)
		for range 2 * n {
			b, _ := w.batch()
			if err := tgt.Ingest(t.Context(), b); err != nil {
				t.Fatalf("recycled batch: %v", err)
			}
		}
		after := mustStats(t, eng)
		if got, want := after.Open+after.Contactable+after.Completed, created.Open+created.Contactable+created.Completed; got != 2*want {
			t.Errorf("%d baskets after a second pass of renamed batches; want %d, twice the first", got, 2*want)
		}
		if err := eng.Check(); err != nil {
			t.Error(err)
		}
		if err := tgt.Ingest(t.Context(), &Batch{NDJSON: []byte("{}"), Len: 1}); err == nil {
			t.Error("the engine target took NDJSON")
		}
	}
}

func TestParseMix(t *testing.T) {
	tests := []struct {
		in   string
		want Mix
	}{
		{"query=80,feed=10,ingest=5,walk=5", Mix{KindIngest: 5, KindQuery: 80, KindWalk: 5, KindFeed: 10}},
		{"ingest=1", Mix{KindIngest: 1}},
		{" walk=0.5 , query=2", Mix{KindQuery: 2, KindWalk: 0.5}},
	}
	for _, tt := range tests {
		got, err := ParseMix(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseMix(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if back, err := ParseMix(got.String()); err != nil || back != got {
			t.Errorf("ParseMix(%q) = %v, %v; want %v", got.String(), back, err, got)
		}
	}
	for _, in := range []string{"", "query", "query=", "query=-1", "query=x", "query=1,query=2", "search=1", "query=0", "query=NaN", "query=1e10"} {
		if m, err := ParseMix(in); err == nil {
			t.Errorf("ParseMix(%q) = %v; want an error", in, m)
		}
	}
}

func TestMixPick(t *testing.T) {
	m := Mix{KindIngest: 1, KindQuery: 2, KindFeed: 1}
	var counts [numKinds]int
	for n := range uint64(40000) {
		counts[m.pick(draw(9, n, 0))]++
	}
	for k, w := range m {
		want := 40000 * w / 4
		if math.Abs(float64(counts[k])-want) > 600 {
			t.Errorf("%s picked %d times of 40000; want about %.0f", Kind(k), counts[k], want)
		}
	}
}

func TestErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&StatusError{Code: 503}, "HTTP 503"},
		{contextDeadline(), "timeout"},
		{&basket.TransitionError{Err: basket.ErrConflict}, "engine: basket already created with different content"},
		{errors.New("x"), "other"},
	}
	for _, tt := range tests {
		if got := ErrorKind(tt.err); got != tt.want {
			t.Errorf("ErrorKind(%v) = %q; want %q", tt.err, got, tt.want)
		}
	}
}

func contextDeadline() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	return ctx.Err()
}

func TestHTTPTargetLoopbackOnly(t *testing.T) {
	for _, u := range []string{"http://10.1.2.3:8080", "http://example.com", "https://192.168.0.1"} {
		if _, err := NewHTTPTarget(u, nil); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("NewHTTPTarget(%q) error %v; want ErrNotLoopback", u, err)
		}
		if _, err := NewHTTPTarget(u, &HTTPOptions{AllowRemote: true}); err != nil {
			t.Errorf("NewHTTPTarget(%q, AllowRemote) error %v", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:1", "http://localhost:8080/", "http://[::1]:80", "http://127.9.9.9"} {
		if _, err := NewHTTPTarget(u, nil); err != nil {
			t.Errorf("NewHTTPTarget(%q) error %v", u, err)
		}
	}
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://127.0.0.1", "http://"} {
		if _, err := NewHTTPTarget(u, &HTTPOptions{AllowRemote: true}); err == nil {
			t.Errorf("NewHTTPTarget(%q) = nil error; want one", u)
		}
	}
}

func TestScan(t *testing.T) {
	page := []byte(`{"items":[{"id":"a","customFields":{"note":"\"recoveryLink\":"},"recoveryLink":"/r?x"},{"id":"b","recoveryLink":"/r?y"}],"queryMore":{"from":"abc_-12","alias":"x"}}`)
	if n, c := scanPage(page); n != 2 || c != "abc_-12" {
		t.Errorf("scanPage = %d, %q; want 2, abc_-12", n, c)
	}
	if n, c := scanPage([]byte(`{"items":[]}`)); n != 0 || c != "" {
		t.Errorf("scanPage(empty) = %d, %q", n, c)
	}
	if n, next, ok := scanFeed([]byte(`{"items":[{"recoveryLink":"/r"}],"next":"42"}`)); n != 1 || next != 42 || !ok {
		t.Errorf("scanFeed = %d, %d, %v; want 1, 42, true", n, next, ok)
	}
	long := append(bytes.Repeat([]byte(`{"recoveryLink":"/r"},`), 200), `{"recoveryLink":"/r"}],"queryMore":{"from":"c1","alias":""}}`...)
	if n, c := scanPage(append([]byte(`{"items":[`), long...)); n != 201 || c != "c1" {
		t.Errorf("scanPage(long) = %d, %q; want 201, c1", n, c)
	}
	if _, _, ok := scanFeed([]byte(`{"items":[]}`)); ok {
		t.Error("scanFeed without next: ok")
	}
}
