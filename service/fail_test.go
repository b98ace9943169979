package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
	"github.com/idleprobe/idleprobe/schedule"
)

// scriptedMeasure runs the measurements of the service in a given order: each call
// takes the next step. A step is the real prober.Measure (nil) or a
// stand-in. Calls past the script use the real one.
type scriptedMeasure struct {
	mu    sync.Mutex
	steps []func(context.Context, prober.Target, prober.Options) (prober.Result, error)
	calls int
}

func (m *scriptedMeasure) measure(ctx context.Context, target prober.Target, opts prober.Options) (prober.Result, error) {
	m.mu.Lock()
	var step func(context.Context, prober.Target, prober.Options) (prober.Result, error)
	if m.calls < len(m.steps) {
		step = m.steps[m.calls]
	}
	m.calls++
	m.mu.Unlock()
	if step == nil {
		return prober.Measure(ctx, target, opts)
	}
	return step(ctx, target, opts)
}

// inconclusiveAfter is a stand-in measurement that waits for release (or
// ctx), then ends the way a measurement that reached its deadline ends: an
// error wrapping prober.ErrInconclusive and a result holding the evidence.
func inconclusiveAfter(release <-chan struct{}, deadline *time.Duration) func(context.Context, prober.Target, prober.Options) (prober.Result, error) {
	return func(ctx context.Context, target prober.Target, opts prober.Options) (prober.Result, error) {
		*deadline = opts.Plan.Deadline
		start := time.Now()
		select {
		case <-release:
		case <-ctx.Done():
			return prober.Result{Target: target.String(), Status: plan.Interrupted, Started: start, Finished: time.Now()}, ctx.Err()
		}
		r := prober.Result{
			Target: target.String(), Settings: opts.Plan, Status: plan.Inconclusive, Kind: plan.Idle,
			Reason: fmt.Sprintf("no clean answer within the deadline of %s", opts.Plan.Deadline),
			Found:  true, Mode: plan.Reset, Lower: 100 * time.Millisecond, Upper: 2 * time.Second, Agree: 9, Disagree: 4,
			Started: start, Finished: time.Now(), ConnectionsOpened: 12, PeakConnections: 8,
		}
		return r, fmt.Errorf("%w: deadline %s reached", prober.ErrInconclusive, opts.Plan.Deadline)
	}
}

// runNow starts a run of path name, waiting for the previous one to end.
func runNow(t *testing.T, ts *testService, name string) {
	t.Helper()
	waitFor(t, 10*time.Second, "a run of "+name+" to start", func() bool {
		err := ts.s.sched.RunNow(name)
		if err != nil && !errors.Is(err, schedule.ErrRunning) {
			t.Fatalf("RunNow(%s): %v", name, err)
		}
		return err == nil
	})
}

