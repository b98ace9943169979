// Package wiretoken is the token of idleprobe's small protocols between
// the prober and the responder (packages udpwire and pushwire): a random
// name for a binding or a held connection, Len lowercase hex digits.
package wiretoken

import (
	"crypto/rand"
	"encoding/hex"
)

// Len is the length of a token in hex digits.
const Len = 16

// New returns a fresh random token.
func New() string {
	var b [Len / 2]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail on the supported systems
	return hex.EncodeToString(b[:])
}

// Valid reports whether s is Len lowercase hex digits.
func Valid(s string) bool {
	if len(s) != Len {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
