package main

// Human-readable output: durations, brackets, the summary and the advice.

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// safetyMargin is the fraction of the measured limit the advice keeps in
// reserve: clocks differ, limits drift, and timers fire late.
const safetyMargin = 0.10

// fmtDur prints a duration for people: 250ms, 3.05s, 12.3s, 15m 12s, 1h 2m.
func fmtDur(d time.Duration) string {
	if d < 0 {
		return "-" + fmtDur(-d)
	}
	switch {
	case d == 0:
		return "0s"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Round(time.Millisecond)/time.Millisecond)
	case d < 10*time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		d = d.Round(time.Second)
		m, s := d/time.Minute, (d%time.Minute)/time.Second
		if s == 0 {
			return fmt.Sprintf("%dm", m)
		}
		return fmt.Sprintf("%dm %ds", m, s)
	default:
		d = d.Round(time.Minute)
		h, m := d/time.Hour, (d%time.Hour)/time.Minute
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh %dm", h, m)
	}
}

// decimalsFor returns how many decimals make a bracket of width w readable:
// enough to tell its ends apart, no more.
func decimalsFor(w time.Duration) int {
	switch {
	case w >= 100*time.Second:
		return 0
	case w >= time.Second:
		return 1
	case w >= 100*time.Millisecond:
		return 2
	default:
		return 3
	}
}

// fmtSecs prints d in seconds with the given decimals, without a unit.
func fmtSecs(d time.Duration, decimals int) string {
	return fmt.Sprintf("%.*f", decimals, d.Seconds())
}

// fmtRange prints a bracket as "900.0-917.5 s".
func fmtRange(lo, hi time.Duration) string {
	dec := decimalsFor(hi - lo)
	return fmtSecs(lo, dec) + "-" + fmtSecs(hi, dec) + " s"
}

// about gives the size of a long limit in words: " (about 15m 18s)", or
// nothing below two minutes.
func about(d time.Duration) string {
	if d < 2*time.Minute {
		return ""
	}
	return " (about " + fmtDur(d) + ")"
}

// fmtExact prints an exactly known age: "5.00 s", "900.0 s (15m)".
func fmtExact(d time.Duration) string {
	dec := 2
	if d >= 100*time.Second {
		dec = 1
	}
	s := fmtSecs(d, dec) + " s"
	if d >= 2*time.Minute {
		s += " (" + fmtDur(d) + ")"
	}
	return s
}

// fmtBracket prints the bracket compactly for the progress line and tables:
// "(12.0s, 12.3s]".
func fmtBracket(lo, hi time.Duration) string {
	dec := decimalsFor(hi - lo)
	return "(" + fmtSecs(lo, dec) + "s, " + fmtSecs(hi, dec) + "s]"
}

// describeLimit says in words what the measurement found.
func describeLimit(r prober.Result) string {
	if !r.Complete {
		switch {
		case r.Found:
			return "limit in " + fmtBracket(r.Lower, r.Upper) + " so far (" + modeWord(r.Mode) + ")"
		case r.Lower > 0:
			return "no limit seen yet: connections survived " + fmtDur(r.Lower) + " idle so far"
		default:
			return "nothing known yet: no trial finished"
		}
	}
	if !r.Found {
		return "no limit up to " + fmtDur(r.Settings.Max) + " (lower bound)"
	}
	if r.Mode == plan.ClosedIdle && r.CloseAge > 0 {
		return "server (or a proxy in front of it) closed idle connections at exactly " + fmtExact(r.CloseAge)
	}
	span := fmtRange(r.Lower, r.Upper) + " idle" + about(r.Upper)
	if r.Lower == 0 {
		span = "at most " + fmtExact(r.Upper) + " idle (even the shortest idle time tried failed)"
	}
	switch r.Mode {
	case plan.Reset:
		return "reset by a hop (RST) after " + span
	case plan.Dropped:
		return "black hole (dropped): packets silently vanish after " + span
	case plan.ClosedIdle:
		return "closed while idle (by the server or a proxy) after " + span
	case plan.ClosedOnReuse:
		return "closed on reuse (EOF: the server or a proxy had closed it) after " + span
	default:
		return string(r.Mode) + " after " + span
	}
}

// modeWord is a short name for a failure mode.
func modeWord(m prober.Outcome) string {
	switch m {
	case plan.Reset:
		return "reset"
	case plan.Dropped:
		return "black hole"
	case plan.ClosedIdle:
		return "closed while idle"
	case plan.ClosedOnReuse:
		return "closed on reuse"
	}
	return string(m)
}

