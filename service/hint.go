package service

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/idleprobe/idleprobe/configs"
	"github.com/idleprobe/idleprobe/internal/durfmt"
	"github.com/idleprobe/idleprobe/prober/plan"
	"github.com/idleprobe/idleprobe/service/state"
)

// Re-measurement from the last answer: when may a scheduled run start from
// the path's last stored result (plan.Settings.Hint)? The hint only decides
// where the search looks first; the verdict comes from the run's own
// trials either way. So the rules below are about not wasting the run on a
// hint that says nothing, never about trusting an old answer.

// hintMinAge is the least age past which a stored result is too old to
// start from, whatever the schedule: a hint older than
// max(hintMinAge, hintPeriods x the schedule's period) describes a path
// that idleprobe has not seen for a long time.
const (
	hintMinAge  = 7 * 24 * time.Hour
	hintPeriods = 3
)

// measureKey identifies what a measurement of p measures and how: the
// target, the search settings a result depends on (min, max, precision,
// confirm) and everything that shapes a connection or a reuse (trial
// timeout, TLS, request, tcp payload). Schedule, labels, budget, strategy,
// deadline and the hint switch do not change the limit a run finds.
func measureKey(p configs.Path) string {
	q := struct {
		Target                   string
		Min, Max, Floor, Timeout time.Duration
		Precision                float64
		Confirm                  int
		TLS                      configs.TLS
		Request                  configs.Request
		TCP                      configs.TCP
	}{p.Target, p.MinIdle, p.MaxIdle, p.PrecisionFloor, p.TrialTimeout, p.Precision, p.Confirm, p.TLS, p.Request, p.TCP}
	// fmt prints maps (request headers) sorted by key: a canonical form.
	sum := sha256.Sum256(fmt.Appendf(nil, "%#v", q))
	return hex.EncodeToString(sum[:16])
}

// hintFor decides whether a run of p, due at now, starts from the path's
// stored entry e (ok false when there is none): it returns the hint, or 0
// and why not (for the log).
func hintFor(p configs.Path, e state.Entry, ok bool, now time.Time, period time.Duration) (time.Duration, string) {
	r := e.Result
	s := p.Settings()
	maxAge := max(hintMinAge, hintPeriods*period)
	switch {
	case p.Hint == configs.HintOff:
		return 0, "hint: off in the config"
	case p.Strategy != plan.Parallel:
		return 0, "the sequential strategy always runs a full search"
	case p.Budget < plan.HintConnections:
		return 0, fmt.Sprintf("the budget (%d) is below the %d connections a hinted search uses", p.Budget, plan.HintConnections)
	case !ok:
		return 0, "no stored result"
	case e.Path.Target != p.Target:
		return 0, "the stored result is for another target"
	case e.Key != "" && e.Key != measureKey(p):
		return 0, "the path's settings changed since the stored result"
	case r.Settings.Min != s.Min || r.Settings.Max != s.Max || r.Settings.Precision != s.Precision ||
		r.Settings.PrecisionFloor != s.PrecisionFloor || r.Settings.Confirm != s.Confirm:
		return 0, "the search settings changed since the stored result"
	case r.Status != plan.Measured || !r.Complete:
		return 0, "the stored result is not a clean answer"
	case !r.Found:
		return 0, "the stored result found no limit up to max: nothing to start from"
	case now.Sub(r.Finished) > maxAge:
		return 0, "the stored result is older than " + durfmt.Short(maxAge)
	}
	s.Hint = r.Upper
	if err := s.ValidateHint(); err != nil {
		return 0, "the stored limit cannot be a hint: " + err.Error()
	}
	return r.Upper, ""
}
