package simulator

import (
	"bytes"
	"crypto/sha256"
	"reflect"
	"runtime"
	"testing"
)

// TestDeterministic checks that one seed gives the same bytes, whatever
// GOMAXPROCS, and that another seed gives others.
func TestDeterministic(t *testing.T) {
	sc := DefaultScenario()
	sc.Days = 2
	sc.Rate = float64(big(500, 200))
	prev := runtime.GOMAXPROCS(1)
	a := generate(t, sc, 42)
	runtime.GOMAXPROCS(max(4, prev))
	b := generate(t, sc, 42)
	runtime.GOMAXPROCS(prev)
	c := generate(t, sc, 43)
	if len(a) == 0 {
		t.Fatal("no events generated")
	}
	if !bytes.Equal(a, b) {
		i := 0
		for i < len(a) && i < len(b) && a[i] == b[i] {
			i++
		}
		t.Fatalf("seed 42 gave %d and %d bytes (sha256 %x, %x), first difference at byte %d",
			len(a), len(b), sha256.Sum256(a), sha256.Sum256(b), i)
	}
	if bytes.Equal(a, c) {
		t.Fatal("seeds 42 and 43 gave the same events")
	}
}

// TestDeterministicWithCampaign checks determinism when a campaign sends
// reminders that customers click, through the engine.
func TestDeterministicWithCampaign(t *testing.T) {
	sc := DefaultScenario()
	sc.Days = 2
	sc.Rate = float64(big(300, 100))
	sc.ControlShare = 0.1
	run := func() ([]byte, *Report) {
		var buf bytes.Buffer
		jl := NewJSONLSink(&buf)
		rep, _ := runEngine(t, sc, 9, &Options{Campaign: &testCampaign{steps: []int64{3600e3}}}, jl)
		return buf.Bytes(), rep
	}
	a, ra := run()
	b, rb := run()
	if !bytes.Equal(a, b) {
		t.Fatalf("two runs with a campaign differ: sha256 %x vs %x", sha256.Sum256(a), sha256.Sum256(b))
	}
	if !reflect.DeepEqual(ra, rb) {
		t.Fatalf("two runs with a campaign report differently:\n%+v\n%+v", *ra.Campaign, *rb.Campaign)
	}
	if ra.Campaign.Clicked == 0 {
		t.Fatal("no reminder was clicked; the test proves nothing")
	}
	if !bytes.Contains(a, []byte(`"type":"recovered"`)) {
		t.Fatal("the stream has no recovered event")
	}
}
