package plan

import "time"

// TEMPORARY stubs, replaced by the real planners.
func newParallel(s Settings, start time.Time) Planner   { return nil }
func newSequential(s Settings, start time.Time) Planner { return nil }
