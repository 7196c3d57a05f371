package simulator

import (
	"strconv"

	"github.com/basketlab/abandoned/basket"
)

// customer is a simulated person. Their attributes come from their own
// random stream, so they do not depend on when they first appear.
type customer struct {
	n        uint64
	email    string // the customer's own spelling
	sso      bool   // logs in with SSO rather than checking out anonymously
	control  bool   // in the control group: reminders to them are withheld
	device   uint8  // the device they mostly use
	erasures uint32 // erasure requests so far

	// Events point to these; they are never modified once made.
	identity basket.Identity        // SSO identity, if sso
	details  basket.CustomerDetails // email and name, as claims or as typed
}

// newCustomer makes customer number n.
func (s *Simulator) newCustomer(n uint64) *customer {
	r := newRNG(s.seed, streamCustomer, n)
	m := s.m
	first := firstNames[r.intn(len(firstNames))]
	last := lastNames[r.intn(len(lastNames))]
	domain := m.domains[r.intn(len(m.domains))]
	c := &customer{n: n}
	c.sso = r.chance(m.sso)
	c.control = r.chance(m.control)
	c.device = uint8(r.pick(m.deviceCum))
	var buf [160]byte
	b := buf[:0]
	caps := r.chance(0.1) // some type their name capitalised; emails compare case-folded
	b = appendName(b, first.mail, caps)
	b = append(b, '.')
	b = appendName(b, last.mail, caps)
	b = append(b, '.')
	b = strconv.AppendUint(b, n+1, 10)
	b = append(b, '@')
	b = append(b, domain...)
	c.email = string(b)
	c.details = basket.CustomerDetails{Email: c.email, FirstName: first.display, LastName: last.display}
	if c.sso {
		b = append(buf[:0], "acct-"...)
		b = strconv.AppendUint(b, r.uint64()>>1, 36)
		c.identity = basket.Identity{Sub: string(b), Iss: m.iss, Service: m.service, Type: m.idType}
	}
	return c
}

func appendName(b []byte, s string, caps bool) []byte {
	if caps && s != "" && 'a' <= s[0] && s[0] <= 'z' {
		return append(append(b, s[0]-'a'+'A'), s[1:]...)
	}
	return append(b, s...)
}

// Journey flags.
const (
	jComplete    uint16 = 1 << iota // the checkout session ends with an order
	jReturnNew                      // a returning customer's new basket
	jContactable                    // has an email or an identity
	jEmail                          // has an email (erasure reaches it)
	jDetails                        // the customer typed a name
	jCompleted                      // order placed
	jAbandoned                      // the session ended without an order
	jAbandonedC                     // ... while contactable
	jReturned                       // the customer came back on their own
	jRecovered                      // bought after a reminder's click
	jOver                           // nothing more happens to the basket
)

// planned is a step of a checkout session.
type planned struct {
	at   int64
	kind stepKind
}

// journey is one basket and the customer's path through its checkout.
type journey struct {
	rng        rng
	id         string
	cust       *customer
	created    int64 // unix ms
	offer      int32 // the offer in the basket now
	device     uint8
	tag        uint8
	reason     int8 // abandonment reason, -1 if none
	flags      uint16
	emailEpoch uint32   // the customer's erasures when the basket got its email
	reminders  uint32   // reminders received
	from       *journey // for a returning customer's new basket, the one they left

	plan  [5]planned
	nPlan uint8
	next  uint8
}

func (j *journey) has(f uint16) bool { return j.flags&f != 0 }

// erased reports whether an erasure request has removed the basket.
func (j *journey) erased() bool { return j.has(jEmail) && j.cust.erasures > j.emailEpoch }

// guardMS keeps events an hour away from a basket's expiry, so that an
// event never races the engine's clock to it.
const guardMS = msPerHour

// alive reports whether the basket can take an event at time at.
func (s *Simulator) alive(j *journey, at int64) bool {
	switch {
	case j.has(jCompleted | jOver), j.erased():
		return false
	case s.m.ttl > 0 && at >= j.created+s.m.ttl-guardMS:
		return false
	}
	return true
}

// basketID returns a basket id in the form of the hosted API's, from the
// journey's stream.
func basketID(r *rng) string {
	const hex = "0123456789abcdef"
	var b [43]byte
	copy(b[:], "basket-")
	a, c := r.uint64(), r.uint64()
	// A version 4 UUID layout: 8-4-4-4-12.
	a = a&^(0xf<<12) | 0x4<<12
	c = c&^(0x3<<62) | 0x2<<62
	var u [16]byte
	for i := range 8 {
		u[i] = byte(a >> (56 - 8*i))
		u[8+i] = byte(c >> (56 - 8*i))
	}
	p := 7
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[p] = '-'
			p++
		}
		b[p], b[p+1] = hex[x>>4], hex[x&15]
		p += 2
	}
	return string(b[:])
}

