package simulator

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket"
)

// testCampaign is the simplest campaign: it follows the engine's feed and
// sends each abandoned basket a reminder at each delay after abandonment
// while the basket is still abandoned.
type testCampaign struct {
	steps   []int64 // ms after abandonment
	eng     *basket.Engine
	after   uint64
	pending map[string]*pendingReminder
	seen    map[string]bool // every basket ever pending: each gets one sequence
	order   []string        // ids in pending, in feed order, for a stable send order
	sent    int
	errs    []error // errors Send returned
}

type pendingReminder struct {
	abandonedAt time.Time
	step        int // next step, from 0
}

func (c *testCampaign) use(eng *basket.Engine) { c.eng = eng }

func (c *testCampaign) Tick(ctx context.Context, now time.Time, mail Mailer) error {
	if c.pending == nil {
		c.pending, c.seen = map[string]*pendingReminder{}, map[string]bool{}
	}
	for {
		p, err := c.eng.Feed(ctx, c.after, basket.MaxLimit)
		if err != nil {
			return err
		}
		for _, b := range p.Items {
			if !c.seen[b.ID] {
				c.seen[b.ID] = true
				c.pending[b.ID] = &pendingReminder{abandonedAt: b.AbandonedAt}
				c.order = append(c.order, b.ID)
			}
		}
		c.after = p.Next
		if len(p.Items) < basket.MaxLimit {
			break
		}
	}
	keep := c.order[:0]
	for _, id := range c.order {
		pr := c.pending[id]
		b, err := c.eng.Get(context.Background(), id)
		if err != nil || !b.Abandoned {
			delete(c.pending, id)
			continue
		}
		if pr.step < len(c.steps) && !now.Before(pr.abandonedAt.Add(time.Duration(c.steps[pr.step])*time.Millisecond)) {
			pr.step++
			err := mail.Send(ctx, Reminder{
				To: b.CustomerDetails.Email, BasketID: id, Step: pr.step,
				Link: "https://shop.example.com" + b.RecoveryLink + "&utm_source=sim&utm_medium=email",
			})
			if err != nil {
				c.errs = append(c.errs, err)
			}
			c.sent++
		}
		if pr.step >= len(c.steps) {
			delete(c.pending, id)
			continue
		}
		keep = append(keep, id)
	}
	c.order = keep
	return nil
}

