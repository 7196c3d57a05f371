package console_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/basketlab/abandoned/basket/campaign"
	"github.com/basketlab/abandoned/simulator"
)

// simulate fills the harness's engine with days of simulated traffic
// ending at t0, the engine living in the simulator's time meanwhile. A
// reminder campaign runs through it (a real campaign.Runner, its state in
// campaignDir), so that customers click recovery links and the campaign
// has a report.
func simulate(t *testing.T, h *harness, campaignDir string, days int) {
	t.Helper()
	sc := simulator.DefaultScenario()
	sc.Days, sc.Rate = days, 12
	sc.Start = t0.AddDate(0, 0, -sc.Days)
	clk := simulator.NewClock(sc.Start)
	stop := h.clk.follow(clk.Now)
	snd := &simSender{}
	r, err := campaign.Open(campaignDir, campaign.EngineSource{Engine: h.eng}, snd, &campaign.Options{
		Name: "winback", ShopURL: "shop.example.com", Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := simulator.New(&simulator.Options{
		Scenario: &sc, Seed: 7, Sink: simulator.EngineSink{Engine: h.eng}, Clock: clk,
		Campaign: &simCampaign{r: r, snd: snd}, Recoverer: h.eng,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	stop()
}

// simCampaign gives a campaign.Runner the simulator's turns; its sender
// hands each message to the simulated customers.
type simCampaign struct {
	r   *campaign.Runner
	snd *simSender
}

func (c *simCampaign) Tick(ctx context.Context, now time.Time, mail simulator.Mailer) error {
	c.snd.mail = mail
	defer func() { c.snd.mail = nil }()
	_, err := c.r.Tick(ctx, now)
	return err
}

// simSender delivers through the simulator's Mailer.
type simSender struct{ mail simulator.Mailer }

func (s *simSender) Send(ctx context.Context, m *campaign.Message, commit func() error) error {
	if err := commit(); err != nil {
		return err
	}
	err := s.mail.Send(ctx, simulator.Reminder{To: m.To, BasketID: m.BasketID, Link: m.RecoveryURL, Step: m.Step})
	if errors.Is(err, simulator.ErrUndeliverable) {
		return fmt.Errorf("%w: %v", campaign.ErrBounced, err)
	}
	return err
}

func (s *simSender) Resolve(context.Context, *campaign.Message, bool) (campaign.Resolution, error) {
	return campaign.SendAgain, nil
}
