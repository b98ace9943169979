//go:build !race

package main

// raceScale widens the byte bounds under the race detector (see race_test.go).
const raceScale = 1.0
