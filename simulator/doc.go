// Package simulator generates the traffic of a subscription checkout on a
// virtual clock: baskets created by Subscribe clicks, SSO logins and
// anonymous emails, changes of offer, orders, abandonments with their
// reasons, customers who come back on their own days later, erasure
// requests, and the responses of customers to reminder campaigns.
//
// A Scenario says what to simulate; DefaultScenario is calibrated on
// published figures: 1,000 baskets in an average hour,
// shaped by hour of day, weekday and day of month; 70% abandonment; 40% of
// customers logging in with SSO; 45% of abandoners leaving before giving an
// email; 8% of abandoners returning on their own; 65% mobile. A Simulator
// plays a scenario and writes the events (basket.Event, whose JSON is the
// wire format of the ingest endpoint) to a Sink: an engine in process
// (EngineSink), the HTTP ingest endpoint (HTTPSink), or JSON lines
// (JSONLSink). Run returns a funnel Report.
//
// Feeding an engine in process:
//
//	sc := simulator.DefaultScenario()
//	clock := simulator.NewClock(sc.Start)
//	eng, err := basket.New(&basket.Options{Now: clock.Now}) // the engine lives in simulated time
//	...
//	sim, err := simulator.New(&simulator.Options{Scenario: &sc, Seed: 1, Clock: clock, Sink: simulator.EngineSink{Engine: eng}})
//	...
//	report, err := sim.Run(ctx)
//
// # Determinism
//
// The same seed and scenario give the same events, byte for byte, run after
// run and with any GOMAXPROCS: the simulator runs on one goroutine, and
// every customer, journey and reminder draws from its own PCG stream
// (math/rand/v2) derived from the seed and its index, so that what happens
// to one does not depend on the others. Journeys interleave in time order
// through a priority queue of their next steps; steps at the same
// millisecond run in the order they were scheduled. (Across CPU
// architectures, the last bits of math.Exp and math.Log may differ, and
// with them a millisecond here and there.)
//
// # Campaigns
//
// The Campaign interface is the hook for reminder campaigns: the simulator
// gives a campaign a turn every few virtual minutes, the campaign delivers
// its reminders through a Mailer, and the simulated customers open them,
// click their recovery links (through a Recoverer, such as the engine) and
// buy, with the probabilities of Scenario.Reminders. Customers in the
// control group never receive a reminder, so the report's comparison of
// treatment and control measures the campaign's effect.
//
// # Caveats
//
//   - Times in events are in UTC with millisecond precision. A server keeps
//     a basket for its time to live from its creation by the server's own
//     clock, so events replayed into a server long after their simulated
//     time are refused as expired unless the server keeps baskets forever
//     (abandoned serve -ttl 0) or the simulation ends near the present.
//   - The engine fed must use the simulator's Clock; an engine on the wall
//     clock sees every simulated basket as created in the past or future.
//   - Without Options.Drain, a run stops at the end of its period, so
//     abandoners who would return after it are not counted as returned.
package simulator
