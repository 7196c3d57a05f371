package simulator_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/simulator"
)

// oneReminder is a minimal campaign: one reminder an hour after a basket
// is abandoned, if it still is then. It follows the engine's feed from its
// checkpoint, as a real campaign does.
type oneReminder struct {
	eng   *basket.Engine
	after uint64          // the feed's checkpoint
	seen  map[string]bool // one reminder per basket
	due   []string        // baskets waiting for their reminder, in feed order
	at    map[string]time.Time
}

func (c *oneReminder) Tick(ctx context.Context, now time.Time, mail simulator.Mailer) error {
	for {
		page, err := c.eng.Feed(ctx, c.after, basket.MaxLimit)
		if err != nil {
			return err
		}
		for _, b := range page.Items {
			if !c.seen[b.ID] {
				c.seen[b.ID] = true
				c.due = append(c.due, b.ID)
				c.at[b.ID] = b.AbandonedAt.Add(time.Hour)
			}
		}
		c.after = page.Next
		if len(page.Items) < basket.MaxLimit {
			break
		}
	}
	for len(c.due) > 0 && !now.Before(c.at[c.due[0]]) {
		id := c.due[0]
		c.due = c.due[1:]
		if b, err := c.eng.Get(ctx, id); err == nil && b.Abandoned {
			err := mail.Send(ctx, simulator.Reminder{
				To: b.CustomerDetails.Email, BasketID: id, Step: 1,
				Link: "https://shop.example.com" + b.RecoveryLink + "&utm_source=reminder&utm_medium=email",
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// Example_campaign measures a campaign against a control group: the
// simulator withholds the reminders of a fifth of the customers, plays
// the others' opens, clicks and orders, and compares the two groups.
func Example_campaign() {
	sc := simulator.DefaultScenario()
	sc.Days = 3
	sc.Rate = 200
	sc.ControlShare = 0.2

	clock := simulator.NewClock(sc.Start)
	eng, err := basket.New(&basket.Options{Now: clock.Now})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	camp := &oneReminder{eng: eng, seen: map[string]bool{}, at: map[string]time.Time{}}
	sim, err := simulator.New(&simulator.Options{
		Scenario: &sc, Seed: 1, Clock: clock,
		Sink:     simulator.EngineSink{Engine: eng},
		Campaign: camp, Recoverer: eng, // clicks follow the links through the engine
		Drain: 7 * 24 * time.Hour, // let the last reminders be read
	})
	if err != nil {
		log.Fatal(err)
	}
	rep, err := sim.Run(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	c := rep.Campaign
	fmt.Printf("sent %d, withheld %d; opened %d, clicked %d, bought %d\n", c.Sent, c.Withheld, c.Opened, c.Clicked, c.Purchased)
	fmt.Printf("bought later: treatment %.1f%%, control %.1f%%\n", 100*c.Treatment.Rate, 100*c.Control.Rate)
	// Output:
	// sent 4654, withheld 1150; opened 2014, clicked 418, bought 129
	// bought later: treatment 10.0%, control 8.6%
}