// TestServiceInconclusiveMeasurement feeds the service a measurement that ends
// inconclusive between two that succeed: the failure is counted and logged
// with its reason, the previous result stays exported and stored,
// in_progress returns to 0, and the next run is not blocked.
func TestServiceInconclusiveMeasurement(t *testing.T) {
	checkLeaks(t)
	target := idleServer(t, time.Second)
	dir := t.TempDir()
	cfgFile, statePath := filepath.Join(dir, "idleprobe.yml"), filepath.Join(dir, "state.json")
	writeConfig(t, cfgFile, pathConfig{name: "web", target: target})

	release := make(chan struct{})
	var deadline time.Duration
	script := &scriptedMeasure{steps: []func(context.Context, prober.Target, prober.Options) (prober.Result, error){
		nil, inconclusiveAfter(release, &deadline), nil,
	}}
	ts := startService(t, cfgFile, statePath, func(o *Options) { o.Measure = script.measure })

	waitFor(t, 30*time.Second, "the first result", func() bool { return hasResult(t, ts.url, "web") })
	before := metrics(t, ts.url)
	lower, _ := pathValue(before, "idleprobe_idle_limit_seconds", "web", "bound", "lower")
	upper, _ := pathValue(before, "idleprobe_idle_limit_seconds", "web", "bound", "upper")
	success, _ := pathValue(before, "idleprobe_last_measurement_success_timestamp_seconds", "web")
	waitFor(t, 10*time.Second, "the first run to end", func() bool {
		v, _ := pathValue(metrics(t, ts.url), "idleprobe_measurement_in_progress", "web")
		return v == 0
	})

	runNow(t, ts, "web")
	waitFor(t, 10*time.Second, "the inconclusive run to be in progress", func() bool {
		v, _ := pathValue(metrics(t, ts.url), "idleprobe_measurement_in_progress", "web")
		return v == 1
	})
	close(release)
	waitFor(t, 10*time.Second, "the failure to be counted", func() bool {
		v, _ := pathValue(metrics(t, ts.url), "idleprobe_measurements_total", "web", "result", "failure")
		return v == 1
	})
	waitFor(t, 10*time.Second, "in_progress back to 0", func() bool {
		v, _ := pathValue(metrics(t, ts.url), "idleprobe_measurement_in_progress", "web")
		return v == 0
	})

	// The deadline the run was given: 3 x 3s + 2 x (1 + 2) x 2s.
	if want := 21 * time.Second; deadline != want {
		t.Errorf("the run's deadline was %s, want the automatic %s", deadline, want)
	}
	after := metrics(t, ts.url)
	for _, c := range []struct {
		name, bound string
		want        float64
	}{
		{"idleprobe_idle_limit_seconds", "lower", lower},
		{"idleprobe_idle_limit_seconds", "upper", upper},
		{"idleprobe_last_measurement_success_timestamp_seconds", "", success},
	} {
		kv := []string{}
		if c.bound != "" {
			kv = []string{"bound", c.bound}
		}
		if v, ok := pathValue(after, c.name, "web", kv...); !ok || v != c.want {
			t.Errorf("%s%v = %g (present %v) after the inconclusive run, want the previous %g", c.name, kv, v, ok, c.want)
		}
	}
	if v, _ := pathValue(after, "idleprobe_measurements_total", "web", "result", "success"); v != 1 {
		t.Errorf("successes = %g, want 1", v)
	}
	if v, _ := value(after, "idleprobe_trial_connections", nil); v != 0 {
		t.Errorf("idleprobe_trial_connections = %g after the run, want 0", v)
	}
	if got := stateEntries(t, statePath); len(got) != 1 {
		t.Errorf("state file holds %v, want the first result of web", got)
	}
	code, page := get(t, ts.url+"/")
	if want := "failed: inconclusive: no clean answer within the deadline of 21s; limit in (0.1s, 2.0s] so far; 4 of 13 trials contradict it"; code != http.StatusOK || !strings.Contains(page, want) {
		t.Errorf("landing page (%d) lacks %q", code, want)
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, `level=WARN msg="measurement failed; the previous result stays published" path=web status=inconclusive reason="inconclusive: no clean answer`) ||
		!strings.Contains(logs, `err="measurement inconclusive: deadline 21s reached"`) {
		t.Errorf("the failure is not logged as a warning with its reason and err:\n%s", logs)
	}

	// The next run is not blocked, and its result replaces the old one.
	runNow(t, ts, "web")
	waitFor(t, 30*time.Second, "the next run to succeed", func() bool {
		v, _ := pathValue(metrics(t, ts.url), "idleprobe_measurements_total", "web", "result", "success")
		return v == 2
	})
}

// TestServiceUnusableTarget measures a refused target with the real
// prober.Measure twice: each run counts a failure (so that the shipped
// IdleprobeMeasurementsFailing alert, two failures and no success, can
// fire), publishes nothing, returns its connections to the global cap and
// leaves the path free for the next run.
func TestServiceUnusableTarget(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	cfgFile, statePath := filepath.Join(dir, "idleprobe.yml"), filepath.Join(dir, "state.json")
	writeConfig(t, cfgFile, pathConfig{name: "down", target: "http://" + closedPort(t) + "/"})
	ts := startService(t, cfgFile, statePath, nil)

	for i := 1; i <= 2; i++ {
		if i > 1 {
			runNow(t, ts, "down")
		}
		waitFor(t, 20*time.Second, fmt.Sprintf("failure %d", i), func() bool {
			m := metrics(t, ts.url)
			failures, _ := pathValue(m, "idleprobe_measurements_total", "down", "result", "failure")
			running, _ := pathValue(m, "idleprobe_measurement_in_progress", "down")
			return failures == float64(i) && running == 0
		})
	}
	m := metrics(t, ts.url)
	if v, _ := pathValue(m, "idleprobe_measurements_total", "down", "result", "success"); v != 0 {
		t.Errorf("successes = %g, want 0", v)
	}
	if v, _ := value(m, "idleprobe_trial_connections", nil); v != 0 {
		t.Errorf("idleprobe_trial_connections = %g after the runs, want 0: connections were not released", v)
	}
	if hasResult(t, ts.url, "down") {
		t.Error("an unusable run published a result")
	}
	if got := stateEntries(t, statePath); len(got) != 0 {
		t.Errorf("state file holds %v, want nothing", got)
	}
	if !strings.Contains(ts.logs.String(), `status=unusable reason="unusable: connect `) {
		t.Errorf("the unusable run is not logged with its reason:\n%s", ts.logs.String())
	}
}
