package simulator

import (
	"context"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// Paced returns a sink that passes each batch to sink once the wall clock
// reaches the time of the batch's last event, so that a simulation whose
// Start is now plays in real time, live, into an engine or a server on the
// wall clock. Use it with a small Options.MaxBatchSpan (a second, say) so
// that events are not held back long.
func Paced(sink Sink) Sink { return paced{sink: sink, now: time.Now} }

type paced struct {
	sink Sink
	now  func() time.Time
}

func (p paced) Write(ctx context.Context, events []basket.Event) error {
	if len(events) == 0 {
		return nil
	}
	if d := events[len(events)-1].At.Sub(p.now()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return p.sink.Write(ctx, events)
}

func (p paced) Flush(ctx context.Context) error { return p.sink.Flush(ctx) }
