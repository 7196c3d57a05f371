//go:build race

package simulator

// raceEnabled makes the large statistical runs smaller under the race
// detector, which slows them tenfold. Only sizes change, never assertions.
const raceEnabled = true
