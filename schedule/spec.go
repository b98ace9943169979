package schedule

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Parser is the cron parser behind Parse: 5-field cron specs, 6-field specs
// with a leading seconds field, descriptors (@hourly, @every 6h) and a
// CRON_TZ= prefix. Use Parse, which adds the checks cron lacks.
var Parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Examples are valid schedules, for error messages.
const Examples = `"@every 6h", "@daily", "0 */6 * * *", "30 0 3 * * *" with seconds, "CRON_TZ=Europe/Berlin 30 3 * * *"`

// SpecError is a schedule that Parse refuses.
type SpecError struct {
	// Spec is the schedule as given.
	Spec string
	// Reason says what is wrong with it, e.g. "never fires (no matching
	// time within five years)".
	Reason string
}

// Error names the schedule, the reason and valid examples.
func (e *SpecError) Error() string {
	return fmt.Sprintf("schedule %q: %s (examples: %s)", e.Spec, e.Reason, Examples)
}

// Parse is the one parser of a path schedule, used by the scheduler, the
// config file and the command line alike, so that what one accepts the
// others run. A schedule is a cron expression with an optional leading
// seconds field ("*/30 * * * *", "0 */5 * * * *") or a descriptor
// ("@hourly", "@every 6h"), optionally after a "CRON_TZ=Area/City " prefix.
// Unlike a bare cron parse it refuses "@every" durations below one second or
// with a fraction of a second (cron would silently round them) and
// schedules that never fire, and it never panics (cron v3.0.1 panics on
// "CRON_TZ=UTC" without a space). Errors are *SpecError.
func Parse(spec string) (cron.Schedule, error) {
	s, reason := parse(strings.TrimSpace(spec))
	if reason != "" {
		return nil, &SpecError{Spec: spec, Reason: reason}
	}
	return s, nil
}

func parse(spec string) (s cron.Schedule, reason string) {
	if spec == "" {
		return nil, "empty schedule"
	}
	if d, ok := strings.CutPrefix(spec, "@every "); ok {
		every, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Sprintf("%q is not a duration", strings.TrimSpace(d))
		}
		if every < time.Second || every%time.Second != 0 {
			return nil, fmt.Sprintf("@every needs a whole number of seconds, at least 1s (got %s)", every)
		}
	}
	if (strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=")) && !strings.Contains(spec, " ") {
		return nil, "a CRON_TZ= prefix must be followed by a space and a schedule"
	}
	defer func() {
		if r := recover(); r != nil {
			s, reason = nil, fmt.Sprintf("cannot parse: %v", r)
		}
	}()
	s, err := Parser.Parse(spec)
	if err != nil {
		return nil, err.Error()
	}
	if s.Next(gapWindowStart).IsZero() {
		return nil, "never fires (no matching time within five years)"
	}
	return s, ""
}

// The window over which Gaps are taken. It starts on a Monday at midnight
// UTC and spans eight weeks (to 3 March 2025), so it holds whole weeks,
// a 31-day and a 28-day month, and no daylight saving change in any zone
// that has one. A schedule without CRON_TZ is read in UTC there, whatever
// the machine's zone.
var gapWindowStart = time.Date(2025, time.January, 6, 0, 0, 0, 0, time.UTC)

const (
	gapWindow = 8 * 7 * 24 * time.Hour
	// gapMinRuns: runs looked at whatever the window, so that a monthly or
	// yearly schedule has two gaps.
	gapMinRuns = 3
	// gapMaxRuns bounds the work: a schedule that fires more often than
	// every 50 s or so is judged on its first gapMaxRuns runs.
	gapMaxRuns = 100_000
)

