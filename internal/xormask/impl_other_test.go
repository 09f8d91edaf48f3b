//go:build !amd64 || purego

package xormask

import "testing"

func forEachImpl(t *testing.T, f func(t *testing.T, xor func([]byte, uint32))) {
	t.Run("XOR", func(t *testing.T) { f(t, XOR) })
}

func forEachCopyImpl(t *testing.T, f func(t *testing.T, xor func(dst, src []byte, key uint32) bool)) {
	t.Run("XORCopy", func(t *testing.T) { f(t, XORCopy) })
}
