package configs

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/idleprobe/idleprobe/schedule"
)

// ParseSchedule parses a path schedule with the scheduler's own parser
// (schedule.Parser). Unlike a bare Parse it
// rejects "@every" durations below one second or with a fraction of a
// second (cron would silently round them), schedules that never fire, and
// it never panics (cron v3.0.1 panics on "CRON_TZ=UTC" without a space).
func ParseSchedule(spec string) (s cron.Schedule, err error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("empty schedule")
	}
	if d, ok := strings.CutPrefix(spec, "@every "); ok {
		every, perr := time.ParseDuration(strings.TrimSpace(d))
		if perr != nil {
			return nil, fmt.Errorf("%q is not a duration (examples: @every 6h, @every 30m)", strings.TrimSpace(d))
		}
		if every < time.Second || every%time.Second != 0 {
			return nil, fmt.Errorf("@every needs a whole number of seconds, at least 1s (got %s)", every)
		}
	}
	if (strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=")) && !strings.Contains(spec, " ") {
		return nil, errors.New("a CRON_TZ= prefix must be followed by a space and a schedule (example: CRON_TZ=Europe/Berlin 0 3 * * *)")
	}
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("cannot parse schedule: %v", r)
		}
	}()
	s, err = schedule.Parser.Parse(spec)
	if err != nil {
		return nil, err
	}
	if s.Next(scheduleRef).IsZero() {
		return nil, errors.New("never fires (no matching time within five years)")
	}
	return s, nil
}

// scheduleRef is the fixed instant periods are computed from, so that the
// same file always gives the same answer.
var scheduleRef = time.Date(2025, time.January, 6, 0, 0, 0, 0, time.UTC)

// periodSamples is how many consecutive intervals SchedulePeriod looks at.
const periodSamples = 16

// SchedulePeriod returns the shortest interval between consecutive runs of
// the schedule spec, taken over its first few activations from a fixed
// reference time. For "@every D" that is D; for an irregular cron
// expression (e.g. "0 9,10 * * *") it is the shortest gap (1h), which is the
// one a long measurement would overlap.
func SchedulePeriod(spec string) (time.Duration, error) {
	s, err := ParseSchedule(spec)
	if err != nil {
		return 0, err
	}
	prev := s.Next(scheduleRef)
	shortest := time.Duration(math.MaxInt64)
	for range periodSamples {
		next := s.Next(prev)
		if next.IsZero() {
			break
		}
		if gap := next.Sub(prev); gap < shortest {
			shortest = gap
		}
		prev = next
	}
	if shortest == math.MaxInt64 {
		// Fires once in the sampled window only (e.g. a yearly date far off).
		return 0, errors.New("fires too rarely to have a period")
	}
	return shortest, nil
}

// DefaultJitter is the jitter of a path that sets none: 10 % of the schedule
// period, at most MaxJitterDefault.
func DefaultJitter(period time.Duration) time.Duration {
	return min(period/10, MaxJitterDefault)
}
