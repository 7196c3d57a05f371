package simulator

import (
	"context"
	"errors"

	"github.com/basketlab/abandoned/basket"
)

// Sink receives the simulated events.
type Sink interface {
	// Write takes a batch of events in time order; batches also come in
	// time order. The slice and the events' fields are the simulator's:
	// a sink must not modify them, nor keep the slice after Write
	// returns (the event payloads it points to are immutable and may be
	// kept).
	Write(ctx context.Context, events []basket.Event) error
	// Flush makes everything written so far visible at the destination.
	Flush(ctx context.Context) error
}

// EngineSink applies events to an engine in process. Give the engine the
// simulator's clock (basket.Options{Now: clock.Now}) so that it lives in
// simulated time.
type EngineSink struct {
	Engine *basket.Engine
}

// Write applies a batch atomically.
func (s EngineSink) Write(ctx context.Context, events []basket.Event) error {
	if _, err := s.Engine.Apply(ctx, events...); err != nil {
		return err
	}
	return nil
}

// Flush does nothing: Write has applied the events already.
func (s EngineSink) Flush(ctx context.Context) error { return ctx.Err() }

// Discard is a sink that drops every event.
var Discard Sink = discard{}

type discard struct{}

func (discard) Write(ctx context.Context, _ []basket.Event) error { return nil }
func (discard) Flush(ctx context.Context) error                   { return nil }

// Tee returns a sink that writes every batch to each of sinks in turn,
// stopping at the first error.
func Tee(sinks ...Sink) Sink { return tee(sinks) }

type tee []Sink

func (t tee) Write(ctx context.Context, events []basket.Event) error {
	for _, s := range t {
		if err := s.Write(ctx, events); err != nil {
			return err
		}
	}
	return nil
}

func (t tee) Flush(ctx context.Context) error {
	var errs []error
	for _, s := range t {
		errs = append(errs, s.Flush(ctx))
	}
	return errors.Join(errs...)
}
