package main

// Human-readable output: the summary and the live progress line. The
// wording of results is the advice package's.

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Durations and brackets are printed the way the advice package prints
// them, so the summary, the progress line and the landing page agree.
var (
	fmtDur     = advice.Dur
	fmtBracket = advice.Bracket
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

// writeSummary prints the human summary of r: how it ended, the limit on
// its clock, a second (lifetime) limit, the spread of closes, what the
// server advertised, the cost, and the advice.
func writeSummary(w io.Writer, r prober.Result) {
	fmt.Fprintln(w, title(r))
	row := func(k, v string) { fmt.Fprintf(w, "  %-15s %s\n", k+":", v) }
	rows := func(k string, vs []string) {
		if len(vs) > 0 {
			row(k, strings.Join(vs, "; "))
		}
	}
	row("Target", r.Target)
	row("Strategy", string(r.Settings.Strategy))
	if e := advice.Ending(r); e != "" && advice.StatusOf(r) != plan.Interrupted {
		// The title says "interrupted"; the other endings say why here.
		row("Status", e)
	}
	row(advice.Heading(r), advice.Limit(r))
	if l := advice.Lifetime(r); l != "" {
		row("Lifetime limit", l)
	}
	rows("Spread", advice.Spread(r))
	rows("Server", advice.Server(r))
	took := fmtDur(r.Duration())
	if advice.StatusOf(r) == plan.Measured && r.Found && r.Upper > 0 {
		took += fmt.Sprintf(" (%.2f x the limit)", r.Duration().Seconds()/r.Upper.Seconds())
	}
	row("Took", took)
	row("Connections", fmt.Sprintf("%d opened, at most %d open at once", r.ConnectionsOpened, r.PeakConnections))
	row("Trials", fmt.Sprintf("%d (%d agree, %d disagree)", len(r.Trials), r.Agree, r.Disagree))
	if k := advice.Keepalive(r); k != "" {
		fmt.Fprintln(w, "  TCP keepalive ("+advice.KeepaliveSettings(r)+"): "+k)
	}
	for _, a := range advice.Advice(r) {
		fmt.Fprintln(w, a)
	}
	if warn := advice.Warning(r); warn != "" {
		fmt.Fprintln(w, warn)
	}
}

// progressSnap is what the live display needs from a prober.Progress.
type progressSnap struct {
	at, started  time.Time
	lower, upper time.Duration
	found        bool
	live, trials int
	remaining    time.Duration
	keepalive    bool // the search is done; the TCP keepalive check runs
}

func snapOf(p prober.Progress) progressSnap {
	return progressSnap{
		at: p.Now, started: p.Started,
		lower: p.Partial.Lower, upper: p.Partial.Upper, found: p.Partial.Found,
		live: p.Live, trials: len(p.Partial.Trials), remaining: p.Remaining,
		keepalive: p.Keepalive,
	}
}

// progressLine renders the live status at now.
func progressLine(s progressSnap, now time.Time) string {
	var b strings.Builder
	if el := now.Sub(s.started); el < time.Minute {
		fmt.Fprintf(&b, "%.1fs elapsed | ", el.Seconds())
	} else {
		fmt.Fprintf(&b, "%s elapsed | ", fmtDur(el))
	}
	switch {
	case s.found:
		b.WriteString("limit in " + fmtBracket(s.lower, s.upper))
	case s.lower > 0:
		b.WriteString("> " + fmtDur(s.lower) + " so far")
	default:
		b.WriteString("no trial done yet")
	}
	if s.keepalive {
		b.WriteString(" | checking TCP keepalive...")
	}
	fmt.Fprintf(&b, " | %d live conn", s.live)
	if s.live != 1 {
		b.WriteString("s")
	}
	fmt.Fprintf(&b, " | %d trial", s.trials)
	if s.trials != 1 {
		b.WriteString("s")
	}
	if s.remaining > 0 {
		left := s.remaining - now.Sub(s.at)
		if left < 0 {
			left = 0
		}
		if left < time.Minute {
			fmt.Fprintf(&b, " | about %ds left", int64(left.Round(time.Second)/time.Second))
		} else {
			b.WriteString(" | about " + fmtDur(left) + " left")
		}
	}
	return b.String()
}

// ratio prints a/b with two decimals, or "-" when b is zero.
func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a.Seconds()/b.Seconds())
}

// pct prints a fraction as a percentage: 0.0213 -> "2.1%".
func pct(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", f*100)
}
