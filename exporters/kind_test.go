package exporters

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

var pgPath = PathInfo{Name: "pg", Target: "tcp://192.0.2.30:5432"}

const (
	infoHelp = "# HELP idleprobe_idle_limit_info How the path kills connections at the upper bound (mode: reset, closed_idle, closed_on_reuse, dropped, or none when no limit was found), on which clock the limit runs (kind: idle, or lifetime for a limit on connection age) and who sent the packet that ended them (ended_by: server, hop, or unknown); always 1.\n# TYPE idleprobe_idle_limit_info gauge\n"
	lifeHelp = "# HELP idleprobe_lifetime_limit_seconds Bracket (lower, upper] holding the connection age (since the handshake) at which the path or server ends a connection whatever was sent since, from the latest completed measurement; absent when no lifetime limit was found.\n# TYPE idleprobe_lifetime_limit_seconds gauge\n"
	kaHelp   = "# HELP idleprobe_server_keepalive_timeout_seconds Idle timeout the server advertised in an HTTP Keep-Alive: timeout=N header, or reported as its own setting (PostgreSQL idle_session_timeout, MySQL wait_timeout, Redis timeout), during the latest completed measurement; absent when none was.\n# TYPE idleprobe_server_keepalive_timeout_seconds gauge\n"
)

// TestCollectorKindLifetimeAndHints checks the kind label, the lifetime
// bracket and the advertised Keep-Alive timeout, present exactly when the
// result has them.
func TestCollectorKindLifetimeAndHints(t *testing.T) {
	both := foundResult()
	both.Lifetime = plan.LifetimeLimit{Found: true, Lower: 3590 * time.Second, Upper: 3600 * time.Second, Mode: "retired"}
	both.Server.KeepAliveTimeout = 75 * time.Second
	noKind := foundResult()
	noKind.Kind = "" // a result stored before kinds existed
	tests := []struct {
		name string
		r    plan.Result
		want string
	}{
		{
			name: "lifetime limit: the bracket is on connection age",
			r:    lifetimeResult(),
			want: infoHelp + `idleprobe_idle_limit_info{ended_by="hop",kind="lifetime",mode="closed_idle",path="pg"} 1
` + lifeHelp + `idleprobe_lifetime_limit_seconds{bound="lower",path="pg"} 4.9
idleprobe_lifetime_limit_seconds{bound="upper",path="pg"} 5
`,
		},
		{
			name: "idle limit with a lifetime beside it and a hint",
			r:    both,
			want: infoHelp + `idleprobe_idle_limit_info{ended_by="hop",kind="idle",mode="reset",path="pg"} 1
` + lifeHelp + `idleprobe_lifetime_limit_seconds{bound="lower",path="pg"} 3590
idleprobe_lifetime_limit_seconds{bound="upper",path="pg"} 3600
` + kaHelp + `idleprobe_server_keepalive_timeout_seconds{path="pg"} 75
`,
		},
		{
			name: "idle limit only",
			r:    foundResult(),
			want: infoHelp + `idleprobe_idle_limit_info{ended_by="hop",kind="idle",mode="reset",path="pg"} 1
`,
		},
		{
			name: "no kind stored: idle",
			r:    noKind,
			want: infoHelp + `idleprobe_idle_limit_info{ended_by="hop",kind="idle",mode="reset",path="pg"} 1
`,
		},
		{
			name: "no limit",
			r:    noLimitResult(),
			want: infoHelp + `idleprobe_idle_limit_info{ended_by="unknown",kind="idle",mode="none",path="pg"} 1
`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCollector()
			c.SetPath(pgPath)
			c.Record("pg", tc.r, nil)
			compareNames(t, c, tc.want, "idleprobe_idle_limit_info", "idleprobe_lifetime_limit_seconds", "idleprobe_server_keepalive_timeout_seconds")
			problems, err := testutil.CollectAndLint(c)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("lint: %s: %s", p.Metric, p.Text)
			}
		})
	}
}

