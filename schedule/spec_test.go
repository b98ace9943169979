package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestGaps: the shortest and longest gap of a schedule over the fixed
// window. The shortest gaps are the ones the config package pinned for its
// schedule period before the definition moved here.
func TestGaps(t *testing.T) {
	tests := []struct {
		spec              string
		shortest, longest time.Duration
	}{
		{"@every 6h", 6 * time.Hour, 6 * time.Hour},
		{"@every 90s", 90 * time.Second, 90 * time.Second},
		{"@every 1s", time.Second, time.Second},
		{"@hourly", time.Hour, time.Hour},
		{"@daily", 24 * time.Hour, 24 * time.Hour},
		{"@weekly", 7 * 24 * time.Hour, 7 * 24 * time.Hour},
		{"*/15 * * * *", 15 * time.Minute, 15 * time.Minute},
		{"30 */10 * * * *", 10 * time.Minute, 10 * time.Minute}, // with seconds
		{"0 9,10 * * *", time.Hour, 23 * time.Hour},             // irregular
		{"0 9 * * MON-FRI", 24 * time.Hour, 72 * time.Hour},     // the weekend
		{"CRON_TZ=Europe/Berlin 0 3 * * *", 24 * time.Hour, 24 * time.Hour},
		{"0 0 1 * *", 28 * 24 * time.Hour, 31 * 24 * time.Hour}, // February and March: at least three runs
		{"@yearly", 365 * 24 * time.Hour, 365 * 24 * time.Hour}, // beyond the window: at least three runs
		{"0 0 29 2 *", 4*365*24*time.Hour + 24*time.Hour, 4*365*24*time.Hour + 24*time.Hour},
		{"  @every 2h  ", 2 * time.Hour, 2 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			g, err := GapsOf(tc.spec)
			if err != nil {
				t.Fatalf("GapsOf: %v", err)
			}
			if g.Shortest != tc.shortest || g.Longest != tc.longest {
				t.Errorf("GapsOf = %+v, want shortest %v, longest %v", g, tc.shortest, tc.longest)
			}
			p, err := Period(tc.spec)
			if err != nil || p != tc.longest {
				t.Errorf("Period = %v, %v; want the longest gap %v", p, err, tc.longest)
			}
		})
	}
}

// TestPeriodDeterministic: the period of an irregular schedule is its
// longest gap, whenever it is asked (it used to be the gap after "now":
// 1h or 23h for "0 9,10 * * *" depending on the hour).
func TestPeriodDeterministic(t *testing.T) {
	for range 3 {
		if got, err := Period("0 9,10 * * *"); err != nil || got != 23*time.Hour {
			t.Errorf("Period = %v, %v; want the longest gap, 23h", got, err)
		}
	}
}

// TestParseRefuses: what the scheduler, the config and the command line
// all refuse, each with a reason and examples.
func TestParseRefuses(t *testing.T) {
	tests := []struct{ spec, reason string }{
		{"", "empty schedule"},
		{"every 6h", "expected 5 to 6 fields, found 2"},
		{"@every 0s", "@every needs a whole number of seconds, at least 1s (got 0s)"},
		{"@every -1m", "at least 1s"},
		{"@every 1.5s", "@every needs a whole number of seconds, at least 1s (got 1.5s)"},
		{"@every 500ms", "@every needs a whole number of seconds"},
		{"@every x", `"x" is not a duration`},
		{"0 0 30 2 *", "never fires (no matching time within five years)"},
		{"TZ=UTC", "a CRON_TZ= prefix must be followed by a space"},
		{"CRON_TZ=UTC", "a CRON_TZ= prefix must be followed by a space"},
		{"CRON_TZ=Nowhere/Land 0 * * * *", "provided bad location"},
		{"* * * * * * *", "expected 5 to 6 fields"},
		{"*/0 * * * *", ""},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			_, err := Parse(tc.spec)
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %v, want a *SpecError", tc.spec, err)
			}
			if se.Spec != tc.spec || !strings.Contains(se.Reason, tc.reason) {
				t.Errorf("SpecError %+v, want spec %q and a reason containing %q", se, tc.spec, tc.reason)
			}
			if !strings.Contains(err.Error(), "examples: ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line with examples", err)
			}
			if _, gerr := GapsOf(tc.spec); gerr == nil {
				t.Errorf("GapsOf(%q) accepted what Parse refuses", tc.spec)
			}
		})
	}
}
