//go:build race

package basket

// cursorRaceEnabled: under the race detector, sync.Pool drops what it is
// given at random, so allocation counts are not asserted.
const cursorRaceEnabled = true