// safeIdle is the limit minus the safety margin, rounded down to a unit a
// person would put in a config file.
func safeIdle(limit time.Duration) time.Duration {
	v := time.Duration(float64(limit) * (1 - safetyMargin))
	var unit time.Duration
	switch {
	case v >= 10*time.Second:
		unit = time.Second
	case v >= time.Second:
		unit = 100 * time.Millisecond
	default:
		unit = 10 * time.Millisecond
	}
	return v.Truncate(unit)
}

// fmtSafe prints an advice value: "58 s", "13m 30s" style for long ones,
// "2.7 s", "450 ms".
func fmtSafe(d time.Duration) string {
	switch {
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d s (%s)", int64(d/time.Second), fmtDur(d))
	case d >= 10*time.Second:
		return fmt.Sprintf("%d s", int64(d/time.Second))
	case d >= time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	default:
		return fmt.Sprintf("%d ms", int64(d/time.Millisecond))
	}
}

// advice is the plain-language line telling an operator what to configure.
func advice(r prober.Result) string {
	if !r.Complete {
		return "Advice: none yet: the measurement did not finish. Run it to the end for a limit you can rely on."
	}
	if !r.Found {
		return fmt.Sprintf("Advice: nothing to change for idle times up to %s: this path kept every idle connection that long. Raise --max to look further.", fmtDur(r.Settings.Max))
	}
	limit := r.Lower
	if r.Mode == plan.ClosedIdle && r.CloseAge > 0 {
		limit = r.CloseAge
	}
	if limit <= 0 {
		return fmt.Sprintf("Advice: connections failed even after the shortest idle time tried (%s): rerun with a smaller --min, and check that the target keeps connections alive at all.", fmtDur(r.Settings.Min))
	}
	safe := safeIdle(limit)
	clients := "client idle timeouts (nginx upstream keepalive_timeout, Go IdleConnTimeout, pool max-idle)"
	if ka, ok := keepaliveAdvice(r); ok {
		// The keepalive check answered: say what it found, not a guess.
		return fmt.Sprintf("Advice: keep %s below %s%s", clients, fmtSafe(safe), ka)
	}
	switch r.Mode {
	case plan.ClosedIdle, plan.ClosedOnReuse:
		// A close (FIN) comes from an application-level idle timer; TCP
		// keepalive probes carry no data and do not reset it.
		return fmt.Sprintf("Advice: keep %s below %s. TCP keepalive does not help here: the server or a proxy closes idle connections itself.", clients, fmtSafe(safe))
	case plan.Dropped:
		return fmt.Sprintf("Advice: keep %s below %s, or enable TCP keepalive with an idle time below that. Past the limit, requests on stale connections hang until a timeout instead of failing fast.", clients, fmtSafe(safe))
	default:
		return fmt.Sprintf("Advice: keep %s below %s, or enable TCP keepalive with an idle time below that.", clients, fmtSafe(safe))
	}
}

// writeSummary prints the human summary of r. interrupted marks a result
// cut short by a signal.
func writeSummary(w io.Writer, r prober.Result, interrupted bool) {
	title := "idleprobe result"
	if !r.Complete {
		if interrupted {
			title = "idleprobe PARTIAL result (interrupted; the bracket below is not final)"
		} else {
			title = "idleprobe PARTIAL result (the measurement did not finish)"
		}
	}
	fmt.Fprintln(w, title)
	row := func(k, v string) { fmt.Fprintf(w, "  %-12s %s\n", k+":", v) }
	row("Target", r.Target)
	row("Strategy", string(r.Settings.Strategy))
	row("Idle limit", describeLimit(r))
	took := fmtDur(r.Duration())
	if r.Complete && r.Found && r.Upper > 0 {
		took += fmt.Sprintf(" (%.2f x the limit)", r.Duration().Seconds()/r.Upper.Seconds())
	}
	row("Took", took)
	row("Connections", fmt.Sprintf("%d opened, at most %d open at once", r.ConnectionsOpened, r.PeakConnections))
	row("Trials", fmt.Sprintf("%d (%d agree, %d disagree)", len(r.Trials), r.Agree, r.Disagree))
	if line := keepaliveLine(r); line != "" {
		fmt.Fprintln(w, "  "+line)
	}
	fmt.Fprintln(w, advice(r))
	if r.Disagree > 0 {
		fmt.Fprintf(w, "Warning: %d trial(s) disagree with this bracket: the path may be flaky (restarts, several backends or hops with different limits). Rerun to check.\n", r.Disagree)
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
