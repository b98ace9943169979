package plan

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Strategy names a search strategy.
type Strategy string

// The search strategies.
const (
	// Parallel staggers many connections along a geometric ladder of idle
	// ages so that the limit is bracketed shortly after it is first reached.
	Parallel Strategy = "parallel"
	// Sequential is the textbook baseline: one connection idled for 1x, 2x,
	// 4x... the minimum until it fails, then bisection with fresh connections.
	Sequential Strategy = "sequential"
)

// Settings are the knobs of one measurement's search.
type Settings struct {
	Strategy Strategy `json:"strategy"`
	// Min and Max bound the idle ages tested. A path that survives Max has
	// "no limit up to Max".
	Min time.Duration `json:"min"`
	Max time.Duration `json:"max"`
	// Precision is the wanted bracket width relative to the limit (0.02 is
	// 2 %), with PrecisionFloor as an absolute floor: the search stops once
	// upper-lower <= max(Precision*upper, PrecisionFloor).
	Precision      float64       `json:"precision"`
	PrecisionFloor time.Duration `json:"precision_floor"`
	// Budget is the most connections open at once.
	Budget int `json:"budget"`
	// Confirm is how many extra trials re-test each bracket edge before the
	// result is published. 0 turns confirmation off.
	Confirm int `json:"confirm"`
	// Deadline is the longest the search may run. When it passes, the
	// search ends Inconclusive with the evidence it has (unless it is done).
	// 0 means AutoDeadline with the default trial timeout.
	Deadline time.Duration `json:"deadline"`
	// Hint, when set, is a previous answer (its upper edge) to start from:
	// the parallel search tests around it with a few connections and falls
	// back to the full search when the trials contradict it. 0: no hint.
	Hint time.Duration `json:"hint,omitempty"`
}

// Deadline factors, as multiples of Max, of the automatic deadline.
const (
	// ParallelDeadlineFactor: the ladder proves Max in about 1.1 x Max; the
	// rest is room for the fine step and confirmations near Max.
	ParallelDeadlineFactor = 3
	// SequentialDeadlineFactor: doubling idles for about 2 x Max, then each
	// bisection step and confirmation idles for about the limit once.
	SequentialDeadlineFactor = 12
)

// AutoDeadline is the deadline used when Settings.Deadline is 0:
//
//	factor x max + 2 x (confirm + 2) x trialTimeout
//
// with factor ParallelDeadlineFactor (3) or SequentialDeadlineFactor (12).
// With the defaults (parallel, max 1h, confirm 1, timeout 5s) that is
// 3h0m30s. The timeouts leave room for black-holed trials, each of which
// takes a whole trial timeout to be known.
func AutoDeadline(s Settings, trialTimeout time.Duration) time.Duration {
	factor := float64(ParallelDeadlineFactor)
	if s.Strategy == Sequential {
		factor = SequentialDeadlineFactor
	}
	est := factor*float64(s.Max) + 2*float64(max(s.Confirm, 0)+2)*float64(trialTimeout)
	if est >= math.MaxInt64 || math.IsNaN(est) {
		return math.MaxInt64
	}
	return time.Duration(est)
}

// WithDeadline returns s with Deadline filled in from AutoDeadline when it
// is 0.
func (s Settings) WithDeadline(trialTimeout time.Duration) Settings {
	if s.Deadline == 0 {
		s.Deadline = AutoDeadline(s, trialTimeout)
	}
	return s
}

// Defaults returns the settings used when none are given.
func Defaults() Settings {
	return Settings{
		Strategy:       Parallel,
		Min:            time.Second,
		Max:            time.Hour,
		Precision:      0.02,
		PrecisionFloor: 250 * time.Millisecond,
		Budget:         64,
		Confirm:        1,
	}
}

// Validate reports every problem with s, one per line, naming the setting
// and what would be valid. Field names are the command-line flag names.
func (s Settings) Validate() error {
	var errs []error
	switch s.Strategy {
	case Parallel, Sequential:
	default:
		errs = append(errs, fmt.Errorf("strategy: %q is not a strategy (valid: parallel, sequential)", s.Strategy))
	}
	if s.Min <= 0 {
		errs = append(errs, fmt.Errorf("min: %s must be positive (example: 1s)", s.Min))
	}
	if s.Max <= s.Min {
		errs = append(errs, fmt.Errorf("max: %s must be greater than min (%s)", s.Max, s.Min))
	}
	if !(s.Precision > 0 && s.Precision < 1) { // also rejects NaN
		errs = append(errs, fmt.Errorf("precision: %g must be a fraction between 0 and 1 (example: 0.02 for 2 %%)", s.Precision))
	}
	if s.PrecisionFloor < 0 {
		errs = append(errs, fmt.Errorf("precision-floor: %s must not be negative", s.PrecisionFloor))
	}
	if s.Budget < 2 {
		errs = append(errs, fmt.Errorf("budget: %d connections is too few (at least 2)", s.Budget))
	}
	if s.Confirm < 0 {
		errs = append(errs, fmt.Errorf("confirm: %d must not be negative", s.Confirm))
	}
	if s.Deadline < 0 || (s.Deadline > 0 && s.Deadline <= s.Max && s.Max > s.Min) {
		errs = append(errs, fmt.Errorf("deadline: %s must be longer than max (%s), or 0 for the automatic deadline", s.Deadline, s.Max))
	}
	if err := s.ValidateHint(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Width is the bracket width the search aims for when the limit is near
// upper: max(Precision*upper, PrecisionFloor).
func (s Settings) Width(upper time.Duration) time.Duration {
	w := time.Duration(s.Precision * float64(upper))
	if w < s.PrecisionFloor {
		w = s.PrecisionFloor
	}
	return w
}
