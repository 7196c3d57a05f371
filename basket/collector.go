package basket

import (
	"math"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// A snapshot's records are all live once read: a collection while they
// are read finds nothing to free, and with the heap doubling from a few
// megabytes to gigabytes the collector marks what was read many times
// over, on the cores that read it. So the collector is off while a
// snapshot's records are read (collectorHold), and set back after: the
// first collection after the load marks them once, beside the traffic.
//
// The collector is the process's, so the hold is bounded. It lasts while
// the process's heap grows by no more than an allowance made for the
// snapshot; beyond that (another part of the process allocating fast, or
// records larger than the allowance supposed) the collector comes back
// for the rest of the load. A memory limit (GOMEMLIMIT) still holds
// throughout: with the collector off, it runs when the heap nears the
// limit. Loads in several engines at once share one hold; the last to end
// sets back the setting found by the first. A program that sets the
// collector's percentage while a load runs has it overwritten at the end.

// collector is the process's hold on its collector. Its mutex guards its
// fields; it is taken after any engine lock.
var collector struct {
	mu    sync.Mutex
	holds int  // loads in progress
	off   bool // whether the collector is off for them
	was   int  // the percentage found before the first, set back after
}

// heapObjects names the runtime's metric of the bytes of heap objects,
// live and not yet freed.
const heapObjects = "/memory/classes/heap/objects:bytes"

// collectorHold is one load's part in the hold.
type collectorHold struct {
	sample [1]metrics.Sample // heapObjects, read again at each check
	limit  uint64            // the heap's size beyond which the collector comes back
	ended  bool
}

// holdCollector turns the collector off, if no other load holds it, for a
// load expected to add allowance bytes to the heap. The caller ends the
// hold with end, and calls check as the load goes.
func holdCollector(allowance uint64) *collectorHold {
	h := &collectorHold{sample: [1]metrics.Sample{{Name: heapObjects}}}
	if heap, ok := h.heap(); ok {
		h.limit = heap + min(allowance, math.MaxUint64-heap)
	} // else the first check sets the collector back
	collector.mu.Lock()
	defer collector.mu.Unlock()
	if collector.holds == 0 {
		collector.was = debug.SetGCPercent(-1)
		collector.off = true
	}
	collector.holds++
	return h
}

// heap reads the heap's size, if the runtime has the metric.
func (h *collectorHold) heap() (uint64, bool) {
	metrics.Read(h.sample[:])
	if h.sample[0].Value.Kind() != metrics.KindUint64 {
		return 0, false
	}
	return h.sample[0].Value.Uint64(), true
}

// check turns the collector back on, for every load holding it, once the
// heap has grown past this load's allowance.
func (h *collectorHold) check() {
	if h.ended {
		return
	}
	if heap, ok := h.heap(); ok && heap <= h.limit {
		return
	}
	collector.mu.Lock()
	defer collector.mu.Unlock()
	if collector.off {
		debug.SetGCPercent(collector.was)
		collector.off = false
	}
}

// end ends h's part in the hold; the last to end sets the collector back.
// A second call does nothing.
func (h *collectorHold) end() {
	if h.ended {
		return
	}
	h.ended = true
	collector.mu.Lock()
	defer collector.mu.Unlock()
	collector.holds--
	if collector.holds == 0 && collector.off {
		debug.SetGCPercent(collector.was)
		collector.off = false
	}
}

// snapshotAllowance is what a load of n records from a payload of size
// bytes (0 if not known) may add to the heap before the collector comes
// back: what typical records take with room to spare, or one and a half
// times the payload (a record takes about a fifth more in the heap than
// in the payload), whichever is more, and room for the load's buffers.
func snapshotAllowance(n int, size int64) uint64 {
	const typical = 512 // bytes of heap a typical record takes (340), and more
	return 64<<20 + max(typical*uint64(max(n, 0)), uint64(max(size, 0))/2*3)
}
