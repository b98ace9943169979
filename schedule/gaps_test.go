package schedule

import (
	"testing"
	"time"
)

// TestGapsCycleShortcut: the gaps taken over two days or two weeks (for
// schedules that repeat daily or weekly) are the ones the whole window
// gives, in UTC and in zones with daylight saving time.
func TestGapsCycleShortcut(t *testing.T) {
	for _, spec := range []string{
		"7 * * * *", "*/5 * * * *", "0 9,10 * * *", "15 */6 * * *", "30 0 3 * * *",
		"0 9 * * MON-FRI", "0 0 * * SUN", "*/20 8-17 * * 1-5", "CRON_TZ=Europe/Berlin 30 3 * * *",
		"CRON_TZ=America/New_York 0 23 * * FRI,SAT", "CRON_TZ=Australia/Sydney 45 1 * * *",
		"0 0 1 * *", "0 12 * 2 *", "0 0 1,15 * MON",
	} {
		s, err := Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := GapsOf(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if want := walkGaps(s, gapWindowStart.Add(gapWindow)); got != want {
			t.Errorf("%s: gaps %+v, want %+v (the whole window's)", spec, got, want)
		}
	}
	// The shortcut is taken where it applies, and only there.
	for spec, want := range map[string]time.Duration{
		"7 * * * *": 24 * time.Hour, "0 9 * * MON-FRI": 7 * 24 * time.Hour, "CRON_TZ=Europe/Berlin 30 3 * * *": 24 * time.Hour,
		"0 0 1 * *": 0, "0 12 * 2 *": 0, "0 0 1,15 * MON": 0,
	} {
		s, _ := Parse(spec)
		if got, _ := cycle(s); got != want {
			t.Errorf("%s: cycle %s, want %s", spec, got, want)
		}
	}
}
