package loadtest_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/basketlab/abandoned/basket"
	"github.com/basketlab/abandoned/loadtest"
	"github.com/basketlab/abandoned/simulator"
)

// Example loads an engine in process with page queries and feed polls at
// 200 operations a second for half a second, over a preloaded population,
// and checks a threshold.
func Example() {
	ctx := context.Background()
	eng, err := basket.New(&basket.Options{TTL: basket.NoExpiry}) // simulated times are in the past
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	w, err := loadtest.NewWorkload(ctx, &loadtest.WorkloadOptions{Seed: 1, Population: 1000, Days: 2, IngestEvents: -1})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := w.Preload(ctx, simulator.EngineSink{Engine: eng}); err != nil {
		log.Fatal(err)
	}
	res, err := loadtest.Run(ctx, loadtest.EngineTarget{Engine: eng}, w, loadtest.Options{
		Duration: 500 * time.Millisecond,
		Pacer:    loadtest.Constant{PerSecond: 200},
		Mix:      loadtest.Mix{loadtest.KindQuery: 3, loadtest.KindFeed: 1},
	})
	if err != nil {
		log.Fatal(err)
	}
	th, _ := loadtest.ParseThreshold("errors<1")
	fmt.Println(res.All.Ops, "operations,", res.All.Errors, "errors")
	fmt.Println(th.Check(res).Pass)
	// Output:
	// 100 operations, 0 errors
	// true
}
