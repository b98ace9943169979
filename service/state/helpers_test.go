package state

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is a fixed wall-clock time for fixtures: 2026-03-01T12:00:00Z.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	apiPath = exporters.PathInfo{
		Name:              "api",
		Target:            "http://probe:s3cret@192.0.2.10:8080/healthz",
		ClientIdleTimeout: 75 * time.Second,
		Interval:          6 * time.Hour,
		Labels:            map[string]string{"team": "web"},
	}
	redisPath = exporters.PathInfo{Name: "redis", Target: "tcp://198.51.100.7:6379", Labels: map[string]string{"env": "prod"}}
	pgPath    = exporters.PathInfo{Name: "pg", Target: "tcp://192.0.2.30:5432"}
)

// foundResult is a completed measurement that bracketed a 60 s reset limit.
func foundResult() plan.Result {
	s := plan.Defaults()
	s.Max = 10 * time.Minute
	return plan.Result{
		Target: "http://192.0.2.10:8080/healthz", Settings: s,
		Lower: 59500 * time.Millisecond, Upper: 60500 * time.Millisecond, Found: true, Mode: plan.Reset,
		Agree: 3, Disagree: 1, Complete: true, Status: plan.Measured, Kind: plan.Idle,
		Started: t0, Finished: t0.Add(75 * time.Second), ConnectionsOpened: 12, PeakConnections: 7,
		Trials: []plan.Trial{
			{Conn: 1, Age: 30 * time.Second, Outcome: plan.OK},
			{Conn: 2, Age: 61 * time.Second, Outcome: plan.Reset},
		},
	}
}

// lifetimeResult is a completed measurement of a server that closes
// connections 5 s after they open.
func lifetimeResult() plan.Result {
	r := foundResult()
	r.Target = "tcp://192.0.2.30:5432"
	r.Kind = plan.Lifetime
	r.Lower, r.Upper, r.Mode = 4900*time.Millisecond, 5*time.Second, plan.ClosedIdle
	r.Lifetime = plan.LifetimeLimit{Found: true, Lower: r.Lower, Upper: r.Upper, Mode: string(plan.ClosedIdle)}
	return r
}

// inconclusiveResult reached its deadline while its trials still
// contradicted each other: a bracket so far, not a result.
func inconclusiveResult() plan.Result {
	r := foundResult()
	r.Complete = false
	r.Status = plan.Inconclusive
	r.Reason = "no clean answer within the deadline of 30m30s"
	r.Lower, r.Upper = 3*time.Second, 9*time.Second
	r.Agree, r.Disagree = 31, 7
	r.Settings.Deadline = 30*time.Minute + 30*time.Second
	return r
}

// noLimitResult is a completed measurement that found no limit up to 10 min.
func noLimitResult() plan.Result {
	s := plan.Defaults()
	s.Max = 10 * time.Minute
	return plan.Result{
		Target: "tcp://198.51.100.7:6379", Settings: s, Lower: 10 * time.Minute,
		Complete: true, Status: plan.Measured, Kind: plan.Idle,
		Started: t0.Add(time.Hour), Finished: t0.Add(time.Hour + 10*time.Minute + 2*time.Second),
		ConnectionsOpened: 9, PeakConnections: 9,
	}
}
