package simulator

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// Campaign is a reminder campaign run inside a simulation: the hook through
// which the campaign pipeline (basket/campaign) is measured against
// simulated customers.
//
// The simulator gives the campaign a turn every Options.TickEvery of
// virtual time, after every event up to that moment has reached the sink
// and the virtual clock reads now. In its turn the campaign does what it
// would do in production at that moment (typically: read the engine's
// abandonment feed from its checkpoint, apply its rules, and send the
// reminders that are due) and delivers each message through mail.Send
// instead of an email service.
//
// The simulator then plays the recipient: it decides, with the
// probabilities of Scenario.Reminders, whether and when they open the
// message, click its recovery link and buy. A click follows the link
// through Options.Recoverer (basket.Engine.Recover for an engine in
// process), which records the recovered event, and an order completes the
// basket with a completed event. Customers in the control group
// (Scenario.ControlShare) never receive anything: the simulator withholds
// their messages, so comparing the report's treatment and control groups
// measures the campaign's effect. Customers who buy on their own before a
// reminder reaches them do not buy twice.
//
// Tick runs on the simulator's goroutine; it must not keep mail after it
// returns. An error from Tick stops the run.
type Campaign interface {
	Tick(ctx context.Context, now time.Time, mail Mailer) error
}

// Mailer delivers reminder messages to simulated customers.
type Mailer interface {
	// Send delivers a reminder now (the time of the campaign's turn). It
	// returns an error wrapping ErrUndeliverable if the message names no
	// basket of this simulation, a recipient other than the basket's
	// customer, or a link without a basket id and token; the campaign may
	// record that as a bounce.
	Send(ctx context.Context, m Reminder) error
}

// Reminder is a message of a campaign to a customer about a basket.
type Reminder struct {
	// To is the recipient's email; it must be the email on the basket
	// (compared case-folded).
	To string
	// BasketID is the basket the message is about.
	BasketID string
	// Link is the link the customer clicks: the basket's recoveryLink, as
	// a path or an absolute URL (https://shop/api/checkout/recover?...),
	// with any utm_* parameters. Its basketId (or basket) and recover
	// parameters are followed through the Recoverer.
	Link string
	// Step is the message's place in the campaign's sequence, from 1; it
	// scales the chance to click (Reminders.StepFactors).
	Step int
}

// Recoverer follows recovery links. *basket.Engine implements it.
type Recoverer interface {
	Recover(ctx context.Context, basketID, token string) (basket.Recovery, error)
}

// ErrUndeliverable means a reminder cannot reach any simulated customer.
var ErrUndeliverable = errors.New("reminder undeliverable")

// mailbox is the Mailer the simulator gives campaigns.
type mailbox struct{ s *Simulator }

// delivery is a reminder a customer received and what they will do with it.
type delivery struct {
	token      string
	step       int
	click, buy bool
}

func (mb mailbox) Send(ctx context.Context, m Reminder) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := mb.s
	if !s.ticking {
		return errors.New("simulator: Mailer.Send called outside the campaign's turn")
	}
	id, token, err := parseRecoveryLink(m.Link)
	if err != nil {
		s.tally.camp.Undeliverable++
		return fmt.Errorf("%w: basket %q: %v", ErrUndeliverable, truncate(m.BasketID), err)
	}
	j := s.byBasket[m.BasketID]
	switch {
	case j == nil:
		s.tally.camp.Undeliverable++
		return fmt.Errorf("%w: no simulated basket %q", ErrUndeliverable, truncate(m.BasketID))
	case id != m.BasketID:
		s.tally.camp.Undeliverable++
		return fmt.Errorf("%w: the link is for basket %q, the message for %q", ErrUndeliverable, truncate(id), truncate(m.BasketID))
	case basket.NormalizeEmail(m.To) != basket.NormalizeEmail(j.cust.email):
		s.tally.camp.Undeliverable++
		return fmt.Errorf("%w: basket %q: the recipient is not the basket's customer", ErrUndeliverable, truncate(m.BasketID))
	}
	if j.cust.control {
		s.tally.camp.Withheld++
		return nil
	}
	s.tally.sent(m.Step)
	step := max(m.Step, 1)
	j.reminders++
	r := newRNG(s.seed, streamReminder, reminderIndex(m.BasketID, j.reminders))
	mm := s.m
	f := mm.stepFactors[min(step, len(mm.stepFactors))-1]
	d := &delivery{token: token, step: step}
	if !r.chance(mm.open) {
		return nil
	}
	d.click = r.chance(mm.click * f / mm.open)
	d.buy = d.click && r.chance(mm.purchase)
	now := s.clock.ms.Load()
	s.q.push(mkStep(now+int64(r.logNormal(mm.openMed, 1)), j, d, kindOpen))
	return nil
}

