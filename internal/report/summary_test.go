package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// result builds a finished result for the summary tests.
func result(mut func(r *prober.Result)) prober.Result {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := prober.Result{
		Target:            "http://192.0.2.7:8080/",
		Settings:          plan.Defaults(),
		Complete:          true,
		Started:           start,
		Finished:          start.Add(975 * time.Second),
		ConnectionsOpened: 23,
		PeakConnections:   12,
		Agree:             41,
		Trials:            make([]plan.Trial, 41),
	}
	mut(&r)
	return r
}

func TestSummaryAndAdvice(t *testing.T) {
	tests := []struct {
		name string
		r    prober.Result
		want []string // lines or fragments that must appear
		not  []string // fragments that must not
	}{
		{
			name: "reset",
			r: result(func(r *prober.Result) {
				r.Found, r.Mode, r.Lower, r.Upper = true, plan.Reset, 900*time.Second, 917500*time.Millisecond
			}),
			want: []string{
				"idleprobe result\n",
				"  Target:         http://192.0.2.7:8080/\n",
				"  Strategy:       parallel\n",
				"  Idle limit:     reset by a hop (RST) after 900.0-917.5 s idle (about 15m 18s)\n",
				"  Took:           16m 15s (1.06 x the limit)\n",
				"  Connections:    23 opened, at most 12 open at once\n",
				"  Trials:         41 (41 agree, 0 disagree)\n",
				"Advice: keep client idle timeouts (nginx upstream keepalive_timeout, Go IdleConnTimeout, pool max-idle) below 810 s (13m 30s), or enable TCP keepalive with an idle time below that.\n",
			},
			not: []string{"PARTIAL", "Warning"},
		},
		{
			name: "closed while idle, exact",
			r: result(func(r *prober.Result) {
				r.Found, r.Mode, r.Lower, r.Upper, r.CloseAge = true, plan.ClosedIdle, 4*time.Second, 5002*time.Millisecond, 5002*time.Millisecond
			}),
			want: []string{
				"server (or a proxy in front of it) closed idle connections at exactly 5.00 s\n",
				"below 4.5 s. TCP keepalive does not help here",
			},
		},
		{
			name: "black hole",
			r: result(func(r *prober.Result) {
				r.Found, r.Mode, r.Lower, r.Upper = true, plan.Dropped, 350*time.Second, 356*time.Second
			}),
			want: []string{"black hole (dropped): packets silently vanish after 350.0-356.0 s idle (about 5m 56s)", "below 315 s (5m 15s), or enable TCP keepalive", "hang until a timeout"},
		},
		{
			name: "closed on reuse",
			r: result(func(r *prober.Result) {
				r.Found, r.Mode, r.Lower, r.Upper = true, plan.ClosedOnReuse, 60*time.Second, 61*time.Second
			}),
			want: []string{"closed on reuse (EOF", "below 54 s. TCP keepalive does not help"},
		},
		{
			name: "no limit",
			r: result(func(r *prober.Result) {
				r.Lower = time.Hour
			}),
			want: []string{"no limit up to 1h (lower bound)", "Advice: nothing to change for idle times up to 1h", "  Took:           16m 15s\n"},
			not:  []string{"x the limit", "keep client idle timeouts"},
		},
		{
			name: "even min failed",
			r: result(func(r *prober.Result) {
				r.Found, r.Mode, r.Lower, r.Upper = true, plan.Reset, 0, time.Second
			}),
			want: []string{"at most 1.00 s idle (even the shortest idle time tried failed)", "rerun with a smaller --min"},
			not:  []string{"keep client idle timeouts"},
		},
		{
			name: "interrupted with a bracket",
			r: result(func(r *prober.Result) {
				r.Complete, r.Found, r.Mode, r.Lower, r.Upper = false, true, plan.Reset, 12*time.Second, 13*time.Second
			}),
			want: []string{"idleprobe PARTIAL result (interrupted; the bracket below is not final)\n", "limit in (12.0s, 13.0s] so far (reset)", "Advice: none yet"},
			not:  []string{"x the limit", "keep client idle timeouts", "Status:"},
		},
		{
			name: "interrupted early",
			r: result(func(r *prober.Result) {
				r.Complete, r.Lower = false, 40*time.Second
			}),
			want: []string{"PARTIAL", "no limit seen yet: connections survived 40.0s idle so far"},
		},
		{
			name: "flaky",
			r: result(func(r *prober.Result) {
				r.Found, r.Mode, r.Lower, r.Upper, r.Disagree = true, plan.Reset, 60*time.Second, 61*time.Second, 2
			}),
			want: []string{"Warning: 2 trial(s) disagree with this bracket"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			WriteSummary(&b, tc.r)
			out := b.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("summary lacks %q; got:\n%s", w, out)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Errorf("summary contains %q; got:\n%s", n, out)
				}
			}
		})
	}
}
