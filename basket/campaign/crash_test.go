package campaign

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
)

// testSeed returns the seed of a randomized test: SEED from the
// environment to replay a run, else a new one; it is logged either way.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with SEED=%d)", seed, seed)
	return seed
}

// crashRun drives a durable runner over 80 hours of ten customers'
// baskets, crashing it at random passages of a crash point and reopening
// it on the same directory after each crash. It returns the last runner's
// report and the number of crashes.
func crashRun(t *testing.T, point string, snd Sender, seed uint64) (Report, int, []string) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 1))
	clock := btest.NewClock(t0)
	eng := btest.MustNewEngine(t, &basket.Options{Now: clock.Now})
	dir := t.TempDir()
	opts := &Options{Name: "crash", ShopURL: "https://shop.example.com"}
	var r *Runner
	countdown := 0
	open := func() {
		var err error
		r, err = Open(dir, EngineSource{eng}, snd, opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		countdown = 1 + rng.IntN(4)
		r.hook = func(p string) error {
			if p != point {
				return nil
			}
			if countdown--; countdown == 0 {
				return errCrash
			}
			return nil
		}
	}
	open()
	defer func() { r.Close() }()
	if _, err := r.Tick(ctx, clock.Now()); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 10 {
		id := fmt.Sprintf("b-%02d", i)
		ids = append(ids, id)
		at := clock.Now()
		if _, err := eng.Apply(ctx,
			basket.Event{Type: basket.EventCreated, BasketID: id, At: at, Entry: "/checkout",
				OrderItems: []basket.OrderItem{{Name: "Weekend", Path: "/offers/weekend"}}},
			basket.Event{Type: basket.EventEmailCaptured, BasketID: id, At: at, Email: fmt.Sprintf("c%d@example.com", i)},
		); err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Duration(rng.IntN(20)) * time.Minute)
	}
	crashes := 0
	for end := t0.Add(80 * time.Hour); clock.Now().Before(end); {
		clock.Add(5 * time.Minute)
		_, err := r.Tick(ctx, clock.Now())
		if errors.Is(err, errCrash) {
			crashes++
			r.Close() // the process is gone: only what was written remains
			open()
			continue
		}
		if err != nil {
			t.Fatalf("Tick: %v", err)
		}
	}
	return r.Report(), crashes, ids
}

// TestCrashSMTP crashes the runner between the intent and the send, at
// each of the three points, against a real SMTP server on loopback: after
// each restart no step reaches the server twice, and every step reaches
// it or, where the crash came after the point of no return, is reported in
// doubt.
func TestCrashSMTP(t *testing.T) {
	for _, point := range []string{"intent", "commit", "delivered"} {
		t.Run(point, func(t *testing.T) {
			s := newSMTPServer(t)
			snd := s.sender()
			rep, crashes, ids := crashRun(t, point, snd, testSeed(t))
			if crashes == 0 {
				t.Fatal("no crash happened")
			}
			doubt := map[string]bool{}
			for _, d := range rep.InDoubt {
				doubt[d.Key] = true
			}
			got := s.deliveries()
			delivered := 0
			for _, id := range ids {
				for step := 1; step <= 3; step++ {
					key := Key("crash", id, step)
					n := got[snd.MessageID(key)]
					delivered += n
					switch {
					case n > 1:
						t.Errorf("%s step %d delivered %d times", id, step, n)
					case n == 0 && !doubt[key]:
						t.Errorf("%s step %d skipped: not delivered, not reported in doubt", id, step)
					case point == "intent" && doubt[key]:
						t.Errorf("%s step %d in doubt after a crash before the point of no return", id, step)
					case point == "delivered" && n != 1:
						t.Errorf("%s step %d: the server had accepted it; delivered %d times", id, step, n)
					}
				}
			}
			if len(got) != delivered || int64(delivered) != rep.Total.Sent+int64(countDelivered(got, rep, snd)) {
				t.Errorf("server holds %d distinct messages, %d deliveries; report sent %d, in doubt %d",
					len(got), delivered, rep.Total.Sent, rep.Total.InDoubt)
			}
			if want := map[string]int{"intent": 0}[point]; point == "intent" && len(rep.InDoubt) != want {
				t.Errorf("in doubt %d; want %d", len(rep.InDoubt), want)
			}
			if point != "intent" && len(rep.InDoubt) != crashes {
				t.Errorf("in doubt %d after %d crashes past the point of no return; want one each", len(rep.InDoubt), crashes)
			}
			t.Logf("%d crashes at %q; %d delivered, %d in doubt", crashes, point, delivered, len(rep.InDoubt))
		})
	}
}

// countDelivered counts the messages in doubt that the server has.
func countDelivered(got map[string]int, rep Report, snd *SMTP) int {
	n := 0
	for _, d := range rep.InDoubt {
		n += got[snd.MessageID(d.Key)]
	}
	return n
}

// TestCrashOutbox: the outbox can tell, so a crash at any point leaves
// nothing in doubt and every message in the file once.
func TestCrashOutbox(t *testing.T) {
	for _, point := range []string{"intent", "commit", "delivered"} {
		t.Run(point, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.jsonl")
			ob, err := OpenOutbox(path)
			if err != nil {
				t.Fatal(err)
			}
			defer ob.Close()
			rep, crashes, ids := crashRun(t, point, ob, testSeed(t))
			if crashes == 0 || len(rep.InDoubt) != 0 {
				t.Fatalf("%d crashes, %d in doubt; want crashes and nothing in doubt", crashes, len(rep.InDoubt))
			}
			keys := outboxKeys(t, path)
			for _, id := range ids {
				for step := 1; step <= 3; step++ {
					if n := keys[Key("crash", id, step)]; n != 1 {
						t.Errorf("%s step %d in the outbox %d times; want 1", id, step, n)
					}
				}
			}
			if rep.Total.Sent != int64(len(ids)*3) {
				t.Errorf("report sent %d; want %d", rep.Total.Sent, len(ids)*3)
			}
		})
	}
}

func outboxKeys(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("outbox line %q: %v", sc.Text(), err)
		}
		keys[m.Key]++
	}
	return keys
}
