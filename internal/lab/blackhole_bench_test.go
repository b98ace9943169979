package lab

import (
	"fmt"
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