// TestCollectorInconclusiveKeepsResult feeds a published result, then an
// inconclusive and an unusable ending: each counts a failure, keeps the
// published bracket, kind and success timestamp, moves the attempt
// timestamp, and says why on the landing page's status.
func TestCollectorInconclusiveKeepsResult(t *testing.T) {
	c := NewCollector()
	c.SetPath(pgPath)
	c.Record("pg", lifetimeResult(), nil)

	inc := inconclusiveResult()
	inc.Finished = t0.Add(2 * time.Hour)
	c.Record("pg", inc, fmt.Errorf("%w: deadline reached", prober.ErrInconclusive))
	ps := c.Paths()[0]
	want := "inconclusive: no clean answer within the deadline of 30m30s; limit in (3.0s, 9.0s] so far; 7 of 38 trials contradict it"
	if ps.LastError != want {
		t.Errorf("LastError = %q, want %q", ps.LastError, want)
	}
	if !ps.LastAttempt.Equal(inc.Finished) {
		t.Errorf("LastAttempt = %s, want the inconclusive run's end %s", ps.LastAttempt, inc.Finished)
	}

	uns := plan.Result{Status: plan.Unusable, Reason: "the connection is closed on every reuse whatever its idle time", Finished: t0.Add(3 * time.Hour)}
	c.Record("pg", uns, fmt.Errorf("%w: closed on every reuse", prober.ErrUnusable))
	if got := c.Paths()[0].LastError; got != "unusable: the connection is closed on every reuse whatever its idle time" {
		t.Errorf("LastError = %q", got)
	}

	compareNames(t, c, infoHelp+`idleprobe_idle_limit_info{ended_by="hop",kind="lifetime",mode="closed_idle",path="pg"} 1
# HELP idleprobe_idle_limit_seconds Bracket (lower, upper] holding the idle time after which the path kills a kept-alive connection, from the latest completed measurement; upper is absent when no limit was found.
# TYPE idleprobe_idle_limit_seconds gauge
idleprobe_idle_limit_seconds{bound="lower",path="pg"} 4.9
idleprobe_idle_limit_seconds{bound="upper",path="pg"} 5
# HELP idleprobe_last_measurement_success_timestamp_seconds Unix time at which the latest completed (published) measurement ended.
# TYPE idleprobe_last_measurement_success_timestamp_seconds gauge
idleprobe_last_measurement_success_timestamp_seconds{path="pg"} 1.772366475e+09
# HELP idleprobe_last_measurement_timestamp_seconds Unix time at which the latest measurement ended, successful or failed.
# TYPE idleprobe_last_measurement_timestamp_seconds gauge
idleprobe_last_measurement_timestamp_seconds{path="pg"} 1.7723772e+09
# HELP idleprobe_measurements_total Measurements of the path that ended, by result (success, failure, cancelled).
# TYPE idleprobe_measurements_total counter
idleprobe_measurements_total{path="pg",result="cancelled"} 0
idleprobe_measurements_total{path="pg",result="failure"} 2
idleprobe_measurements_total{path="pg",result="success"} 1
`, "idleprobe_idle_limit_info", "idleprobe_idle_limit_seconds", "idleprobe_last_measurement_success_timestamp_seconds",
		"idleprobe_last_measurement_timestamp_seconds", "idleprobe_measurements_total")
}

// TestOneShotOutputRefusesUnfinished checks that --output prom and the
// Pushgateway never export a result that did not end measured.
func TestOneShotOutputRefusesUnfinished(t *testing.T) {
	complete := inconclusiveResult()
	complete.Complete = true
	for _, r := range []plan.Result{inconclusiveResult(), complete, {Status: plan.Unusable, Complete: true}} {
		var b strings.Builder
		if err := WriteText(&b, pgPath, r); err != ErrIncomplete {
			t.Errorf("WriteText(status %s) = %v, want ErrIncomplete", r.Status, err)
		}
		if b.Len() != 0 {
			t.Errorf("WriteText(status %s) wrote %q", r.Status, b.String())
		}
	}
}
