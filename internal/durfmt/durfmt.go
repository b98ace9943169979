// Package durfmt prints durations the way people type them.
package durfmt

import (
	"strings"
	"time"
)

// Short prints d without trailing zero units: 6h0m0s becomes 6h, 15m0s
// becomes 15m, 1m30s and 250ms stay. Callers round d first as they need.
func Short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
