//go:build race

package lariat

// raceEnabled: under the race detector sync.Pool drops items at random,
// so allocation counts say nothing.
const raceEnabled = true
