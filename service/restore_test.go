package service

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/prober/plan"
	"github.com/idleprobe/idleprobe/service/state"
)

// t0 is a fixed wall-clock time for fixtures: 2026-03-01T12:00:00Z.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	apiPath = exporters.PathInfo{
		Name: "api", Target: "http://probe:s3cret@192.0.2.10:8080/healthz",
		ClientIdleTimeout: 75 * time.Second, Interval: 6 * time.Hour, Labels: map[string]string{"team": "web"},
	}
	redisPath = exporters.PathInfo{Name: "redis", Target: "tcp://198.51.100.7:6379", Labels: map[string]string{"env": "prod"}}
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
	}
}

// noLimitResult is a completed measurement that found no limit up to 10 min.
func noLimitResult() plan.Result {
	r := foundResult()
	r.Target, r.Lower, r.Upper, r.Found, r.Mode = "tcp://198.51.100.7:6379", 10*time.Minute, 0, false, ""
	r.Started, r.Finished = t0.Add(time.Hour), t0.Add(time.Hour+10*time.Minute+2*time.Second)
	return r
}

// compareNames compares c's exposition of the named families with want.
func compareNames(t *testing.T, c *exporters.Collector, want string, names ...string) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

func openStore(t *testing.T, file string) (*state.Store, map[string]state.Entry) {
	t.Helper()
	s, stored, err := state.Open(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, stored
}

func TestRestoreExportsOriginalTimestamps(t *testing.T) {
	file := filepath.Join(t.TempDir(), "idleprobe.json")
	s, _ := openStore(t, file)
	if err := s.Save("api", apiPath, foundResult()); err != nil {
		t.Fatal(err)
	}
	if err := s.Save("redis", redisPath, noLimitResult()); err != nil {
		t.Fatal(err)
	}

	// "Restart": a new collector seeded from the reopened store. The redis
	// path now points elsewhere, so its stored result must not be shown.
	_, stored := openStore(t, file)
	now := redisPath
	now.Target = "tcp://198.51.100.8:6379"
	c := exporters.NewCollector()
	seeded := restore(c, []exporters.PathInfo{apiPath, now, {Name: "new", Target: "tcp://127.0.0.1:2"}}, stored)
	if fmt.Sprint(seeded) != "[api]" {
		t.Errorf("seeded %v, want [api]", seeded)
	}
	compareNames(t, c, `
# HELP idleprobe_last_measurement_success_timestamp_seconds Unix time at which the latest completed (published) measurement ended.
# TYPE idleprobe_last_measurement_success_timestamp_seconds gauge
idleprobe_last_measurement_success_timestamp_seconds{env="",path="api",team="web"} 1.772366475e+09
# HELP idleprobe_measurement_in_progress 1 while a measurement of the path is running.
# TYPE idleprobe_measurement_in_progress gauge
idleprobe_measurement_in_progress{env="",path="api",team="web"} 0
idleprobe_measurement_in_progress{env="",path="new",team=""} 0
idleprobe_measurement_in_progress{env="prod",path="redis",team=""} 0
`, "idleprobe_last_measurement_success_timestamp_seconds", "idleprobe_measurement_in_progress")
}

// A restarted service exports the keepalive answer kept in the state file.
func TestRestoreKeepsKeepaliveAnswer(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state.json")
	s, _ := openStore(t, file)
	r := foundResult()
	r.KeepaliveIdle, r.KeepaliveInterval, r.KeepaliveCount = 30*time.Second, 30*time.Second, 9
	r.KeepaliveChecked, r.KeepaliveRescues, r.KeepaliveHeld = true, false, 120*time.Second
	if err := s.Save("api", apiPath, r); err != nil {
		t.Fatal(err)
	}
	_, stored := openStore(t, file)
	c := exporters.NewCollector()
	if seeded := restore(c, []exporters.PathInfo{apiPath}, stored); len(seeded) != 1 {
		t.Fatalf("seeded %v, want api", seeded)
	}
	compareNames(t, c, `
# HELP idleprobe_keepalive_rescues 1 if TCP keepalive at the client's settings keeps the path alive past its idle limit, 0 if it does not.
# TYPE idleprobe_keepalive_rescues gauge
idleprobe_keepalive_rescues{path="api",team="web"} 0
`, "idleprobe_keepalive_rescues")
}
