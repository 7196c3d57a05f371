package campaign

import (
	"context"
	"testing"
	"time"
)

// doubtSender takes nothing and says every message may have been
// delivered, with no way to tell (as SMTP after the final dot).
type doubtSender struct{}

func (doubtSender) Send(_ context.Context, _ *Message, commit func() error) error {
	if err := commit(); err != nil {
		return err
	}
	return &SendError{"test", "data", ErrInDoubt}
}

func (doubtSender) Resolve(context.Context, *Message, bool) (Resolution, error) { return Unknown, nil }

// TestInDoubtKeptAndResolved: a message in doubt stays in the report after
// its basket is settled and forgotten, across a restart, until an
// operator resolves it.
func TestInDoubtKeptAndResolved(t *testing.T) {
	f := newFixture(t, nil, nil)
	dir := t.TempDir()
	opts := &Options{ShopURL: "shop.example.com", Steps: []time.Duration{time.Hour}}
	r, err := Open(dir, EngineSource{f.eng}, doubtSender{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	f.tick()
	f.basket("b-1", "ann@example.com", nil)
	f.run(2*time.Hour, 10*time.Minute)
	f.complete("b-1")
	f.run(2*time.Hour, 10*time.Minute) // settled: the basket is forgotten
	key := Key(DefaultName, "b-1", 1)
	if rep := r.Report(); rep.Watched != 0 || len(rep.InDoubt) != 1 || rep.InDoubt[0].Key != key || rep.Total.InDoubt != 1 {
		t.Fatalf("after settling: watched %d, in doubt %v (%d); want b-1 forgotten and its step 1 listed", rep.Watched, rep.InDoubt, rep.Total.InDoubt)
	}
	r.Close()
	if r, err = Open(dir, EngineSource{f.eng}, doubtSender{}, opts); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.ResolveInDoubt(t.Context(), "c1-nope", true); err == nil {
		t.Error("ResolveInDoubt of an unknown key = nil; want an error")
	}
	if err := r.ResolveInDoubt(t.Context(), key, true); err != nil {
		t.Fatal(err)
	}
	if rep := r.Report(); len(rep.InDoubt) != 0 || rep.Total.InDoubt != 0 || rep.Total.Sent != 1 {
		t.Errorf("resolved as delivered: in doubt %v (%d), sent %d; want none in doubt, 1 sent", rep.InDoubt, rep.Total.InDoubt, rep.Total.Sent)
	}
}
