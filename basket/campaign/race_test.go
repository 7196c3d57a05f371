//go:build race

package campaign

// raceEnabled: the race detector slows the simulated month down about
// eightfold, so it runs at a lower rate.
const raceEnabled = true