// TestCampaign runs a two-step campaign against a control group and checks
// that customers respond with the scenario's probabilities and that the
// campaign's effect shows against the control group.
func TestCampaign(t *testing.T) {
	sc := DefaultScenario()
	sc.Days = 7
	sc.Rate = float64(big(300, 100))
	sc.ControlShare = 0.2
	camp := &testCampaign{steps: []int64{3600e3, 24 * 3600e3}}
	rec := &recorder{}
	rep, eng := runEngine(t, sc, 5, &Options{Campaign: camp, Drain: 10 * 24 * time.Hour}, rec)
	if rec.err != nil {
		t.Fatalf("the event stream: %v", rec.err)
	}
	if len(camp.errs) > 0 {
		t.Fatalf("Send failed %d times, first: %v", len(camp.errs), camp.errs[0])
	}
	c := rep.Campaign
	if c == nil {
		t.Fatal("the report has no campaign section")
	}
	t.Logf("campaign: %+v", *c)
	if got := c.Sent + c.Withheld; got != int64(camp.sent) {
		t.Errorf("sent + withheld = %d; the campaign sent %d", got, camp.sent)
	}
	if len(c.SentByStep) != 2 || c.SentByStep[0] <= c.SentByStep[1] || c.SentByStep[1] == 0 {
		t.Errorf("SentByStep = %v; want two steps, fewer at the second (some bought or came back)", c.SentByStep)
	}
	wantClicks := sc.Reminders.Click * (float64(c.SentByStep[0])*sc.Reminders.StepFactors[0] + float64(c.SentByStep[1])*sc.Reminders.StepFactors[1])
	followed := c.Clicked - c.AlreadyBought - c.DeadLinks
	for _, k := range []struct {
		name      string
		got, want float64
		tol       float64
	}{
		{"control share of messages", ratio(c.Withheld, c.Sent+c.Withheld), sc.ControlShare, 0.04},
		{"opens per message", ratio(c.Opened, c.Sent), sc.Reminders.Open, 0.03},
		{"clicks, relative to the expected", float64(c.Clicked) / wantClicks, 1, 0.15},
		{"orders per followed click", ratio(c.Purchased, followed), sc.Reminders.Purchase, 0.08},
	} {
		if math.Abs(k.got-k.want) > k.tol {
			t.Errorf("%s = %.4f; want %.4f ± %.2f", k.name, k.got, k.want, k.tol)
		}
	}
	if rep.Funnel.Recovered != c.Purchased {
		t.Errorf("funnel recovered %d, campaign purchased %d", rep.Funnel.Recovered, c.Purchased)
	}
	// Without the campaign, the control group and the treatment group
	// both convert through self-returns alone (8%); with it, the
	// treatment group converts more.
	if c.Control.Abandoned == 0 || c.Treatment.Abandoned == 0 {
		t.Fatalf("groups: treatment %+v, control %+v; want both non-empty", c.Treatment, c.Control)
	}
	if math.Abs(c.Control.Rate-sc.SelfReturn.Share) > 0.03 {
		t.Errorf("control conversion %.4f; want the self-return rate %.2f ± 0.03", c.Control.Rate, sc.SelfReturn.Share)
	}
	if c.Uplift < 0.015 {
		t.Errorf("uplift %.4f; want the campaign's effect, above 0.015", c.Uplift)
	}
	// Every recovered event in the stream is a click the engine accepted,
	// for a basket that had been contactable.
	contactable := map[string]bool{}
	recovered := 0
	for _, ev := range rec.events {
		switch ev.Type {
		case basket.EventIdentified, basket.EventEmailCaptured:
			contactable[ev.BasketID] = true
		case basket.EventRecovered:
			recovered++
			if !contactable[ev.BasketID] {
				t.Fatalf("recovered event for basket %s, never contactable", ev.BasketID)
			}
		}
	}
	if recovered == 0 || int64(recovered) > c.Clicked {
		t.Errorf("%d recovered events for %d clicks; want between 1 and the clicks", recovered, c.Clicked)
	}
	if mustStats(t, eng).Completed == 0 {
		t.Error("the engine has no completed basket")
	}
}

// TestCampaignControlGroupOnly checks that nothing reaches a control group
// that is everybody.
func TestCampaignControlGroupOnly(t *testing.T) {
	sc := DefaultScenario()
	sc.Days = 1
	sc.Rate = 100
	sc.ControlShare = 1
	camp := &testCampaign{steps: []int64{0}}
	rec := &recorder{}
	rep, _ := runEngine(t, sc, 3, &Options{Campaign: camp}, rec)
	c := rep.Campaign
	if c.Sent != 0 || c.Withheld == 0 || c.Opened != 0 || rep.Funnel.Recovered != 0 {
		t.Errorf("campaign = %+v; want everything withheld, nothing sent, opened or recovered", *c)
	}
	if c.Treatment.Abandoned != 0 {
		t.Errorf("treatment group %+v; want empty", c.Treatment)
	}
	for _, ev := range rec.events {
		if ev.Type == basket.EventRecovered {
			t.Fatalf("recovered event %+v with everybody in the control group", ev)
		}
	}
}

// mailCampaign sends what its function says, once, at its first turn.
type mailCampaign struct {
	send func(ctx context.Context, mail Mailer) error
	done bool
}

func (c *mailCampaign) Tick(ctx context.Context, now time.Time, mail Mailer) error {
	if c.done {
		return nil
	}
	c.done = true
	return c.send(ctx, mail)
}

