package lab

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// BenchmarkLabBlackHole measures the kernel black hole (scenario 2's
// drop mode: conntrack forgets flows idle for T and drops what follows)
// with the real binary, the default trial timeout (5 s) and default
// settings, with --max 20s and the default 1h, and reports:
//
//	wall/T     wall time over the limit
//	width%     bracket width in percent of T
//	suspect_s  how long after the first black-holed reuse began the
//	           search narrowed the bracket (its first fine-step reuse)
//	decided_s  the longest a dropped reuse took: the early verdict
//	           (about 0.8 s here) or the trial timeout (5 s)
//	early      how many dropped reuses were decided on the evidence
//	dropped    how many reuses were dropped in all
//
// Reproduce with:
//
//	sudo go test ./internal/lab -run '^$' -bench LabBlackHole -benchtime 1x -v
func BenchmarkLabBlackHole(b *testing.B) {
	Require(b)
	const T = 5 * time.Second
	for _, maxIdle := range []time.Duration{4 * T, time.Hour} {
		b.Run(fmt.Sprintf("T=%s/max=%s", T, maxIdle), func(b *testing.B) {
			l := New(b, Options{Timeout: T, Mode: Drop})
			l.StartResponder(b, l.Server, ":80", ":7")
			var r plan.Result
			for b.Loop() {
				r = l.Measure(b, "--max", maxIdle.String(), vipURL(l, 80))
			}
			if !r.Found || r.Mode != plan.Dropped || r.Lower > T+ackSlack || r.Upper < T-jiffySlack {
				b.Fatalf("wrong answer for a black hole at T=%s: %s", T, Summary(r))
			}
			b.ReportMetric(r.Duration().Seconds()/T.Seconds(), "wall/T")
			b.ReportMetric(100*r.Width().Seconds()/T.Seconds(), "width%")
			b.ReportMetric(firstNarrowing(r).Seconds(), "suspect_s")
			var decided time.Duration
			early, dropped := 0, 0
			for _, t := range r.Trials {
				if t.Outcome == plan.Dropped {
					dropped++
					decided = max(decided, t.End.Sub(t.Start))
					if strings.HasPrefix(t.Detail, "no acknowledgement after") {
						early++
					}
				}
			}
			b.ReportMetric(decided.Seconds(), "decided_s")
			b.ReportMetric(float64(early), "early")
			b.ReportMetric(float64(dropped), "dropped")
			b.Logf("LAB-BLACKHOLE T=%s max=%s wall=%.2fs wall/T=%.2f %s", T, maxIdle, r.Duration().Seconds(), r.Duration().Seconds()/T.Seconds(), Summary(r))
		})
	}
}

// firstNarrowing is how long after the first dropped reuse began the next
// reuse (the fine step) began: the time the search took to act on it.
func firstNarrowing(r plan.Result) time.Duration {
	var first time.Time
	for _, t := range r.Trials {
		if t.Outcome == plan.Dropped && (first.IsZero() || t.Start.Before(first)) {
			first = t.Start
		}
	}
	var next time.Time
	for _, t := range r.Trials {
		if t.Start.After(first) && (next.IsZero() || t.Start.Before(next)) {
			next = t.Start
		}
	}
	if first.IsZero() || next.IsZero() {
		return 0
	}
	return next.Sub(first)
}
