package durfmt

import (
	"testing"
	"time"
)

func TestShort(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{6 * time.Hour, "6h"},
		{15 * time.Minute, "15m"},
		{90 * time.Second, "1m30s"},
		{time.Hour + 30*time.Second, "1h0m30s"},
		{time.Hour + time.Minute, "1h1m"},
		{250 * time.Millisecond, "250ms"},
		{5612 * time.Millisecond, "5.612s"},
		{0, "0s"},
	} {
		if got := Short(tc.in); got != tc.want {
			t.Errorf("Short(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
