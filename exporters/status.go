package exporters

import (
	"context"
	"errors"
	"strings"

	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Settle returns r with its Status (and, for a failed measurement, its
// Reason) filled in from err when the measurement did not set them (a
// result of an older build, or an error before the search began), and its
// Kind Idle when unset, as a stored result is read. The
// status follows err: cancellation is Interrupted, prober.ErrInconclusive
// or a context deadline Inconclusive, any other error Unusable; without an
// error a complete result is Measured and a cut-short one Interrupted.
func Settle(r plan.Result, err error) plan.Result {
	if r.Status == "" {
		switch {
		case errors.Is(err, context.Canceled):
			r.Status = plan.Interrupted
		case errors.Is(err, prober.ErrInconclusive), errors.Is(err, context.DeadlineExceeded):
			r.Status = plan.Inconclusive
		case err != nil:
			r.Status = plan.Unusable
		default:
			r.Status = advice.StatusOf(r)
		}
	}
	r.Kind = advice.KindOf(r)
	if r.Reason == "" && err != nil && (r.Status == plan.Inconclusive || r.Status == plan.Unusable) {
		r.Reason = strings.Join(strings.Fields(err.Error()), " ")
	}
	return r
}

// Publishable reports whether r may be published (metrics, state file,
// textfile, Pushgateway): a complete, measured result. A partial bracket,
// an inconclusive or an unusable ending never replaces a previous result.
func Publishable(r plan.Result) bool {
	return r.Complete && advice.StatusOf(r) == plan.Measured
}

// Classify names the "result" of a measurement that returned r and err:
// success for a publishable result without error, cancelled when it was
// interrupted (shutdown, reload, or cut short without an error), failure
// otherwise: inconclusive, unusable, or a deadline that ran out.
func Classify(r plan.Result, err error) string {
	s := Settle(r, err)
	switch {
	case err == nil && Publishable(s):
		return ResultSuccess
	case s.Status == plan.Interrupted:
		return ResultCancelled
	default:
		return ResultFailure
	}
}

// Failure is the one-line reason shown for a failed measurement (landing
// page, logs): how it ended and why, with its evidence.
func Failure(r plan.Result, err error) string {
	s := Settle(r, err)
	if e := advice.Ending(s); e != "" && s.Status != plan.Interrupted {
		return e
	}
	if err != nil {
		return strings.Join(strings.Fields(err.Error()), " ")
	}
	return "the measurement did not finish"
}
