package plan

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkStrategies runs both strategies on the simulated path for the
// limits of the issue and reports, besides the CPU cost of planning:
//
//	wall/T       predicted wall time over the limit
//	width%       bracket width in percent of the limit
//	peak_conns   most connections open at once
//	opened_conns connections opened in all
//
// Reproduce with:
//
//	go test ./prober/plan -run '^$' -bench Strategies -benchtime 1x
func BenchmarkStrategies(b *testing.B) {
	limits := []time.Duration{5 * time.Second, time.Minute, 350 * time.Second, 15 * time.Minute, time.Hour}
	for _, st := range []Strategy{Parallel, Sequential} {
		for _, mode := range []Outcome{Reset, ClosedIdle, Dropped} {
			for _, T := range limits {
				b.Run(fmt.Sprintf("%s/%s/T=%s", st, mode, T), func(b *testing.B) {
					s := Defaults()
					s.Strategy = st
					if T >= s.Max {
						s.Max = 2 * T
					}
					var r Result
					for b.Loop() {
						var err error
						r, err = Simulate(s, SimPath{Limit: T, Mode: mode})
						if err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(r.Duration().Seconds()/T.Seconds(), "wall/T")
					b.ReportMetric(100*float64(r.Upper-r.Lower)/float64(T), "width%")
					b.ReportMetric(float64(r.PeakConnections), "peak_conns")
					b.ReportMetric(float64(r.ConnectionsOpened), "opened_conns")
				})
			}
		}
	}
}

// BenchmarkBlackHole runs the parallel strategy on a black hole at the
// limits of the issue, on a 1 ms and a 300 ms path, and reports wall/T,
// the bracket width and the connections (default settings, 5 s trial
// timeout), in three variants of the transport's judge:
//
//	evidence    suspicions, and the early verdict that ends a reuse as
//	            dropped after three unacknowledged retransmissions
//	suspicions  suspicions only: reuses are dropped at the trial timeout
//	timeouts    neither: the planner only learns at the trial timeout
//
// Reproduce with:
//
//	go test ./prober/plan -run '^$' -bench BlackHole -benchtime 1x
func BenchmarkBlackHole(b *testing.B) {
	limits := []time.Duration{5 * time.Second, time.Minute, 350 * time.Second, 15 * time.Minute, time.Hour}
	for _, rtt := range []time.Duration{time.Millisecond, 300 * time.Millisecond} {
		for _, judge := range []string{"evidence", "suspicions", "timeouts"} {
			for _, T := range limits {
				b.Run(fmt.Sprintf("rtt=%s/%s/T=%s", rtt, judge, T), func(b *testing.B) {
					s := settingsFor(Parallel, T)
					p := SimPath{Limit: T, Mode: Dropped, Latency: rtt, NoEarlyVerdict: judge != "evidence"}
					var r Result
					for b.Loop() {
						r, _ = simJudged(b, s, p, judge == "timeouts")
					}
					if !r.Found || r.Mode != Dropped || r.Lower >= T || r.Upper < T {
						b.Fatalf("wrong answer: %s", describe(r))
					}
					b.ReportMetric(r.Duration().Seconds()/T.Seconds(), "wall/T")
					b.ReportMetric(100*float64(r.Upper-r.Lower)/float64(T), "width%")
					b.ReportMetric(float64(r.PeakConnections), "peak_conns")
					b.ReportMetric(float64(r.ConnectionsOpened), "opened_conns")
				})
			}
		}
	}
}

// hintCases are the moves of the limit since the previous answer that
// BenchmarkHint replays: the hint is the previous upper edge, the path's
// limit is the hint times the factor.
var hintCases = []struct {
	name   string
	factor float64
}{{"unchanged", 1}, {"+20%", 1.2}, {"-20%", 0.8}, {"+50%", 1.5}, {"-50%", 0.5}}

// BenchmarkHint runs the hinted parallel search on the simulated path for
// the limits of the issue, each with a hint that is right, or off by 20 %
// or 50 % either way, and reports (besides the CPU cost of planning):
//
//	wall/T       predicted wall time over the limit
//	width%       bracket width in percent of the limit
//	opened_conns connections opened in all
//	held         1 when the limit was bracketed inside the hint's window
//
// Reproduce with:
//
//	go test ./prober/plan -run '^$' -bench Hint -benchtime 1x
func BenchmarkHint(b *testing.B) {
	limits := []time.Duration{5 * time.Second, time.Minute, 350 * time.Second, 15 * time.Minute, time.Hour}
	for _, mode := range []Outcome{Reset, ClosedIdle, Dropped} {
		for _, T := range limits {
			for _, hc := range hintCases {
				b.Run(fmt.Sprintf("%s/T=%s/%s", mode, T, hc.name), func(b *testing.B) {
					s := settingsFor(Parallel, 2*T)
					prev := time.Duration(float64(T) / hc.factor)
					s.Hint = prev
					var r Result
					for b.Loop() {
						var err error
						r, err = Simulate(s, SimPath{Limit: T, Mode: mode})
						if err != nil {
							b.Fatal(err)
						}
					}
					if !r.Complete || !r.Found || r.Lower >= T || r.Upper < T {
						b.Fatalf("wrong answer: %s", describe(r))
					}
					held := 0.0
					if r.Hint.Held {
						held = 1
					}
					b.ReportMetric(r.Duration().Seconds()/T.Seconds(), "wall/T")
					b.ReportMetric(100*float64(r.Upper-r.Lower)/float64(T), "width%")
					b.ReportMetric(float64(r.ConnectionsOpened), "opened_conns")
					b.ReportMetric(held, "held")
				})
			}
		}
	}
}
