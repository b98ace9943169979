package report

import (
	"fmt"
	"io"

	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// title is the first line of the summary: it says at once whether the
// result below can be relied on.
func title(r prober.Result) string {
	switch advice.StatusOf(r) {
	case plan.Interrupted:
		return "idleprobe PARTIAL result (interrupted; the bracket below is not final)"
	case plan.Inconclusive:
		return "idleprobe PARTIAL result (inconclusive; the bracket below is the evidence so far)"
	case plan.Unusable:
		return "idleprobe result: UNUSABLE target (nothing below is a limit)"
	}
	return "idleprobe result"
}

// WriteSummary prints the human summary of r: how it ended, the limit on
// its clock, a second (lifetime) limit, the spread of closes, what the
// server advertised, the cost, and the advice.
func WriteSummary(w io.Writer, r prober.Result) { writeSummary(w, r, nil) }

// writeSummary is WriteSummary with a line on the proxy the path went
// through (v nil: none).
func writeSummary(w io.Writer, r prober.Result, v *prober.ProxyVerdict) {
	fmt.Fprintln(w, title(r))
	row := func(k, v string) { fmt.Fprintf(w, "  %-15s %s\n", k+":", v) }
	row("Target", r.Target)
	row("Strategy", string(r.Settings.Strategy))
	for _, f := range advice.Setup(r) {
		row(f.Label, f.Text)
	}
	if e := advice.Ending(r); e != "" && advice.StatusOf(r) != plan.Interrupted {
		// The title says "interrupted"; the other endings say why here.
		row("Status", e)
	}
	for _, f := range advice.Findings(r, v) {
		row(f.Label, f.Text)
	}
	took := advice.Dur(r.Duration())
	if advice.StatusOf(r) == plan.Measured && r.Found && r.Upper > 0 {
		took += fmt.Sprintf(" (%.2f x the limit)", r.Duration().Seconds()/r.Upper.Seconds())
	}
	row("Took", took)
	row("Connections", fmt.Sprintf("%d opened, at most %d open at once", r.ConnectionsOpened, r.PeakConnections))
	row("Trials", fmt.Sprintf("%d (%d agree, %d disagree)", len(r.Trials), r.Agree, r.Disagree))
	if k := advice.Keepalive(r); k != "" {
		fmt.Fprintln(w, "  "+advice.RescueName(r)+" ("+advice.KeepaliveSettings(r)+"): "+k)
	}
	for _, a := range advice.Advice(r) {
		fmt.Fprintln(w, a)
	}
	if warn := advice.Warning(r); warn != "" {
		fmt.Fprintln(w, warn)
	}
}
