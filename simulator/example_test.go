package simulator_test

import (
	"context"
	"fmt"
	"log"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/simulator"
)

// Example simulates a day of checkout traffic into an engine in process,
// on the simulator's clock, and reads the abandoned baskets back.
func Example() {
	ctx := context.Background()
	sc := simulator.DefaultScenario()
	sc.Days = 1
	sc.Rate = 100 // baskets in an average hour

	clock := simulator.NewClock(sc.Start)
	eng, err := basket.New(&basket.Options{Now: clock.Now})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()

	sim, err := simulator.New(&simulator.Options{
		Scenario: &sc, Seed: 1, Clock: clock, Sink: simulator.EngineSink{Engine: eng},
	})
	if err != nil {
		log.Fatal(err)
	}
	rep, err := sim.Run(ctx)
	if err != nil {
		log.Fatal(err)
	}
	f := rep.Funnel
	fmt.Printf("%d baskets, %d abandoned (%.0f%%), %d of them contactable\n",
		f.Created, f.Abandoned, 100*f.AbandonmentRate, f.AbandonedContactable)
	st, err := eng.Stats(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("the engine lists %d abandoned baskets\n", st.Abandoned)

	page, err := eng.Abandoned(ctx, basket.Query{Limit: 1})
	if err != nil {
		log.Fatal(err)
	}
	b := page.Items[0]
	fmt.Println(b.Created.Format("2006-01-02 15:04:05.000"), b.OrderItems[0].Name, b.Tracking["tag"], b.Tracking["device"])
	// Output:
	// 2543 baskets, 1815 abandoned (71%), 998 of them contactable
	// the engine lists 983 abandoned baskets
	// 2025-01-06 00:00:03.172 Print + Digital Monthly direct desktop
}

// ExampleParseScenario reads a scenario file's content over the defaults.
func ExampleParseScenario() {
	sc, err := simulator.ParseScenario([]byte(`{
		"days": 5,
		"hourProfile": "news",
		"peakDays": [{"date": "2025-11-28", "multiplier": 2.7, "name": "Black Friday"}]
	}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sc.Days, sc.HourProfile, sc.PeakDays[0].Name, sc.AbandonRate)
	// Output: 5 news Black Friday 0.7
}
