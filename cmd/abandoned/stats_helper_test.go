package main

import (
	"context"
	"testing"

	"github.com/basketlab/abandoned/basket"
)

// mustStats returns the engine's counts; an error fails the test.
func mustStats(t testing.TB, eng *basket.Engine) basket.Stats {
	t.Helper()
	s, err := eng.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return s
}