func TestMailerRefusesBadReminders(t *testing.T) {
	sc := DefaultScenario()
	sc.Days = 1
	sc.Rate = 50
	var first string
	var results []error
	findBasket := &recorder{}
	tests := []struct {
		name string
		rem  func(id, email string) Reminder
	}{
		{"unknown basket", func(id, email string) Reminder {
			return Reminder{To: email, BasketID: "basket-nope", Link: "/api/checkout/recover?basketId=basket-nope&recover=x"}
		}},
		{"another recipient", func(id, email string) Reminder {
			return Reminder{To: "someone.else@example.com", BasketID: id, Link: "/api/checkout/recover?basketId=" + id + "&recover=x"}
		}},
		{"link without token", func(id, email string) Reminder {
			return Reminder{To: email, BasketID: id, Link: "/api/checkout/recover?basketId=" + id}
		}},
		{"link for another basket", func(id, email string) Reminder {
			return Reminder{To: email, BasketID: id, Link: "/api/checkout/recover?basketId=basket-other&recover=x"}
		}},
		{"malformed link", func(id, email string) Reminder {
			return Reminder{To: email, BasketID: id, Link: "%zz"}
		}},
	}
	camp := &mailCampaign{send: func(ctx context.Context, mail Mailer) error {
		// The first contactable basket of the run.
		var email string
		for _, ev := range findBasket.events {
			if ev.Type == basket.EventEmailCaptured {
				first, email = ev.BasketID, ev.Email
				break
			}
		}
		if first == "" {
			return errors.New("no contactable basket before the first turn")
		}
		for _, tc := range tests {
			results = append(results, mail.Send(ctx, tc.rem(first, strings.ToUpper(email))))
		}
		return nil
	}}
	rep, _ := runEngine(t, sc, 11, &Options{Campaign: camp, TickEvery: 2 * time.Hour}, findBasket)
	for i, tc := range tests {
		if !errors.Is(results[i], ErrUndeliverable) {
			t.Errorf("%s: Send = %v; want ErrUndeliverable", tc.name, results[i])
		}
	}
	if rep.Campaign.Undeliverable != int64(len(tests)) || rep.Campaign.Sent != 0 {
		t.Errorf("campaign %+v; want %d undeliverable, none sent", *rep.Campaign, len(tests))
	}
}

func TestCampaignErrorStopsRun(t *testing.T) {
	sc := DefaultScenario()
	sc.Days = 1
	sc.Rate = 10
	boom := errors.New("boom")
	clock := NewClock(sc.Start)
	eng, _ := basket.New(&basket.Options{Now: clock.Now})
	defer eng.Close()
	sim, err := New(&Options{Scenario: &sc, Clock: clock, Sink: EngineSink{eng}, Recoverer: eng,
		Campaign: &mailCampaign{send: func(context.Context, Mailer) error { return boom }}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Run(t.Context()); !errors.Is(err, boom) {
		t.Fatalf("Run = %v; want the campaign's error", err)
	}
}

func TestMailerOutsideTurn(t *testing.T) {
	sc := DefaultScenario()
	sc.Days = 1
	sc.Rate = 10
	var kept Mailer
	clock := NewClock(sc.Start)
	eng, _ := basket.New(&basket.Options{Now: clock.Now})
	defer eng.Close()
	sim, err := New(&Options{Scenario: &sc, Clock: clock, Sink: EngineSink{eng}, Recoverer: eng,
		Campaign: &mailCampaign{send: func(_ context.Context, m Mailer) error { kept = m; return nil }}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := kept.Send(t.Context(), Reminder{To: "a@example.com", BasketID: "b", Link: "/r?basketId=b&recover=t"}); err == nil {
		t.Fatal("Send after the campaign's turn succeeded; want an error")
	}
}

func TestParseRecoveryLink(t *testing.T) {
	tests := []struct {
		link, id, token string
		ok              bool
	}{
		{"/api/checkout/recover?basketId=b-1&recover=tok", "b-1", "tok", true},
		{"https://shop.example.com/api/checkout/recover?basketId=b-1&recover=tok&utm_source=x", "b-1", "tok", true},
		{"/api/checkout/recover?basket=b-2&recover=tok", "b-2", "tok", true},
		{"/api/checkout/recover?basketId=b%2B1&recover=a-b_c", "b+1", "a-b_c", true},
		{"/api/checkout/recover?recover=tok", "", "", false},
		{"/api/checkout/recover?basketId=b-1", "", "", false},
		{"", "", "", false},
		{"/r?basketId=b-1&recover=%zz", "", "", false},
		{"::not a url", "", "", false},
	}
	for _, tc := range tests {
		id, tok, err := parseRecoveryLink(tc.link)
		if (err == nil) != tc.ok || id != tc.id || tok != tc.token {
			t.Errorf("parseRecoveryLink(%q) = %q, %q, %v; want %q, %q, ok %v", tc.link, id, tok, err, tc.id, tc.token, tc.ok)
		}
	}
}

func TestNewNeedsRecovererForCampaign(t *testing.T) {
	_, err := New(&Options{Sink: Discard, Campaign: &testCampaign{}})
	if err == nil || !strings.Contains(err.Error(), "Recoverer") {
		t.Fatalf("New = %v; want an error naming the Recoverer", err)
	}
}