func mkStep(at int64, j *journey, d *delivery, k stepKind) step {
	return step{at: at, j: j, d: d, kind: k}
}

// reminderIndex names the random stream of the nth message about a
// basket, so that what a customer does with a message does not depend on
// the order in which the campaign sends its messages.
func reminderIndex(basketID string, nth uint32) uint64 {
	h := fnv.New64a()
	h.Write([]byte(basketID))
	return h.Sum64() ^ uint64(nth)*0x9e3779b97f4a7c15
}

// parseRecoveryLink returns the basket id and token of a recovery link:
// a path or an absolute URL with basketId (or basket) and recover
// parameters.
func parseRecoveryLink(link string) (id, token string, err error) {
	if link == "" {
		return "", "", errors.New("empty link")
	}
	u, err := url.Parse(link)
	if err != nil {
		return "", "", errors.New("malformed link")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", "", errors.New("malformed link query")
	}
	id = q.Get("basketId")
	if id == "" {
		id = q.Get("basket")
	}
	token = q.Get("recover")
	switch {
	case id == "":
		return "", "", errors.New("link has no basketId")
	case token == "":
		return "", "", errors.New("link has no recover token")
	}
	return id, token, nil
}

// tick gives the campaign its turn.
func (s *Simulator) tick(ctx context.Context, at int64) error {
	if err := s.flush(ctx); err != nil {
		return err
	}
	s.ticking = true
	err := s.opts.Campaign.Tick(ctx, msTime(at), s.mailbox)
	s.ticking = false
	if err != nil {
		return fmt.Errorf("simulator: campaign: %w", err)
	}
	return nil
}

func (s *Simulator) opened(st *step) {
	s.tally.camp.Opened++
	if st.d.click {
		at := st.at + int64(st.j.rng.logNormal(s.m.clickMed, 1))
		s.q.push(mkStep(at, st.j, st.d, kindClick))
	}
}

// clicked follows a reminder's link at the moment of the click.
func (s *Simulator) clicked(ctx context.Context, st *step) error {
	j, d := st.j, st.d
	s.tally.camp.Clicked++
	if err := s.flush(ctx); err != nil {
		return err
	}
	rec, err := s.opts.Recoverer.Recover(ctx, j.id, d.token)
	switch {
	case errors.Is(err, basket.ErrTokenInvalid), errors.Is(err, basket.ErrTokenExpired), errors.Is(err, basket.ErrTokenMissing):
		s.tally.camp.DeadLinks++
		return nil
	case err != nil:
		return fmt.Errorf("simulator: following a recovery link: %w", err)
	}
	switch rec.Outcome {
	case basket.RecoverCheckout:
		if s.alive(j, st.at) {
			// The engine recorded the click; the stream carries it too, so
			// that a replay of the stream gives the same baskets.
			s.emit(basket.Event{Type: basket.EventRecovered, BasketID: j.id, At: msTime(st.at)})
			if d.buy {
				at := st.at + int64(clamp(j.rng.logNormal(s.m.completeMed, s.m.completeSig), 3000, 6*float64(msPerHour)))
				s.q.push(mkStep(at, j, d, kindBuy))
			}
		}
	case basket.RecoverPurchased:
		s.tally.camp.AlreadyBought++
	case basket.RecoverRepurchase:
		// The basket expired: the link leads to a purchase link for the
		// same offer, and a new basket.
		if d.buy && !j.has(jCompleted) && !j.erased() {
			nj := s.startJourney(st.at, j.cust, j)
			nj.flags |= jRecovered
			j.flags |= jRecovered | jOver
			s.tally.add(j, fRecovered)
			s.tally.camp.Purchased++
		}
	}
	return nil
}

// bought completes a basket after a reminder's click.
func (s *Simulator) bought(st *step) {
	j := st.j
	if !s.alive(j, st.at) {
		return
	}
	j.flags |= jRecovered
	s.tally.add(j, fRecovered)
	s.tally.camp.Purchased++
	if j.next < j.nPlan {
		s.endSession(j) // bought in the middle of a session
	}
	s.complete(j, st.at)
}
