package simulator

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// big returns n, or small under the race detector or -short.
func big(n, small int) int {
	if raceEnabled || testing.Short() {
		return small
	}
	return n
}

// recorder is a sink that keeps every event and checks that each is valid
// and that they come in time order.
type recorder struct {
	events []basket.Event
	last   time.Time
	err    error
}

func (r *recorder) Write(ctx context.Context, events []basket.Event) error {
	for i := range events {
		ev := events[i]
		if err := ev.Validate(); err != nil && r.err == nil {
			r.err = fmt.Errorf("event %d (%s %s): %v", len(r.events), ev.Type, ev.BasketID, err)
		}
		if ev.At.Before(r.last) && r.err == nil {
			r.err = fmt.Errorf("event %d at %v comes after one at %v", len(r.events), ev.At, r.last)
		}
		r.last = ev.At
		r.events = append(r.events, ev)
	}
	return nil
}

func (r *recorder) Flush(ctx context.Context) error { return nil }

// run plays a scenario into an engine on the simulator's clock, teeing the
// events to extra sinks, and checks the engine's invariants.
func runEngine(t testing.TB, sc Scenario, seed uint64, opts *Options, extra ...Sink) (*Report, *basket.Engine) {
	t.Helper()
	clock := NewClock(sc.Start)
	eng, err := basket.New(&basket.Options{Now: clock.Now, RecoverySecrets: [][]byte{[]byte("simulator-test-secret-0123456789")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := eng.Check(); err != nil {
			t.Errorf("engine invariants: %v", err)
		}
		eng.Close()
	})
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Scenario, o.Seed, o.Clock = &sc, seed, clock
	o.Sink = Tee(append([]Sink{EngineSink{Engine: eng}}, extra...)...)
	if o.Campaign != nil && o.Recoverer == nil {
		o.Recoverer = eng
	}
	if c, ok := o.Campaign.(interface{ use(*basket.Engine) }); ok {
		c.use(eng)
	}
	sim, err := New(&o)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := sim.Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	rep.AddEngine(mustStats(t, eng))
	return rep, eng
}

// generate plays a scenario into JSON lines and returns them.
func generate(t testing.TB, sc Scenario, seed uint64) []byte {
	t.Helper()
	var buf bytes.Buffer
	sim, err := New(&Options{Scenario: &sc, Seed: seed, Sink: NewJSONLSink(&buf)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return buf.Bytes()
}

// abandonedSet pages through every abandoned basket of an engine and
// returns one line per basket: id, email, offer, tag.
func abandonedSet(t testing.TB, eng *basket.Engine) []string {
	t.Helper()
	var out []string
	q := basket.Query{Limit: basket.MaxLimit}
	for {
		p, err := eng.Abandoned(context.Background(), q)
		if err != nil {
			t.Fatalf("Abandoned: %v", err)
		}
		for _, b := range p.Items {
			offers := make([]string, len(b.OrderItems))
			for i, it := range b.OrderItems {
				offers[i] = it.Path
			}
			out = append(out, strings.Join([]string{b.ID, b.CustomerDetails.Email, strings.Join(offers, "+"), b.Tag(),
				b.Created.Format(time.RFC3339Nano)}, " "))
		}
		if p.Cursor == "" {
			break
		}
		q.Cursor = p.Cursor
	}
	slices.Sort(out)
	return out
}

// diffSets describes how two sorted sets differ, briefly.
func diffSets(a, b []string) string {
	ma := map[string]bool{}
	for _, s := range a {
		ma[s] = true
	}
	mb := map[string]bool{}
	for _, s := range b {
		mb[s] = true
	}
	var onlyA, onlyB []string
	for _, s := range a {
		if !mb[s] {
			onlyA = append(onlyA, s)
		}
	}
	for _, s := range b {
		if !ma[s] {
			onlyB = append(onlyB, s)
		}
	}
	return fmt.Sprintf("%d vs %d baskets; only in the first: %d %.3q; only in the second: %d %.3q",
		len(a), len(b), len(onlyA), onlyA, len(onlyB), onlyB)
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
