//go:build !race

package lariat

const raceEnabled = false
