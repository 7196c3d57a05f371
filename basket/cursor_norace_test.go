//go:build !race

package basket

const cursorRaceEnabled = false