// startJourney creates a basket at time at for customer c: it emits the
// created event and plans the checkout session. For a returning customer's
// new basket (from != nil) the offer is the one they left and the session
// ends with an order.
func (s *Simulator) startJourney(at int64, c *customer, from *journey) *journey {
	m := s.m
	k := s.nJourneys
	s.nJourneys++
	j := &journey{cust: c, created: at, reason: -1}
	j.rng.seed(s.seed, streamJourney, k)
	r := &j.rng
	j.id = basketID(r)
	var tracking map[string]string
	var fields map[string]any
	if from == nil {
		j.offer = int32(r.pick(m.offerCum))
		j.tag = uint8(r.pick(m.tagCum))
		if r.chance(0.8) {
			j.device = c.device
		} else {
			j.device = uint8(r.pick(m.deviceCum))
		}
		tracking = m.tracking[j.tag][j.device]
		if len(m.promoCum) > 0 {
			if u := r.float(); u < m.promoCum[len(m.promoCum)-1] {
				for i, cum := range m.promoCum {
					if u < cum {
						fields = m.promos[i]
						break
					}
				}
			}
		}
		if r.chance(m.completion[j.device]) {
			j.flags |= jComplete
		}
	} else {
		j.offer = from.offer
		j.device = from.device
		if !r.chance(m.retSameDevice) {
			j.device = m.otherDevice(r, from.device)
		}
		j.tag = uint8(m.retTag)
		j.from = from
		tracking = m.tracking[j.tag][j.device]
		j.flags |= jComplete | jReturnNew
	}
	s.emit(basket.Event{
		Type: basket.EventCreated, BasketID: j.id, At: msTime(at), Entry: m.entry,
		OrderItems: m.items[j.offer], Tracking: tracking, CustomFields: fields,
	})
	s.tally.created(j, at, s.m.start)
	s.inCheckout++
	s.planSession(j, at, j.has(jComplete), true)
	return j
}

// planSession plans a checkout session that starts at t0: the login or the
// email, a change of items, a name typed, and the order or the departure.
// A first session may change items; a returning customer's may not.
func (s *Simulator) planSession(j *journey, t0 int64, complete, first bool) {
	m := s.m
	r := &j.rng
	var d float64
	if complete {
		d = r.logNormal(m.completeMed, m.completeSig)
	} else {
		d = r.logNormal(m.abandonMed, m.abandonSig)
	}
	d = clamp(d, 3000, 6*float64(msPerHour))
	j.nPlan, j.next = 0, 0
	add := func(t float64, k stepKind) {
		j.plan[j.nPlan] = planned{at: t0 + int64(t), kind: k}
		j.nPlan++
	}
	reach := complete || !r.chance(m.leave)
	tc := 0.0
	if reach && !j.has(jContactable) {
		if j.cust.sso {
			tc = r.logNormal(m.loginMed, m.loginSig)
		} else {
			tc = r.logNormal(m.emailMed, m.emailSig)
		}
		if tc >= d {
			tc = d * (0.2 + 0.6*r.float())
		}
		add(tc, kindContact)
	}
	if reach && !j.cust.sso && !j.has(jDetails) && (complete || r.chance(m.detailsTyped)) {
		add(tc+(d-tc)*(0.2+0.6*r.float()), kindDetails)
	}
	if first && len(m.alts[j.offer]) > 0 && r.chance(m.itemsChanged) {
		add(d*(0.1+0.8*r.float()), kindItems)
	}
	if complete {
		add(d, kindComplete)
	} else {
		j.reason = int8(r.pick(m.reasonCum))
		add(d, kindLeave)
	}
	// Order by time, then kind; at most five entries.
	p := j.plan[:j.nPlan]
	for i := 1; i < len(p); i++ {
		for k := i; k > 0 && (p[k].at < p[k-1].at || p[k].at == p[k-1].at && p[k].kind < p[k-1].kind); k-- {
			p[k], p[k-1] = p[k-1], p[k]
		}
	}
	s.q.push(step{at: p[0].at, j: j, kind: p[0].kind})
}

