package configs

import "time"

// DefaultJitter is the jitter of a path that sets none: 10 % of the schedule
// period (its shortest gap, see schedule.Gaps), at most MaxJitterDefault.
func DefaultJitter(period time.Duration) time.Duration {
	return min(period/10, MaxJitterDefault)
}
