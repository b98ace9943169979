package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

const (
	lifetimeKnobs = "the pool's max lifetime (HikariCP maxLifetime, Go sql.DB SetConnMaxLifetime, nginx upstream keepalive_time, Envoy max_connection_duration)"
	idleKnobs     = "client idle timeouts (nginx upstream keepalive_timeout, Go IdleConnTimeout, pool max-idle)"
)

// TestSummaryKindsHintsAndEndings checks the wording of the limit's kind,
// a second (lifetime) limit, the server's hints, the spread of closes and
// the inconclusive and unusable endings.
func TestSummaryKindsHintsAndEndings(t *testing.T) {
	tests := []struct {
		name string
		r    prober.Result
		want []string // lines or fragments that must appear
		not  []string // fragments that must not
	}{
		{
			name: "lifetime: a database's login timeout",
			r: result(func(r *prober.Result) {
				r.Target = "tcp://192.0.2.30:5432"
				r.Kind, r.Found, r.Mode, r.Lower, r.Upper = plan.Lifetime, true, plan.ClosedIdle, 4900*time.Millisecond, 5*time.Second
				r.Lifetime = plan.LifetimeLimit{Found: true, Lower: r.Lower, Upper: r.Upper, Mode: string(plan.ClosedIdle)}
			}),
			want: []string{
				"  Lifetime limit: connections are closed 4.90-5.00 s after they open, whatever was sent since (closed while idle)\n",
				"Advice: keep " + lifetimeKnobs + " below 4.4 s: connections end at that age whatever their idle time, so idle timeouts and TCP keepalive do not help.",
				"Against a database this is its login timeout (PostgreSQL authentication_timeout), not the path: measure the path with `idleprobe responder` behind the same hop.\n",
			},
			// Lifetime repeats the bracket: no second line.
			not: []string{"Idle limit", idleKnobs, "enable TCP keepalive"},
		},
		{
			name: "no idle limit, the server retires connections at an age",
			r: result(func(r *prober.Result) {
				r.Settings.Max, r.Lower = 10*time.Second, 10*time.Second
				r.Lifetime = plan.LifetimeLimit{Found: true, Lower: 3900 * time.Millisecond, Upper: 4100 * time.Millisecond, Mode: "retired"}
				r.Server.Retired = 6
			}),
			want: []string{
				"  Idle limit:     no limit up to 10.0s (lower bound)\n",
				"  Lifetime limit: the server retires connections at 3.90-4.10 s of age (Connection: close after the response)\n",
				"Advice: nothing to change for idle times up to 10.0s",
				"\nAdvice: the server answers, then closes connections of that age, so no request is lost; to avoid reconnecting in the middle of a burst, keep " + lifetimeKnobs + " below 3.5 s.\n",
			},
			// The retirements are the lifetime, not a separate hint.
			not: []string{"Server:", "login timeout"},
		},
		{
			name: "idle and lifetime limits both",
			r: result(func(r *prober.Result) {
				r.Target = "h2://192.0.2.7/"
				r.Found, r.Mode, r.Lower, r.Upper = true, plan.Reset, 59500*time.Millisecond, 60500*time.Millisecond
				r.Lifetime = plan.LifetimeLimit{Found: true, Lower: 590 * time.Second, Upper: 600 * time.Second, Mode: "retired"}
			}),
			want: []string{
				"  Idle limit:     reset by a hop (RST) after 59.5-60.5 s idle\n",
				"  Lifetime limit: the server retires connections at 590.0-600.0 s of age (GOAWAY after the response)\n",
				"Advice: keep " + idleKnobs + " below 53 s, or enable TCP keepalive with an idle time below that.\n",
				"Advice: the server answers, then closes connections of that age", "below 531 s (8m 51s).\n",
			},
		},
		{
			name: "advertised Keep-Alive timeout beside the exact close",
			r: result(func(r *prober.Result) {
				r.Found, r.Mode, r.Lower, r.Upper, r.CloseAge = true, plan.ClosedIdle, 4*time.Second, 5002*time.Millisecond, 5002*time.Millisecond
				r.Server.KeepAliveTimeout = 5 * time.Second
			}),
			want: []string{"  Server:         advertises Keep-Alive timeout=5s (measured: closed at 5.00 s)\n"},
			not:  []string{"closes sooner"},
		},
		{
			name: "advertised longer than a hop allows; a request limit",
			r: result(func(r *prober.Result) {
				r.Found, r.Mode, r.Lower, r.Upper = true, plan.Reset, 59500*time.Millisecond, 60500*time.Millisecond
				r.Server = plan.Server{KeepAliveTimeout: 75 * time.Second, KeepAliveMax: 100, Retired: 4, RetiredAtReuse: 99}
			}),
			want: []string{"  Server:         advertises Keep-Alive timeout=75s, max=100 (measured: limit 59.5-60.5 s idle); something in front of the server closes sooner; closes a connection after 100 requests (keepalive_requests)\n"},
		},
		{
			name: "a request limit on tcp counts reuses",
			r: result(func(r *prober.Result) {
				r.Target = "tcp://192.0.2.7:6379"
				r.Lower = time.Hour
				r.Server = plan.Server{Retired: 3, RetiredAtReuse: 3}
			}),
			want: []string{"  Server:         closes a connection after 3 reuses\n"},
		},
		{
			name: "Redis: closes spread by its timer, not a flaky path",
			r: result(func(r *prober.Result) {
				r.Found, r.Mode, r.Lower, r.Upper, r.CloseAge = true, plan.ClosedIdle, 3*time.Second, 3020*time.Millisecond, 3020*time.Millisecond
				r.Spread = plan.Spread{First: 3 * time.Second, Last: 3100 * time.Millisecond}
			}),
			want: []string{"  Spread:         closes between 3.00 and 3.10 s\n"},
			not:  []string{"Warning", "flaky"},
		},
		{
			name: "two backends",
			r: result(func(r *prober.Result) {
				r.Found, r.Mode, r.Lower, r.Upper = true, plan.ClosedIdle, 2900*time.Millisecond, 3*time.Second
				r.Spread = plan.Spread{First: 3 * time.Second, Last: 3 * time.Second, Survived: 2, Beyond: 5, LongestSurvived: 6 * time.Second}
			}),
			want: []string{"  Spread:         2 of 5 connections lived past 3.0 s (the longest to 6.0 s): several backends with different limits, or a server that checks its clients on a coarse timer?\n"},
			not:  []string{"closes between", "Warning"},
		},
		{
			name: "a spread within the bracket says nothing",
			r: result(func(r *prober.Result) {
				r.Found, r.Mode, r.Lower, r.Upper = true, plan.Reset, 3*time.Second, 3250*time.Millisecond
				r.Spread = plan.Spread{First: 3100 * time.Millisecond, Last: 3250 * time.Millisecond}
			}),
			not: []string{"Spread:"},
		},
		{
			name: "real disagreements still warn beside a spread",
			r: result(func(r *prober.Result) {
				r.Found, r.Mode, r.Lower, r.Upper, r.Disagree = true, plan.Reset, 3*time.Second, 3020*time.Millisecond, 3
				r.Spread = plan.Spread{First: 3 * time.Second, Last: 3100 * time.Millisecond}
			}),
			want: []string{"  Spread:         closes between 3.00 and 3.10 s\n", "Warning: 3 trial(s) disagree with this bracket"},
		},
		{
			name: "inconclusive",
			r: result(func(r *prober.Result) {
				r.Complete, r.Status = false, plan.Inconclusive
				r.Reason = "no clean answer within the deadline of 30m30s"
				r.Settings.Deadline = 30*time.Minute + 30*time.Second
				r.Found, r.Mode, r.Lower, r.Upper, r.Agree, r.Disagree = true, plan.Reset, 3*time.Second, 9*time.Second, 31, 7
			}),
			want: []string{
				"idleprobe PARTIAL result (inconclusive; the bracket below is the evidence so far)\n",
				"  Status:         inconclusive: no clean answer within the deadline of 30m30s; limit in (3.0s, 9.0s] so far; 7 of 38 trials contradict it\n",
				"  Idle limit:     limit in (3.0s, 9.0s] so far (reset)\n",
				"  Trials:         41 (31 agree, 7 disagree)\n",
				"Advice: none: the evidence did not settle",
			},
			not: []string{"x the limit", idleKnobs, "Warning"},
		},
		{
			name: "inconclusive lifetime marked complete",
			r: result(func(r *prober.Result) {
				r.Status, r.Kind = plan.Inconclusive, plan.Lifetime
				r.Found, r.Mode, r.Lower, r.Upper, r.Agree, r.Disagree = true, plan.ClosedIdle, 4*time.Second, 6*time.Second, 20, 4
			}),
			want: []string{
				"  Status:         inconclusive: no clean answer within the deadline; limit in (4.0s, 6.0s] so far; 4 of 24 trials contradict it\n",
				"  Lifetime limit: limit in (4.0s, 6.0s] of connection age so far (closed while idle)\n",
			},
			not: []string{"x the limit", lifetimeKnobs},
		},
		{
			name: "inconclusive: the path contradicts itself",
			r: result(func(r *prober.Result) {
				r.Complete, r.Status = false, plan.Inconclusive
				r.Reason = "the path contradicts itself: 7 of 38 trials disagree with the best reading"
				r.Lower, r.Agree, r.Disagree = 20*time.Second, 31, 7
			}),
			want: []string{"  Status:         inconclusive: the path contradicts itself: 7 of 38 trials disagree with the best reading; no limit seen so far (survived 20.0s)\n"},
			not:  []string{"trials contradict it"},
		},
		{
			name: "unusable: a protocol mismatch",
			r: result(func(r *prober.Result) {
				r.Complete, r.Status, r.ConnectionsOpened, r.Agree = false, plan.Unusable, 4, 0
				r.Reason = "the connection is closed on every reuse whatever its idle time"
				r.Trials = []plan.Trial{{Outcome: plan.ClosedOnReuse}, {Outcome: plan.ClosedOnReuse}, {Outcome: plan.ClosedOnReuse}, {Outcome: plan.ClosedOnReuse}}
			}),
			want: []string{
				"idleprobe result: UNUSABLE target (nothing below is a limit)\n",
				"  Status:         unusable: the connection is closed on every reuse whatever its idle time\n",
				"  Idle limit:     none: the target could not be measured (see Status)\n",
				"Advice: make the reuse something the target accepts (tcp://: --send and --expect; a TLS port needs https:// or h2://), or measure the path itself with `idleprobe responder` deployed behind the same hop.\n",
			},
		},
		{
			name: "unusable: nothing opened",
			r: result(func(r *prober.Result) {
				r.Complete, r.Status, r.ConnectionsOpened, r.PeakConnections, r.Agree = false, plan.Unusable, 2, 1, 0
				r.Reason = "connect 192.0.2.7:8080: connection refused (is anything listening on that port?)"
				r.Trials = nil
			}),
			want: []string{
				"  Status:         unusable: connect 192.0.2.7:8080: connection refused (is anything listening on that port?)\n",
				"Advice: check that the target is reachable from here and that its address, port and scheme are right.\n",
			},
			not: []string{"--send"},
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
