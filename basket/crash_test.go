package basket_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/basket/internal/btest"
	"github.com/basketlab/abandoned/basket/store"
)

var crashRuns = flag.Int("crash.runs", 50, "how many times TestCrash kills a writer")

const crashDirEnv = "BASKET_CRASH_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		os.Exit(crashChild(dir, os.Getenv("BASKET_CRASH_RUN")))
	}
	if dir := os.Getenv(startupDirEnv); dir != "" {
		os.Exit(startupChild(dir))
	}
	code := m.Run()
	// Last first: an engine is closed before its directory is removed.
	for i := len(afterTests) - 1; i >= 0; i-- {
		afterTests[i]()
	}
	os.Exit(code)
}

// afterTests are what TestMain does once the tests and benchmarks have
// run: it closes what they built once for the whole run.
var afterTests []func()

var crashBase = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// crashBatch is the batch of one basket: three events, so that a half batch
// would show as a basket without its email or items.
func crashBatch(id string, i int) []basket.Event {
	at := crashBase.Add(time.Duration(i) * time.Millisecond)
	return []basket.Event{
		{Type: basket.EventCreated, BasketID: id, At: at, Tracking: map[string]string{"tag": "crash"}},
		{Type: basket.EventEmailCaptured, BasketID: id, At: at, Email: id + "@example.com"},
		{Type: basket.EventItemsChanged, BasketID: id, At: at, OrderItems: []basket.OrderItem{{Name: "Digital", Path: "/offers/digital"}}},
	}
}

// crashChild ingests batches under fsync=always from several goroutines and
// prints "ack <id>" for each acknowledged one, until it is killed (or, to
// stay bounded, for ten seconds).
func crashChild(dir, run string) int {
	eng, err := basket.Open(dir, &basket.Options{TTL: basket.NoExpiry, SnapshotEvery: 32 << 10,
		Store: &store.Options{Sync: store.SyncAlways}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 3
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	deadline := time.Now().Add(10 * time.Second)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				id := fmt.Sprintf("r%s-g%d-%05d", run, g, i)
				if _, err := eng.Apply(context.Background(), crashBatch(id, i)...); err != nil {
					fmt.Fprintln(os.Stderr, "apply:", err)
					os.Exit(4)
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %s\n", id)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	eng.Close()
	return 0
}

// TestCrash kills a writer with SIGKILL at random moments, many times over
// one data directory, and checks after each kill that every acknowledged
// batch is there, that no batch is half there, and that the queries agree
// with what is there.
func TestCrash(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	acked := map[string]bool{}
	var torn, snapshots int
	for run := range *crashRuns {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, fmt.Sprintf("BASKET_CRASH_RUN=%d", run))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		kill := time.After(time.Hour) // armed at the first ack
		first := true
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				if id, ok := strings.CutPrefix(l, "ack "); ok {
					acked[id] = true
				}
				if first {
					first = false
					kill = time.After(time.Duration(r.IntN(60)) * time.Millisecond)
				}
			case <-kill:
				cmd.Process.Kill()
				kill = nil
			}
		}
		cmd.Wait() //nolint:errcheck // killed on purpose
		if first {
			t.Fatalf("run %d: the writer acknowledged nothing: %s", run, stderr.String())
		}
		rep := checkCrash(t, dir, run, acked)
		if rep.TornTail {
			torn++
		}
		if rep.Snapshot != "" {
			snapshots++
		}
	}
	t.Logf("%d runs, %d batches acknowledged; %d starts cut a torn tail, %d loaded a snapshot", *crashRuns, len(acked), torn, snapshots)
}

func checkCrash(t *testing.T, dir string, run int, acked map[string]bool) store.Report {
	t.Helper()
	eng, err := basket.Open(dir, &basket.Options{TTL: basket.NoExpiry, SnapshotEvery: -1})
	if err != nil {
		t.Fatalf("run %d: Open after kill: %v", run, err)
	}
	defer eng.Close()
	if err := eng.Check(); err != nil {
		t.Fatalf("run %d: invariants: %v", run, err)
	}
	for id := range acked {
		b, ok := btest.Lookup(t, eng, id)
		if !ok {
			t.Fatalf("run %d: acknowledged batch %s lost (%+v)", run, id, eng.StorageReport())
		}
		if b.CustomerDetails.Email == "" || len(b.OrderItems) != 1 {
			t.Fatalf("run %d: batch %s half applied: %+v", run, id, b)
		}
	}
	// Everything there is whole, and the queries show exactly it.
	ids := abandonedIDs(t, eng, basket.Query{Limit: 1000})
	if len(ids) < len(acked) {
		t.Fatalf("run %d: %d abandoned; want at least the %d acknowledged", run, len(ids), len(acked))
	}
	var want []string
	for _, id := range ids {
		b, _ := btest.Lookup(t, eng, id)
		if b.CustomerDetails.Email == "" || len(b.OrderItems) != 1 {
			t.Fatalf("run %d: basket %s half applied: %+v", run, id, b)
		}
		want = append(want, id)
	}
	slices.SortFunc(want, func(a, b string) int {
		ba, _ := btest.Lookup(t, eng, a)
		bb, _ := btest.Lookup(t, eng, b)
		if c := ba.Created.Compare(bb.Created); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	if !slices.Equal(ids, want) {
		t.Fatalf("run %d: query order differs from (created, id) order", run)
	}
	if st := btest.Stats(t, eng); st.Contactable != len(ids) || st.Abandoned != len(ids) || st.Open != 0 {
		t.Fatalf("run %d: Stats = %+v; want %d contactable and abandoned, none open", run, st, len(ids))
	}
	return eng.StorageReport()
}
