package basket

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestHealthTakesNoLock: with the engine's lock held for writing (as a
// writer or a snapshot's switch holds it), Health answers, and Sweep does
// too when nothing is due; both would block if they took the lock.
func TestHealthTakesNoLock(t *testing.T) {
	e, err := New(&Options{RecoverySecrets: [][]byte{[]byte("test-secret-0123456789abcdef")}, AbandonAfter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	e.mu.Lock()
	done := make(chan error, 2)
	go func() { done <- e.Health(ctx) }()
	go func() { done <- e.Sweep(ctx) }()
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Health or Sweep with nothing due = %v; want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Health or Sweep waited for the write lock")
		}
	}
	e.mu.Unlock()
	e.Close()
	if err := e.Health(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Health after Close = %v; want ErrClosed", err)
	}
	if err := e.Sweep(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sweep after Close = %v; want ErrClosed", err)
	}
}
