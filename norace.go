//go:build !race

package lariat

const raceEnabled = false

// poison does nothing outside race builds; see race.go.
func poison([]byte) {}
