package advice

import (
	"testing"
	"time"
)

func TestFmtDur(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{250 * time.Millisecond, "250ms"},
		{3050 * time.Millisecond, "3.05s"},
		{12300 * time.Millisecond, "12.3s"},
		{15 * time.Minute, "15m"},
		{15*time.Minute + 12*time.Second, "15m 12s"},
		{time.Hour, "1h"},
		{time.Hour + 2*time.Minute, "1h 2m"},
		{-2 * time.Second, "-2.00s"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := Dur(tc.in); got != tc.want {
				t.Errorf("Dur(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestFmtRangeAndBracket(t *testing.T) {
	tests := []struct {
		name        string
		lo, hi      time.Duration
		wantRange   string
		wantBracket string
	}{
		{"15 minutes", 900 * time.Second, 917500 * time.Millisecond, "900.0-917.5 s", "(900.0s, 917.5s]"},
		{"3 seconds", 2900 * time.Millisecond, 3110 * time.Millisecond, "2.90-3.11 s", "(2.90s, 3.11s]"},
		{"narrow", 5 * time.Second, 5050 * time.Millisecond, "5.000-5.050 s", "(5.000s, 5.050s]"},
		{"wide", 1000 * time.Second, 1200 * time.Second, "1000-1200 s", "(1000s, 1200s]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Range(tc.lo, tc.hi); got != tc.wantRange {
				t.Errorf("Range = %q, want %q", got, tc.wantRange)
			}
			if got := Bracket(tc.lo, tc.hi); got != tc.wantBracket {
				t.Errorf("Bracket = %q, want %q", got, tc.wantBracket)
			}
		})
	}
}

func TestSafeIdle(t *testing.T) {
	tests := []struct {
		name  string
		limit time.Duration
		want  time.Duration
		text  string
	}{
		{"a minute", 64500 * time.Millisecond, 58 * time.Second, "58 s"},
		{"15 minutes", 900 * time.Second, 810 * time.Second, "810 s (13m 30s)"},
		{"3 seconds", 2900 * time.Millisecond, 2600 * time.Millisecond, "2.6 s"},
		{"sub-second", 500 * time.Millisecond, 450 * time.Millisecond, "450 ms"},
		{"rounds down", 11999 * time.Millisecond, 10 * time.Second, "10 s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := SafeLimit(tc.limit)
			if got != tc.want {
				t.Errorf("SafeLimit(%v) = %v, want %v", tc.limit, got, tc.want)
			}
			if got > tc.limit {
				t.Errorf("SafeLimit(%v) = %v is above the limit", tc.limit, got)
			}
			if s := Safe(got); s != tc.text {
				t.Errorf("Safe(%v) = %q, want %q", got, s, tc.text)
			}
		})
	}
}
