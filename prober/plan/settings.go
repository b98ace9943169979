package plan

import (
	"errors"
	"fmt"
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
