package service

import (
	"context"
	"math"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/service/state"
)

func TestServiceMeasuresExportsAndReloads(t *testing.T) {
	checkLeaks(t)
	target := idleServer(t, time.Second)
	dir := t.TempDir()
	cfgFile, statePath := filepath.Join(dir, "idleprobe.yml"), filepath.Join(dir, "state.json")
	writeConfig(t, cfgFile, pathConfig{name: "web", target: target, clientIdle: "2s"})

	ts := startService(t, cfgFile, statePath, nil)
	waitFor(t, 30*time.Second, "a result for web on /metrics", func() bool { return hasResult(t, ts.url, "web") })

	t.Run("result", func(t *testing.T) {
		fams := metrics(t, ts.url)
		lower, _ := pathValue(fams, "idleprobe_idle_limit_seconds", "web", "bound", "lower")
		upper, ok := pathValue(fams, "idleprobe_idle_limit_seconds", "web", "bound", "upper")
		if !ok || lower >= 1.0 || upper < 0.95 || upper > 1.5 {
			t.Errorf("bracket (%g, %g] (upper found: %v), want it to hold the server's 1 s idle timeout", lower, upper, ok)
		}
		if v, _ := pathValue(fams, "idleprobe_measurements_total", "web", "result", "success"); v != 1 {
			t.Errorf("idleprobe_measurements_total{result=success} = %g, want 1", v)
		}
		var trials float64
		for _, m := range fams["idleprobe_trials_total"].GetMetric() {
			trials += m.GetCounter().GetValue()
		}
		if trials < 2 {
			t.Errorf("%g trials counted through the progress hook, want at least 2", trials)
		}
		if v, _ := pathValue(fams, "idleprobe_client_idle_margin_seconds", "web"); v >= 0 {
			t.Errorf("margin = %g, want negative (client 2 s, limit ~1 s)", v)
		}
		for _, name := range []string{"go_goroutines", "process_open_fds", "idleprobe_trial_connections", "idleprobe_trial_connections_limit", "idleprobe_build_info"} {
			if _, ok := fams[name]; !ok {
				t.Errorf("/metrics lacks %s", name)
			}
		}
		if v, _ := value(fams, "idleprobe_trial_connections_limit", nil); v != 16 {
			t.Errorf("idleprobe_trial_connections_limit = %g, want max_connections 16", v)
		}
		if v, ok := value(fams, "idleprobe_build_info", map[string]string{"goversion": runtime.Version()}); !ok || v != 1 {
			t.Errorf("idleprobe_build_info{goversion=%q} = %g (present %v), want 1", runtime.Version(), v, ok)
		}
		if got := stateEntries(t, statePath); len(got) != 1 || got[0] != "web" {
			t.Errorf("state file holds %v, want [web]", got)
		}
	})

	t.Run("endpoints", func(t *testing.T) {
		tests := []struct {
			method, path string
			code         int
			body         string
		}{
			{"GET", "/-/healthy", 200, "Healthy"},
			{"GET", "/-/ready", 200, "Ready"},
			{"GET", "/-/reload", 405, "POST"},
			{"GET", "/", 200, "web"},
			{"GET", "/probe?target=http://127.0.0.1:1/", 404, ""},
			{"GET", "/nope", 404, ""},
		}
		for _, tc := range tests {
			t.Run(tc.method+" "+tc.path, func(t *testing.T) {
				code, body := do(t, tc.method, ts.url+tc.path)
				if code != tc.code || !strings.Contains(body, tc.body) {
					t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, code, body, tc.code, tc.body)
				}
			})
		}
	})

	t.Run("bad reload keeps the running config", func(t *testing.T) {
		writeFile(t, cfgFile, "paths:\n  - name: web\n    target: http://127.0.0.1:1/\n    max_idle: 90x\n")
		code, body := do(t, http.MethodPost, ts.url+"/-/reload")
		if code != http.StatusInternalServerError || !strings.Contains(body, "max_idle") {
			t.Errorf("POST /-/reload with a bad config = %d %q, want 500 naming max_idle", code, body)
		}
		fams := metrics(t, ts.url)
		if v, ok := value(fams, "idleprobe_config_last_reload_successful", nil); !ok || v != 0 {
			t.Errorf("idleprobe_config_last_reload_successful = %g (present %v), want 0", v, ok)
		}
		if _, ok := pathValue(fams, "idleprobe_idle_limit_seconds", "web", "bound", "upper"); !ok {
			t.Error("the result of web disappeared after a rejected reload")
		}
		if jobs := ts.s.sched.Jobs(); len(jobs) != 1 || jobs[0].Name != "web" || jobs[0].Next.IsZero() {
			t.Errorf("schedule after a rejected reload: %+v, want web still scheduled", jobs)
		}
	})

	t.Run("good reload keeps unchanged paths and measures new ones", func(t *testing.T) {
		writeConfig(t, cfgFile,
			pathConfig{name: "web", target: target, clientIdle: "2s"},
			pathConfig{name: "second", target: target})
		code, body := do(t, http.MethodPost, ts.url+"/-/reload")
		if code != http.StatusOK {
			t.Fatalf("POST /-/reload = %d %q", code, body)
		}
		if v, _ := value(metrics(t, ts.url), "idleprobe_config_last_reload_successful", nil); v != 1 {
			t.Errorf("idleprobe_config_last_reload_successful = %g, want 1", v)
		}
		waitFor(t, 30*time.Second, "a result for the new path", func() bool { return hasResult(t, ts.url, "second") })
		fams := metrics(t, ts.url)
		if v, _ := pathValue(fams, "idleprobe_measurements_total", "web", "result", "success"); v != 1 {
			t.Errorf("web measured %g times, want 1: an unchanged path must keep its schedule and result", v)
		}
	})

	t.Run("reload removes a path", func(t *testing.T) {
		writeConfig(t, cfgFile, pathConfig{name: "web", target: target, clientIdle: "2s"})
		if err := ts.s.Reload(); err != nil {
			t.Fatal(err)
		}
		if _, ok := pathValue(metrics(t, ts.url), "idleprobe_path_info", "second"); ok {
			t.Error("second is still on /metrics after it was removed")
		}
		if !hasResult(t, ts.url, "web") {
			t.Error("web lost its result")
		}
		if got := stateEntries(t, statePath); len(got) != 1 || got[0] != "web" {
			t.Errorf("state file holds %v after removing second, want [web]", got)
		}
	})

	t.Run("no goroutine or fd leaks across reloads", func(t *testing.T) {
		extra := pathConfig{name: "refused", target: "http://127.0.0.1:1/"}
		configsToggle := [][]pathConfig{
			{{name: "web", target: target, clientIdle: "2s", jitter: "1s"}, extra},
			{{name: "web", target: target, clientIdle: "2s"}},
		}
		reload := func(i int) {
			writeConfig(t, cfgFile, configsToggle[i%2]...)
			if code, body := do(t, http.MethodPost, ts.url+"/-/reload"); code != http.StatusOK {
				t.Fatalf("reload %d: %d %q", i, code, body)
			}
		}
		settle := func() {
			// Wait for cancelled and failing runs to end.
			waitFor(t, 10*time.Second, "no measurement in progress", func() bool {
				for _, j := range ts.s.sched.Jobs() {
					if j.Running {
						return false
					}
				}
				return true
			})
		}
		reload(0)
		reload(1)
		settle()
		g0, f0 := runtime.NumGoroutine(), openFDs(t)
		for i := range 20 {
			reload(i)
		}
		settle()
		var g, f int
		waitFor(t, 5*time.Second, "goroutines and fds back to their level", func() bool {
			g, f = runtime.NumGoroutine(), openFDs(t)
			return g <= g0+2 && f <= f0+2
		})
		if !hasResult(t, ts.url, "web") {
			t.Error("web lost its result across reloads")
		}
		t.Logf("goroutines %d -> %d, fds %d -> %d over 20 reloads", g0, g, f0, f)
	})

	if took := ts.stop(t); took > 6*time.Second {
		t.Errorf("stop took %s", took)
	}
}