// Gaps describe how far apart the runs of a schedule are. They are the one
// definition of a schedule's spacing: they are taken over a fixed window
// (eight weeks from Monday 6 January 2025, 00:00 UTC; at least its first
// three runs, at most 100,000), so the same schedule always gives the same
// answer, whenever and wherever it is asked. For "@every D" both are D;
// "0 9,10 * * *" has a Shortest of 1h and a Longest of 23h; "0 9 * * MON-FRI"
// 24h and 72h.
type Gaps struct {
	// Shortest is the shortest time between two consecutive runs: the
	// schedule's period. A run that takes longer overlaps the next one
	// (which is skipped), and a start delayed by more than it (jitter) would
	// run into the next, so run-time warnings and jitter use it.
	Shortest time.Duration
	// Longest is the longest time between two consecutive runs: how long a
	// path goes without a new result when every run succeeds. Staleness is
	// judged against it (idleprobe_measurement_interval_seconds), so that a
	// quiet night or weekend of the schedule does not look stale.
	Longest time.Duration
}

// gapsCache keeps the Gaps of the schedules seen: they depend on the spec
// alone, and walking eight weeks of runs costs up to milliseconds, which a
// config of a thousand paths pays several times per path (decode, validate,
// the service) on every load and reload.
var gapsCache struct {
	sync.Mutex
	m map[string]gapsEntry
}

type gapsEntry struct {
	g   Gaps
	err error
}

// gapsCacheMax bounds the cache: past it, Gaps are computed every time.
const gapsCacheMax = 10_000

// GapsOf returns the Gaps of spec (see Parse for the syntax).
func GapsOf(spec string) (Gaps, error) {
	gapsCache.Lock()
	e, ok := gapsCache.m[spec]
	gapsCache.Unlock()
	if ok {
		return e.g, e.err
	}
	g, err := gapsOf(spec)
	gapsCache.Lock()
	if gapsCache.m == nil {
		gapsCache.m = make(map[string]gapsEntry)
	}
	if len(gapsCache.m) < gapsCacheMax {
		gapsCache.m[spec] = gapsEntry{g, err}
	}
	gapsCache.Unlock()
	return g, err
}

func gapsOf(spec string) (Gaps, error) {
	s, err := Parse(spec)
	if err != nil {
		return Gaps{}, err
	}
	if every, ok := s.(cron.ConstantDelaySchedule); ok {
		return Gaps{Shortest: every.Delay, Longest: every.Delay}, nil
	}
	end := gapWindowStart.Add(gapWindow)
	if p, ok := cycle(s); ok {
		// The runs repeat every p in the window (it has no daylight saving
		// change): two cycles hold every gap, the one across cycles too.
		end = gapWindowStart.Add(2 * p)
	}
	g := walkGaps(s, end)
	if g.Longest == 0 {
		return Gaps{}, &SpecError{Spec: spec, Reason: "fires too rarely to have a period (less than twice in five years)"}
	}
	return g, nil
}

// walkGaps takes the gaps between the runs of s from the window's start
// until end (at least gapMinRuns runs, at most gapMaxRuns).
func walkGaps(s cron.Schedule, end time.Time) Gaps {
	g := Gaps{Shortest: math.MaxInt64}
	prev := s.Next(gapWindowStart)
	for runs := 1; runs < gapMaxRuns; runs++ {
		next := s.Next(prev)
		if next.IsZero() || (runs >= gapMinRuns && next.After(end)) {
			break
		}
		gap := next.Sub(prev)
		g.Shortest, g.Longest = min(g.Shortest, gap), max(g.Longest, gap)
		prev = next
	}
	return g
}

// starBit marks a cron field written "*" or "?" (robfig/cron's encoding).
const starBit = 1 << 63

// cycle returns the time after which the runs of s repeat when that is a
// day (every day of every month: only the time fields are set) or a week
// (only the day of the week is set besides them).
func cycle(s cron.Schedule) (time.Duration, bool) {
	sp, ok := s.(*cron.SpecSchedule)
	if !ok || sp.Dom&starBit == 0 || sp.Month&starBit == 0 {
		return 0, false
	}
	if sp.Dow&starBit != 0 {
		return 24 * time.Hour, true
	}
	return 7 * 24 * time.Hour, true
}

// Period returns the interval to export for a schedule: Gaps.Longest, the
// longest a path goes without a new result when every run succeeds (see
// Gaps). It does not depend on when it is asked.
func Period(spec string) (time.Duration, error) {
	g, err := GapsOf(spec)
	if err != nil {
		return 0, err
	}
	return g.Longest, nil
}
