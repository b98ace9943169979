//go:build race

package main

// raceScale widens the byte bounds under the race detector, which makes
// every goroutine and allocation bigger.
const raceScale = 1.5