func TestServiceRestartWithState(t *testing.T) {
	checkLeaks(t)
	target := idleServer(t, time.Second)
	dir := t.TempDir()
	cfgFile, statePath := filepath.Join(dir, "idleprobe.yml"), filepath.Join(dir, "state.json")
	writeConfig(t, cfgFile, pathConfig{name: "web", target: target, clientIdle: "2s"})

	first := startService(t, cfgFile, statePath, nil)
	waitFor(t, 30*time.Second, "a result for web", func() bool { return hasResult(t, first.url, "web") })
	before := metrics(t, first.url)
	first.stop(t)

	// The state file keeps durations and times to the microsecond. Whether
	// a start-up measurement runs is decided within Start: right after it,
	// the scheduler says whether a run was started.
	var calls atomic.Int32
	second := startService(t, cfgFile, statePath, func(o *Options) {
		o.Measure = func(ctx context.Context, target prober.Target, opts prober.Options) (prober.Result, error) {
			calls.Add(1)
			return prober.Measure(ctx, target, opts)
		}
	})
	if running(second.s, "web") {
		t.Error("a path with a stored result was measured again at start-up")
	}
	after := metrics(t, second.url)
	for _, name := range []string{
		"idleprobe_last_measurement_success_timestamp_seconds",
		"idleprobe_measurement_duration_seconds",
	} {
		b, okb := pathValue(before, name, "web")
		a, oka := pathValue(after, name, "web")
		if !okb || !oka || math.Abs(a-b) > 2e-6 {
			t.Errorf("%s: %g before the restart, %g (present %v) after; want the original value", name, b, a, oka)
		}
	}
	for _, bound := range []string{"lower", "upper"} {
		b, _ := pathValue(before, "idleprobe_idle_limit_seconds", "web", "bound", bound)
		a, ok := pathValue(after, "idleprobe_idle_limit_seconds", "web", "bound", bound)
		if !ok || math.Abs(a-b) > 2e-6 {
			t.Errorf("%s bound: %g before the restart, %g (present %v) after", bound, b, a, ok)
		}
	}
	if v, _ := pathValue(after, "idleprobe_measurement_in_progress", "web"); v != 0 {
		t.Error("a path with a stored result was measured again at start-up")
	}
	var runs float64
	for _, m := range after["idleprobe_measurements_total"].GetMetric() {
		runs += m.GetCounter().GetValue()
	}
	if runs != 0 || calls.Load() != 0 {
		t.Errorf("%g measurements counted, %d started after the restart, want 0 (the stored result is used)", runs, calls.Load())
	}
}

