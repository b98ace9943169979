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

func TestProgressLine(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		s    progressSnap
		now  time.Time
		want string
	}{
		{
			name: "nothing yet",
			s:    progressSnap{at: start, started: start, live: 1},
			now:  start.Add(300 * time.Millisecond),
			want: "0.3s elapsed | no trial done yet | 1 live conn | 0 trials",
		},
		{
			name: "lower bound so far",
			s:    progressSnap{at: start.Add(40 * time.Second), started: start, lower: 40 * time.Second, live: 12, trials: 9, remaining: 50 * time.Minute},
			now:  start.Add(41 * time.Second),
			want: "41.0s elapsed | > 40.0s so far | 12 live conns | 9 trials | about 49m 59s left",
		},
		{
			name: "bracketed",
			s:    progressSnap{at: start.Add(12 * time.Second), started: start, lower: 12 * time.Second, upper: 12300 * time.Millisecond, found: true, live: 5, trials: 1, remaining: 3 * time.Second},
			now:  start.Add(13 * time.Second),
			want: "13.0s elapsed | limit in (12.00s, 12.30s] | 5 live conns | 1 trial | about 2s left",
		},
		{
			name: "estimate used up",
			s:    progressSnap{at: start, started: start, lower: 2 * time.Second, live: 2, trials: 3, remaining: time.Second},
			now:  start.Add(90 * time.Second),
			want: "1m 30s elapsed | > 2.00s so far | 2 live conns | 3 trials | about 0s left",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := progressLine(tc.s, tc.now); got != tc.want {
				t.Errorf("progressLine =\n  %q\nwant\n  %q", got, tc.want)
			}
		})
	}
}

func TestDisplayRedraws(t *testing.T) {
	var b outBuf
	start := time.Now()
	d := startDisplay(&b, start)
	d.update(prober.Progress{Now: start, Started: start, Live: 3, Partial: prober.Result{Lower: 2 * time.Second}})
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(b.String(), "3 live conns") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	d.stop()
	out := b.String()
	if !strings.Contains(out, "\r") || !strings.Contains(out, "> 2.00s so far | 3 live conns") {
		t.Fatalf("display output lacks a redrawn progress line: %q", out)
	}
	if !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("display did not clear its line when stopped: %q", out)
	}
	if strings.Contains(out, "\n") {
		t.Errorf("display wrote a newline: %q", out)
	}
}
