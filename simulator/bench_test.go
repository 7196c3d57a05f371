package simulator

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// BenchmarkRun measures events generated and delivered per second: into an
// engine in process (generation and apply), into nothing (generation
// alone) and as JSON lines. Each iteration simulates one day of the
// default scenario (about 60,000 events). Besides wall-clock events/s, it
// reports events per second of the process's CPU time, steadier on a
// shared machine; run with -cpu 1 for one core.
func BenchmarkRun(b *testing.B) {
	sinks := []struct {
		name string
		make func(clock *Clock) (Sink, func())
	}{
		{"sink=engine", func(clock *Clock) (Sink, func()) {
			eng, err := basket.New(&basket.Options{Now: clock.Now})
			if err != nil {
				b.Fatal(err)
			}
			return EngineSink{Engine: eng}, func() { eng.Close() }
		}},
		{"sink=discard", func(*Clock) (Sink, func()) { return Discard, func() {} }},
		{"sink=jsonl", func(*Clock) (Sink, func()) { return NewJSONLSink(io.Discard), func() {} }},
	}
	for _, s := range sinks {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			var events int64
			var run time.Duration
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				sc := DefaultScenario()
				sc.Days = 1
				clock := NewClock(sc.Start)
				sink, done := s.make(clock)
				sim, err := New(&Options{Scenario: &sc, Seed: uint64(i), Clock: clock, Sink: sink})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				t0 := time.Now()
				rep, err := sim.Run(context.Background())
				run += time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				events += rep.Events
				b.StopTimer()
				done()
				b.StartTimer()
			}
			b.ReportMetric(float64(events)/run.Seconds(), "events/s")
			if cpu := cpuTime() - cpu0; cpu > 0 {
				b.ReportMetric(float64(events)/cpu.Seconds(), "events/cpu-s")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
		})
	}
}