func TestServiceStopMidMeasurement(t *testing.T) {
	checkLeaks(t)
	// A server that never closes idle connections: the search runs until
	// max_idle (10 s), far longer than the test waits.
	target := idleServer(t, 0)
	dir := t.TempDir()
	cfgFile, statePath := filepath.Join(dir, "idleprobe.yml"), filepath.Join(dir, "state.json")
	writeConfig(t, cfgFile, pathConfig{name: "web", target: target, maxIdle: "10s"})

	ts := startService(t, cfgFile, statePath, nil)
	waitFor(t, 10*time.Second, "the measurement to be running with a trial done", func() bool {
		fams := metrics(t, ts.url)
		running, _ := pathValue(fams, "idleprobe_measurement_in_progress", "web")
		ok, _ := pathValue(fams, "idleprobe_trials_total", "web", "outcome", "ok")
		return running == 1 && ok >= 1
	})
	if took := ts.stop(t); took > 6*time.Second {
		t.Errorf("stopping mid-measurement took %s, want within the 5 s bound", took)
	}
	if code, _ := get(t, ts.url+"/-/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("/-/ready after Stop = %d, want 503", code)
	}
	for _, ps := range ts.s.collector.Paths() {
		if ps.Result != nil {
			t.Errorf("path %s: a partial result was published: %+v", ps.Info.Name, *ps.Result)
		}
		if ps.InProgress {
			t.Errorf("path %s still marked in progress", ps.Info.Name)
		}
	}
	if got := stateEntries(t, statePath); len(got) != 0 {
		t.Errorf("state file holds %v after a cancelled measurement, want nothing", got)
	}
	if !strings.Contains(ts.logs.String(), "partial result is not published") {
		t.Error("the cancellation was not logged")
	}
}

// TestServiceRestartWithStaleState restarts with a stored result older than
// the schedule's period: the stored result is exported at once, and the
// missed run is made up right away instead of at the next tick.
func TestServiceRestartWithStaleState(t *testing.T) {
	checkLeaks(t)
	target := idleServer(t, time.Second)
	dir := t.TempDir()
	cfgFile, statePath := filepath.Join(dir, "idleprobe.yml"), filepath.Join(dir, "state.json")
	writeConfig(t, cfgFile, pathConfig{name: "web", target: target, schedule: "@every 5s"})

	first := startService(t, cfgFile, statePath, nil)
	waitFor(t, 30*time.Second, "a result for web", func() bool { return hasResult(t, first.url, "web") })
	first.stop(t)

	// Down for longer than the period: the stored result is made a minute
	// older than it is, as if idleprobe had been stopped meanwhile.
	store, stored, err := state.Open(statePath, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := stored["web"]
	e.Result.Started = e.Result.Started.Add(-time.Minute)
	e.Result.Finished = e.Result.Finished.Add(-time.Minute)
	if err := store.Save("web", e.Path, e.Result); err != nil {
		t.Fatal(err)
	}

	second := startService(t, cfgFile, statePath, nil)
	if !hasResult(t, second.url, "web") {
		t.Fatal("the stored result is not exported after the restart")
	}
	waitFor(t, 2*time.Second, "a start-up measurement", func() bool {
		m := metrics(t, second.url)
		inProgress, _ := pathValue(m, "idleprobe_measurement_in_progress", "web")
		var runs float64
		for _, mm := range m["idleprobe_measurements_total"].GetMetric() {
			runs += mm.GetCounter().GetValue()
		}
		return inProgress == 1 || runs > 0
	})
}
