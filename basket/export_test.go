package basket

import "time"

// SetStageFrom makes e stage every batch that touches at least n baskets
// (n = 1: every batch) in copies of the indexes, beside its readers, for
// tests of both ways of committing.
func SetStageFrom(e *Engine, n int) {
	e.amu.Lock()
	defer e.amu.Unlock()
	e.stageFrom = n
}

// SetStaging makes e call fn in the midst of each staged batch (and of
// staged promotions and expiries), its index changes made in copies and
// not yet installed, with the engine's lock held for reading.
func SetStaging(e *Engine, fn func()) {
	e.amu.Lock()
	defer e.amu.Unlock()
	e.staging = fn
}

// SetCommitted makes e call fn with each batch's commit time, the hold of
// its write lock; nil stops it.
func SetCommitted(e *Engine, fn func(time.Duration)) {
	e.amu.Lock()
	defer e.amu.Unlock()
	e.committed = fn
}

// SetDrained makes e's Snapshot call fn between its drain of the log and
// its freeze, with no lock held.
func SetDrained(e *Engine, fn func()) {
	e.snapMu.Lock()
	defer e.snapMu.Unlock()
	e.drained = fn
}
