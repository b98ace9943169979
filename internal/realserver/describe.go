package realserver

import (
	"fmt"
	"strings"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// describeTrials is the most trials Describe lists one per line.
const describeTrials = 120

// Describe is a measurement result in full, for a test's failure message:
// status and reason, the bracket, kind, mode, lifetime, spread, server
// hints, cost, trial counts, and the trials one per line.
func Describe(r plan.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "result for %s: status %q", r.Target, r.Status)
	if r.Reason != "" {
		fmt.Fprintf(&b, " reason %q", r.Reason)
	}
	fmt.Fprintf(&b, ", complete %v\n", r.Complete)
	if r.Found {
		fmt.Fprintf(&b, "  limit: (%s, %s] width %s, kind %s, mode %s", sec(r.Lower), sec(r.Upper), sec(r.Width()), r.Kind, r.Mode)
	} else {
		fmt.Fprintf(&b, "  limit: none up to max %s (lower %s), kind %q", sec(r.Settings.Max), sec(r.Lower), r.Kind)
	}
	if r.CloseAge > 0 {
		fmt.Fprintf(&b, ", close age %s", sec(r.CloseAge))
	}
	fmt.Fprintf(&b, "; agree %d, disagree %d\n", r.Agree, r.Disagree)
	if l := r.Lifetime; l.Found || l.Lower > 0 || l.Mode != "" {
		fmt.Fprintf(&b, "  lifetime: found %v, (%s, %s], mode %q\n", l.Found, sec(l.Lower), sec(l.Upper), l.Mode)
	}
	if sp := r.Spread; sp != (plan.Spread{}) {
		fmt.Fprintf(&b, "  spread: failures from %s to %s; %d of %d trials beyond the bracket survived (longest %s)\n",
			sec(sp.First), sec(sp.Last), sp.Survived, sp.Beyond, sec(sp.LongestSurvived))
	}
	if s := r.Server; s != (plan.Server{}) {
		fmt.Fprintf(&b, "  server: keep-alive timeout %s max %d, retired %d, retired at reuse %d\n",
			sec(s.KeepAliveTimeout), s.KeepAliveMax, s.Retired, s.RetiredAtReuse)
	}
	st := r.Settings
	fmt.Fprintf(&b, "  settings: %s, min %s, max %s, precision %g floor %s, budget %d, confirm %d, deadline %s\n",
		st.Strategy, sec(st.Min), sec(st.Max), st.Precision, sec(st.PrecisionFloor), st.Budget, st.Confirm, sec(st.Deadline))
	fmt.Fprintf(&b, "  took %s; %d connections (peak %d); %d trials:", sec(r.Duration()), r.ConnectionsOpened, r.PeakConnections, len(r.Trials))
	counts := r.Counts()
	for _, o := range plan.Outcomes {
		if counts[o] > 0 {
			fmt.Fprintf(&b, " %s %d", o, counts[o])
		}
	}
	b.WriteString("\n")
	for i, tr := range r.Trials {
		if i == describeTrials {
			fmt.Fprintf(&b, "  ... %d more trials\n", len(r.Trials)-describeTrials)
			break
		}
		at := tr.End.Sub(r.Started)
		if tr.End.IsZero() {
			at = 0
		}
		fmt.Fprintf(&b, "  %3d at %s: conn %d idle %s conn-age %s reuse %d -> %s", i+1, sec(at), tr.Conn, sec(tr.Age), sec(tr.ConnAge), tr.Reuse, tr.Outcome)
		if tr.Confirm {
			b.WriteString(" (confirm)")
		}
		if tr.Retired {
			b.WriteString(" (retired)")
		}
		if tr.Detail != "" {
			fmt.Fprintf(&b, " %q", tr.Detail)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// sec formats d in seconds with millisecond precision.
func sec(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }
