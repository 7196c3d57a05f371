package simulator

// stepKind is what a queued step does.
type stepKind uint8

// The kinds of steps. A journey's planned checkout steps are ordered by
// kind when they fall on the same millisecond, so the order here matters
// from kindContact to kindLeave.
const (
	kindArrival  stepKind = iota + 1 // a new basket; schedules the next arrival
	kindTick                         // the campaign's turn
	kindContact                      // SSO login or email typed
	kindItems                        // the offer changed
	kindDetails                      // name typed
	kindComplete                     // order placed
	kindLeave                        // the customer left without an order
	kindReturn                       // an abandoner comes back on their own
	kindErase                        // right-to-erasure request
	kindOpen                         // a reminder is opened
	kindClick                        // a reminder's link is clicked
	kindBuy                          // an order after a reminder's click
)

// step is something that happens at a moment of virtual time to a journey
// (and, for a reminder, a delivery). Steps at the same moment run in the
// order they were queued.
type step struct {
	at   int64 // unix ms
	j    *journey
	d    *delivery
	kind stepKind
}

// entry is a step in the heap. It holds no pointer (the step's journey
// and delivery wait in the queue's slab), so that moving entries costs no
// write barrier.
type entry struct {
	at   int64  // unix ms
	seq  uint64 // queue order, the tie-break
	slot uint32 // the step's journey and delivery in refs
	kind stepKind
}

func (a *entry) before(b *entry) bool {
	return a.at < b.at || a.at == b.at && a.seq < b.seq
}

type ref struct {
	j *journey
	d *delivery
}

// queue is a 4-ary min-heap of steps by (at, seq).
type queue struct {
	h    []entry
	refs []ref
	free []uint32 // free slots of refs
	seq  uint64
	live int // steps other than ticks
}

func (q *queue) len() int { return len(q.h) }

// peek returns the time of the first step; the queue must not be empty.
func (q *queue) peek() int64 { return q.h[0].at }

func (q *queue) push(s step) {
	q.seq++
	e := entry{at: s.at, seq: q.seq, kind: s.kind}
	if s.j != nil || s.d != nil {
		if n := len(q.free); n > 0 {
			e.slot = q.free[n-1]
			q.free = q.free[:n-1]
			q.refs[e.slot] = ref{s.j, s.d}
		} else {
			e.slot = uint32(len(q.refs))
			q.refs = append(q.refs, ref{s.j, s.d})
		}
		e.slot++ // 0: no reference
	}
	if s.kind != kindTick {
		q.live++
	}
	h := append(q.h, e)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 4
		if !e.before(&h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
	q.h = h
}

func (q *queue) pop() step {
	h := q.h
	top := h[0]
	n := len(h) - 1
	last := h[n]
	h = h[:n]
	i := 0
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < c+4 && k < n; k++ {
			if h[k].before(&h[m]) {
				m = k
			}
		}
		if !h[m].before(&last) {
			break
		}
		h[i] = h[m]
		i = m
	}
	if n > 0 {
		h[i] = last
	}
	q.h = h
	s := step{at: top.at, kind: top.kind}
	if top.slot != 0 {
		r := &q.refs[top.slot-1]
		s.j, s.d = r.j, r.d
		*r = ref{}
		q.free = append(q.free, top.slot-1)
	}
	if top.kind != kindTick {
		q.live--
	}
	return s
}
