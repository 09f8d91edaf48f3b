//go:build race

package lariat

// raceEnabled: under the race detector sync.Pool drops items at random,
// so allocation counts say nothing, and buffers are poisoned when they
// are given back, so that a payload kept past its callback shows up in
// tests as garbage rather than as another client's data.
const raceEnabled = true

// poison overwrites p, which nothing may read any more.
func poison(p []byte) {
	for i := range p {
		p[i] = 0xDB
	}
}