// nextPlanned queues the journey's next planned step, if any.
func (s *Simulator) nextPlanned(j *journey) {
	j.next++
	if j.next < j.nPlan {
		p := j.plan[j.next]
		s.q.push(step{at: p.at, j: j, kind: p.kind})
	}
}

// endSession marks a journey's checkout session over.
func (s *Simulator) endSession(j *journey) {
	j.next = j.nPlan
	s.inCheckout--
}

// runPlanned runs a planned step of a checkout session.
func (s *Simulator) runPlanned(st *step) {
	j, at, m := st.j, st.at, s.m
	if !s.alive(j, at) {
		// Erased, expired or bought meanwhile: the session is over.
		if j.next < j.nPlan {
			s.endSession(j)
		}
		return
	}
	switch st.kind {
	case kindContact:
		c := j.cust
		if c.sso {
			s.emit(basket.Event{Type: basket.EventIdentified, BasketID: j.id, At: msTime(at), Identity: &c.identity, CustomerDetails: &c.details})
		} else {
			s.emit(basket.Event{Type: basket.EventEmailCaptured, BasketID: j.id, At: msTime(at), Email: c.email})
		}
		s.contact(j, at)
	case kindItems:
		alts := m.alts[j.offer]
		j.offer = int32(alts[j.rng.intn(len(alts))])
		s.emit(basket.Event{Type: basket.EventItemsChanged, BasketID: j.id, At: msTime(at), OrderItems: m.items[j.offer]})
	case kindDetails:
		j.flags |= jDetails
		s.emit(basket.Event{Type: basket.EventCustomerDetailsChanged, BasketID: j.id, At: msTime(at), CustomerDetails: &j.cust.details})
	case kindComplete:
		s.complete(j, at)
		s.endSession(j)
		return
	case kindLeave:
		s.leave(j, at)
		s.endSession(j)
		return
	}
	s.nextPlanned(j)
}

// contact records that a basket became contactable, with an email.
func (s *Simulator) contact(j *journey, at int64) {
	j.flags |= jContactable | jEmail
	j.emailEpoch = j.cust.erasures
	s.tally.add(j, fContactable)
	if s.byBasket != nil {
		s.byBasket[j.id] = j
	}
	if s.m.eraseShare > 0 && j.rng.chance(s.m.eraseShare) {
		d := j.rng.logNormal(s.m.eraseMed, s.m.eraseSig)
		s.q.push(step{at: at + int64(d), j: j, kind: kindErase})
	}
}

func (s *Simulator) complete(j *journey, at int64) {
	s.emit(basket.Event{Type: basket.EventCompleted, BasketID: j.id, At: msTime(at)})
	j.flags |= jCompleted
	s.tally.add(j, fCompleted)
	switch {
	case j.has(jAbandonedC):
		s.tally.converted(j)
	case j.from != nil && j.from.has(jAbandonedC):
		s.tally.converted(j.from)
	}
}

// leave ends a session without an order and decides whether the customer
// comes back on their own.
func (s *Simulator) leave(j *journey, at int64) {
	m := s.m
	j.flags |= jAbandoned
	s.tally.add(j, fAbandoned)
	s.tally.reason(j)
	if j.has(jContactable) {
		j.flags |= jAbandonedC
		s.tally.add(j, fAbandonedC)
		s.tally.abandonedContactable(j)
	}
	r := &j.rng
	if m.retShare > 0 && r.chance(m.retShare) {
		d := min(r.logNormal(m.retMed, m.retSig), m.retCap)
		s.q.push(step{at: m.awake(r, at+int64(d)), j: j, kind: kindReturn})
	}
}

// comeBack is an abandoner's return on their own: to the same basket while
// it is young enough, or to a new one.
func (s *Simulator) comeBack(j *journey, at int64) {
	if j.has(jCompleted|jOver) || j.erased() {
		return // bought meanwhile (after a reminder) or asked to be forgotten
	}
	j.flags |= jReturned
	s.tally.add(j, fReturned)
	if at < j.created+s.m.retSameWithin && j.rng.chance(s.m.retSame) {
		s.inCheckout++
		s.planSession(j, at, true, false)
		return
	}
	s.startJourney(at, j.cust, j)
}

// erase sends a right-to-erasure request for the customer's email.
func (s *Simulator) erase(j *journey, at int64) {
	c := j.cust
	s.emit(basket.Event{Type: basket.EventErased, At: msTime(at), Email: c.email})
	c.erasures++
	s.tally.erasures++
}

func clamp(x, lo, hi float64) float64 { return max(lo, min(hi, x)) }
