package exporters

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

var (
	apiPath = PathInfo{
		Name:              "api",
		Target:            "http://probe:s3cret@192.0.2.10:8080/healthz",
		ClientIdleTimeout: 75 * time.Second,
		Interval:          6 * time.Hour,
		Labels:            map[string]string{"team": "web"},
	}
	redisPath = PathInfo{
		Name:   "redis",
		Target: "tcp://198.51.100.7:6379",
		Labels: map[string]string{"env": "prod"},
	}
)

func registry(t *testing.T, c *Collector) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("register: %v", err)
	}
	return reg
}

// fullCollectorAt returns a collector with two paths in the states that
// exercise almost every metric family; now is its clock.
func fullCollectorAt(now time.Time) *Collector {
	c := NewCollector()
	c.now = func() time.Time { return now }
	c.SetPath(apiPath)
	c.SetPath(redisPath)
	for _, o := range []plan.Outcome{plan.OK, plan.OK, plan.Reset} {
		c.ObserveTrial("api", o)
	}
	// The server also retires connections at about 5 minutes of age and
	// advertises a 60 s Keep-Alive timeout.
	r := foundResult()
	r.Lifetime = plan.LifetimeLimit{Found: true, Lower: 299500 * time.Millisecond, Upper: 300 * time.Second, Mode: "retired"}
	r.Server.KeepAliveTimeout = 60 * time.Second
	c.Record("api", r, nil)
	// A failure without a Finished time is stamped with the clock.
	c.Record("api", plan.Result{}, errors.New("dial tcp 192.0.2.10:8080: connection refused"))
	c.SetInProgress("api", true)
	c.Record("redis", noLimitResult(), nil)
	c.Record("redis", plan.Result{}, context.Canceled)
	c.SetKeepaliveRescues("redis", true)
	c.SetReload(true, t0)
	c.SetReload(false, t0.Add(time.Minute))
	return c
}

const fullExposition = `
# HELP idleprobe_client_idle_margin_seconds Lower bound of the measured idle limit minus the configured client idle timeout; at or below 0 the client may reuse connections the path has already killed (502s).
# TYPE idleprobe_client_idle_margin_seconds gauge
idleprobe_client_idle_margin_seconds{env="",path="api",team="web"} -15.5
# HELP idleprobe_client_idle_timeout_seconds Configured idle time the real client keeps a pooled connection (client_idle_timeout).
# TYPE idleprobe_client_idle_timeout_seconds gauge
idleprobe_client_idle_timeout_seconds{env="",path="api",team="web"} 75
# HELP idleprobe_config_last_reload_success_timestamp_seconds Unix time of the latest successful configuration load.
# TYPE idleprobe_config_last_reload_success_timestamp_seconds gauge
idleprobe_config_last_reload_success_timestamp_seconds 1.7723664e+09
# HELP idleprobe_config_last_reload_successful 1 if the latest attempt to load the configuration succeeded, 0 if it failed (the previous configuration keeps running).
# TYPE idleprobe_config_last_reload_successful gauge
idleprobe_config_last_reload_successful 0
# HELP idleprobe_ended_by_hops_before_server When a hop, not the server, ended the connections at the limit: how many hops before the server it sits (1: the last router before the server), from the TTL of its RST or FIN.
# TYPE idleprobe_ended_by_hops_before_server gauge
idleprobe_ended_by_hops_before_server{env="",path="api",team="web"} 1
# HELP idleprobe_idle_limit_agreeing_trials Trials of the latest completed measurement consistent with its bracket.
# TYPE idleprobe_idle_limit_agreeing_trials gauge
idleprobe_idle_limit_agreeing_trials{env="",path="api",team="web"} 3
idleprobe_idle_limit_agreeing_trials{env="prod",path="redis",team=""} 0
# HELP idleprobe_idle_limit_disagreeing_trials Trials of the latest completed measurement that contradict its bracket (a failure below the lower bound or a success above the upper): a flaky path.
# TYPE idleprobe_idle_limit_disagreeing_trials gauge
idleprobe_idle_limit_disagreeing_trials{env="",path="api",team="web"} 1
idleprobe_idle_limit_disagreeing_trials{env="prod",path="redis",team=""} 0
# HELP idleprobe_idle_limit_found 1 if the latest completed measurement found an idle limit, 0 if the path survived every idle time tested.
# TYPE idleprobe_idle_limit_found gauge
idleprobe_idle_limit_found{env="",path="api",team="web"} 1
idleprobe_idle_limit_found{env="prod",path="redis",team=""} 0
# HELP idleprobe_idle_limit_info How the path kills connections at the upper bound (mode: reset, closed_idle, closed_on_reuse, dropped, or none when no limit was found), on which clock the limit runs (kind: idle, or lifetime for a limit on connection age) and who sent the packet that ended them (ended_by: server, hop, or unknown); always 1.
# TYPE idleprobe_idle_limit_info gauge
idleprobe_idle_limit_info{ended_by="hop",env="",kind="idle",mode="reset",path="api",team="web"} 1
idleprobe_idle_limit_info{ended_by="unknown",env="prod",kind="idle",mode="none",path="redis",team=""} 1
# HELP idleprobe_idle_limit_max_tested_seconds Largest idle time the latest completed measurement was allowed to test (its max setting).
# TYPE idleprobe_idle_limit_max_tested_seconds gauge
idleprobe_idle_limit_max_tested_seconds{env="",path="api",team="web"} 600
idleprobe_idle_limit_max_tested_seconds{env="prod",path="redis",team=""} 600
# HELP idleprobe_idle_limit_seconds Bracket (lower, upper] holding the idle time after which the path kills a kept-alive connection, from the latest completed measurement; upper is absent when no limit was found.
# TYPE idleprobe_idle_limit_seconds gauge
idleprobe_idle_limit_seconds{bound="lower",env="",path="api",team="web"} 59.5
idleprobe_idle_limit_seconds{bound="upper",env="",path="api",team="web"} 60.5
idleprobe_idle_limit_seconds{bound="lower",env="prod",path="redis",team=""} 600
# HELP idleprobe_keepalive_rescues 1 if TCP keepalive at the client's settings keeps the path alive past its idle limit, 0 if it does not.
# TYPE idleprobe_keepalive_rescues gauge
idleprobe_keepalive_rescues{env="prod",path="redis",team=""} 1
# HELP idleprobe_lifetime_limit_seconds Bracket (lower, upper] holding the connection age (since the handshake) at which the path or server ends a connection whatever was sent since, from the latest completed measurement; absent when no lifetime limit was found.
# TYPE idleprobe_lifetime_limit_seconds gauge
idleprobe_lifetime_limit_seconds{bound="lower",env="",path="api",team="web"} 299.5
idleprobe_lifetime_limit_seconds{bound="upper",env="",path="api",team="web"} 300
# HELP idleprobe_last_measurement_success_timestamp_seconds Unix time at which the latest completed (published) measurement ended.
# TYPE idleprobe_last_measurement_success_timestamp_seconds gauge
idleprobe_last_measurement_success_timestamp_seconds{env="",path="api",team="web"} 1.772366475e+09
idleprobe_last_measurement_success_timestamp_seconds{env="prod",path="redis",team=""} 1.772370602e+09
# HELP idleprobe_last_measurement_timestamp_seconds Unix time at which the latest measurement ended, successful or failed.
# TYPE idleprobe_last_measurement_timestamp_seconds gauge
idleprobe_last_measurement_timestamp_seconds{env="",path="api",team="web"} 1.7723665e+09
idleprobe_last_measurement_timestamp_seconds{env="prod",path="redis",team=""} 1.772370602e+09
# HELP idleprobe_measurement_connections Connections the latest completed measurement opened.
# TYPE idleprobe_measurement_connections gauge
idleprobe_measurement_connections{env="",path="api",team="web"} 12
idleprobe_measurement_connections{env="prod",path="redis",team=""} 9
# HELP idleprobe_measurement_duration_seconds Wall time the latest completed measurement took.
# TYPE idleprobe_measurement_duration_seconds gauge
idleprobe_measurement_duration_seconds{env="",path="api",team="web"} 75
idleprobe_measurement_duration_seconds{env="prod",path="redis",team=""} 602
# HELP idleprobe_measurement_in_progress 1 while a measurement of the path is running.
# TYPE idleprobe_measurement_in_progress gauge
idleprobe_measurement_in_progress{env="",path="api",team="web"} 1
idleprobe_measurement_in_progress{env="prod",path="redis",team=""} 0
# HELP idleprobe_measurement_interval_seconds Longest expected time between two measurements of the path: the longest gap between runs of its schedule.
# TYPE idleprobe_measurement_interval_seconds gauge
idleprobe_measurement_interval_seconds{env="",path="api",team="web"} 21600
# HELP idleprobe_measurement_peak_connections Most connections the latest completed measurement held open at once.
# TYPE idleprobe_measurement_peak_connections gauge
idleprobe_measurement_peak_connections{env="",path="api",team="web"} 7
idleprobe_measurement_peak_connections{env="prod",path="redis",team=""} 9
# HELP idleprobe_measurements_total Measurements of the path that ended, by result (success, failure, cancelled).
# TYPE idleprobe_measurements_total counter
idleprobe_measurements_total{env="",path="api",result="cancelled",team="web"} 0
idleprobe_measurements_total{env="",path="api",result="failure",team="web"} 1
idleprobe_measurements_total{env="",path="api",result="success",team="web"} 1
idleprobe_measurements_total{env="prod",path="redis",result="cancelled",team=""} 1
idleprobe_measurements_total{env="prod",path="redis",result="failure",team=""} 0
idleprobe_measurements_total{env="prod",path="redis",result="success",team=""} 1
# HELP idleprobe_path_info Configured path: target in URL form (passwords redacted); always 1.
# TYPE idleprobe_path_info gauge
idleprobe_path_info{env="",path="api",target="http://probe:xxxxx@192.0.2.10:8080/healthz",team="web"} 1
idleprobe_path_info{env="prod",path="redis",target="tcp://198.51.100.7:6379",team=""} 1
# HELP idleprobe_server_keepalive_timeout_seconds Idle timeout the server advertised in an HTTP Keep-Alive: timeout=N header, or reported as its own setting (PostgreSQL idle_session_timeout, MySQL wait_timeout, Redis timeout), during the latest completed measurement; absent when none was.
# TYPE idleprobe_server_keepalive_timeout_seconds gauge
idleprobe_server_keepalive_timeout_seconds{env="",path="api",team="web"} 60
# HELP idleprobe_trials_total Trials (one idle connection reused once) run against the path, by outcome.
# TYPE idleprobe_trials_total counter
idleprobe_trials_total{env="",outcome="closed_idle",path="api",team="web"} 0
idleprobe_trials_total{env="",outcome="closed_on_reuse",path="api",team="web"} 0
idleprobe_trials_total{env="",outcome="dropped",path="api",team="web"} 0
idleprobe_trials_total{env="",outcome="error",path="api",team="web"} 0
idleprobe_trials_total{env="",outcome="ok",path="api",team="web"} 2
idleprobe_trials_total{env="",outcome="reset",path="api",team="web"} 1
idleprobe_trials_total{env="",outcome="slow",path="api",team="web"} 0
idleprobe_trials_total{env="prod",outcome="closed_idle",path="redis",team=""} 0
idleprobe_trials_total{env="prod",outcome="closed_on_reuse",path="redis",team=""} 0
idleprobe_trials_total{env="prod",outcome="dropped",path="redis",team=""} 0
idleprobe_trials_total{env="prod",outcome="error",path="redis",team=""} 0
idleprobe_trials_total{env="prod",outcome="ok",path="redis",team=""} 0
idleprobe_trials_total{env="prod",outcome="reset",path="redis",team=""} 0
idleprobe_trials_total{env="prod",outcome="slow",path="redis",team=""} 0
`

func TestCollectorExposition(t *testing.T) {
	c := fullCollectorAt(t0.Add(100 * time.Second))
	if err := testutil.GatherAndCompare(registry(t, c), strings.NewReader(fullExposition)); err != nil {
		t.Error(err)
	}
}

func TestCollectorLintClean(t *testing.T) {
	c := fullCollectorAt(t0)
	r := foundResult()
	r.CloseAge = 60 * time.Second
	r.Lifetime = plan.LifetimeLimit{Found: true, Lower: 299 * time.Second, Upper: 300 * time.Second, Mode: "retired"}
	r.Server.KeepAliveTimeout = 60 * time.Second
	r.Hint = plan.HintInfo{From: r.Upper, Held: true}
	c.Set(apiPath, r)
	c.Set(proxiedPath(), r)
	c.SetPath(PathInfo{Name: "redis-ipv6", Target: "tcp://redis.example:6379", Group: "redis", Family: "6"})
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	// Every family appears in this fixture, so the lint covered them all.
	text := gatherText(t, registry(t, c))
	for _, name := range Families() {
		if !strings.Contains(text, "\n"+name+"{") && !strings.Contains(text, "\n"+name+" ") {
			t.Errorf("fixture does not exercise %s", name)
		}
	}
}

func TestPromtoolCheckMetrics(t *testing.T) {
	bin := promtool(t)
	c := fullCollectorAt(t0)
	r := foundResult()
	r.CloseAge = 60 * time.Second
	r.Lifetime = plan.LifetimeLimit{Found: true, Lower: 299 * time.Second, Upper: 300 * time.Second, Mode: "retired"}
	r.Server.KeepAliveTimeout = 60 * time.Second
	c.Set(apiPath, r)
	reg := NewRegistry(c)
	text := gatherText(t, reg)
	if !strings.Contains(text, "go_goroutines") || !strings.Contains(text, "idleprobe_idle_limit_seconds") {
		t.Fatalf("registry lacks the Go or idleprobe metrics:\n%s", text)
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// compareNames compares the named families gathered from c with want.
func compareNames(t *testing.T, c *Collector, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(registry(t, c), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

const apiLimit = `
# HELP idleprobe_idle_limit_seconds Bracket (lower, upper] holding the idle time after which the path kills a kept-alive connection, from the latest completed measurement; upper is absent when no limit was found.
# TYPE idleprobe_idle_limit_seconds gauge
idleprobe_idle_limit_seconds{bound="lower",path="api",team="web"} 59.5
idleprobe_idle_limit_seconds{bound="upper",path="api",team="web"} 60.5
`

func TestCollectorNeverDropsTheResult(t *testing.T) {
	partial := foundResult()
	partial.Complete, partial.Status = false, "" // as before statuses: err decides
	partial.Lower, partial.Upper = 5*time.Second, 10*time.Second
	inconclusive := inconclusiveResult()
	// A driver may also mark the evidence complete: the status decides.
	inconclusiveComplete := inconclusiveResult()
	inconclusiveComplete.Complete = true
	unusable := foundResult()
	unusable.Found, unusable.Complete, unusable.Status = false, false, plan.Unusable
	unusable.Reason = "the connection is closed on every reuse whatever its idle time"
	tests := []struct {
		name string
		act  func(c *Collector)
		// runs is the expected idleprobe_measurements_total by result.
		runs    map[string]int
		running bool
	}{
		{"in progress", func(c *Collector) { c.SetInProgress("api", true) }, nil, true},
		{"failed", func(c *Collector) {
			c.Record("api", partial, fmt.Errorf("measure: %w", errors.New("target unusable")))
		}, map[string]int{ResultFailure: 1}, false},
		{"cancelled with partial bracket", func(c *Collector) { c.Record("api", partial, context.Canceled) },
			map[string]int{ResultCancelled: 1}, false},
		{"cut short without error", func(c *Collector) { c.Record("api", partial, nil) },
			map[string]int{ResultCancelled: 1}, false},
		{"deadline", func(c *Collector) { c.Record("api", partial, context.DeadlineExceeded) },
			map[string]int{ResultFailure: 1}, false},
		{"inconclusive", func(c *Collector) {
			c.Record("api", inconclusive, fmt.Errorf("%w: deadline reached", prober.ErrInconclusive))
		}, map[string]int{ResultFailure: 1}, false},
		{"inconclusive marked complete", func(c *Collector) {
			c.Record("api", inconclusiveComplete, fmt.Errorf("%w: deadline reached", prober.ErrInconclusive))
		}, map[string]int{ResultFailure: 1}, false},
		{"unusable", func(c *Collector) {
			c.Record("api", unusable, fmt.Errorf("%w: closed on every reuse", prober.ErrUnusable))
		}, map[string]int{ResultFailure: 1}, false},
		{"inconclusive Set", func(c *Collector) { c.Set(apiPath, inconclusiveComplete) }, nil, false},
		{"incomplete Set", func(c *Collector) { c.Set(apiPath, partial) }, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCollector()
			c.Set(apiPath, foundResult())
			tc.act(c)
			compareNames(t, c, apiLimit, "idleprobe_idle_limit_seconds")
			ps := c.Paths()
			if len(ps) != 1 || ps[0].Result == nil || ps[0].Result.Lower != foundResult().Lower {
				t.Fatalf("Paths() = %+v, want the original result", ps)
			}
			if ps[0].InProgress != tc.running {
				t.Errorf("InProgress = %v, want %v", ps[0].InProgress, tc.running)
			}
			var b strings.Builder
			b.WriteString("# HELP idleprobe_measurements_total Measurements of the path that ended, by result (success, failure, cancelled).\n# TYPE idleprobe_measurements_total counter\n")
			for _, r := range measurementResults {
				fmt.Fprintf(&b, "idleprobe_measurements_total{path=\"api\",result=%q,team=\"web\"} %d\n", r, tc.runs[r])
			}
			compareNames(t, c, b.String(), "idleprobe_measurements_total")
		})
	}
}

func TestCollectorNewResultReplacesOld(t *testing.T) {
	c := NewCollector()
	c.SetPath(apiPath)
	c.Record("api", noLimitResult(), nil)
	r := foundResult()
	r.Started = t0.Add(2 * time.Hour)
	r.Finished = r.Started.Add(time.Minute)
	c.Record("api", r, nil)
	compareNames(t, c, apiLimit+`
# HELP idleprobe_last_measurement_success_timestamp_seconds Unix time at which the latest completed (published) measurement ended.
# TYPE idleprobe_last_measurement_success_timestamp_seconds gauge
idleprobe_last_measurement_success_timestamp_seconds{path="api",team="web"} 1.77237366e+09
`, "idleprobe_idle_limit_seconds", "idleprobe_last_measurement_success_timestamp_seconds")
}

func TestCollectorRemove(t *testing.T) {
	c := NewCollector()
	c.Set(apiPath, foundResult())
	c.Set(redisPath, noLimitResult())
	c.Remove("api")
	// A measurement of the removed path that ends late must not resurrect it.
	c.Record("api", foundResult(), nil)
	c.SetInProgress("api", true)
	c.ObserveTrial("api", plan.OK)
	c.SetKeepaliveRescues("api", false)
	text := gatherText(t, registry(t, c))
	if strings.Contains(text, `path="api"`) {
		t.Errorf("removed path still exported:\n%s", text)
	}
	if !strings.Contains(text, `path="redis"`) {
		t.Errorf("remaining path not exported:\n%s", text)
	}
	// With api gone, its extra label "team" is no longer in the union.
	if strings.Contains(text, "team=") {
		t.Errorf("label of removed path still in the union:\n%s", text)
	}
}

func TestCollectorReloadUpdatesInfoKeepsResult(t *testing.T) {
	c := NewCollector()
	c.Set(apiPath, foundResult())
	c.ObserveTrial("api", plan.Reset)
	changed := apiPath
	changed.ClientIdleTimeout = 30 * time.Second
	changed.Labels = map[string]string{"team": "edge"}
	c.SetPath(changed)
	compareNames(t, c, `
# HELP idleprobe_client_idle_margin_seconds Lower bound of the measured idle limit minus the configured client idle timeout; at or below 0 the client may reuse connections the path has already killed (502s).
# TYPE idleprobe_client_idle_margin_seconds gauge
idleprobe_client_idle_margin_seconds{path="api",team="edge"} 29.5
# HELP idleprobe_trials_total Trials (one idle connection reused once) run against the path, by outcome.
# TYPE idleprobe_trials_total counter
idleprobe_trials_total{outcome="closed_idle",path="api",team="edge"} 0
idleprobe_trials_total{outcome="closed_on_reuse",path="api",team="edge"} 0
idleprobe_trials_total{outcome="dropped",path="api",team="edge"} 0
idleprobe_trials_total{outcome="error",path="api",team="edge"} 0
idleprobe_trials_total{outcome="ok",path="api",team="edge"} 0
idleprobe_trials_total{outcome="reset",path="api",team="edge"} 1
idleprobe_trials_total{outcome="slow",path="api",team="edge"} 0
`, "idleprobe_client_idle_margin_seconds", "idleprobe_trials_total")
	// The caller's map is copied: changing it later changes nothing.
	changed.Labels["team"] = "mutated"
	if got := c.Paths()[0].Info.Labels["team"]; got != "edge" {
		t.Errorf("label = %q after the caller changed its map, want edge", got)
	}
}

func TestCollectorIgnoresBadInput(t *testing.T) {
	c := NewCollector()
	c.SetPath(PathInfo{Name: "p", Target: "tcp://127.0.0.1:1", Labels: map[string]string{
		"ok_label": "x", "bad-name": "y", "__meta": "z", "path": "clash",
	}})
	c.ObserveTrial("p", plan.Outcome("bogus"))
	text := gatherText(t, registry(t, c))
	for _, bad := range []string{"bad", "__meta", `path="clash"`, "bogus"} {
		if strings.Contains(text, bad) {
			t.Errorf("exposition contains %q:\n%s", bad, text)
		}
	}
	if !strings.Contains(text, `ok_label="x"`) {
		t.Errorf("valid extra label missing:\n%s", text)
	}
}

func TestValidateLabels(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
		want   []string // substrings of the error, none for valid
	}{
		{"none", nil, nil},
		{"valid", map[string]string{"team": "a", "_x9": "b"}, nil},
		{"bad name", map[string]string{"team-name": "a"}, []string{`label "team-name" is not a valid label name`}},
		{"digit first", map[string]string{"9lives": "a"}, []string{`"9lives" is not a valid`}},
		{"reserved prefix", map[string]string{"__name__": "a"}, []string{`label "__name__": label names starting with __ are reserved`}},
		{"collides", map[string]string{"path": "a", "job": "b"}, []string{`label "job" is set by idleprobe`, `label "path" is set by idleprobe`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateLabels(tc.labels)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("ValidateLabels = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateLabels = nil, want errors %q", tc.want)
			}
			if got := len(strings.Split(err.Error(), "\n")); got != len(tc.want) {
				t.Errorf("got %d error lines, want %d: %v", got, len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestClassify(t *testing.T) {
	done := foundResult()
	partial := foundResult()
	partial.Complete, partial.Status = false, ""
	interrupted := partial
	interrupted.Status = plan.Interrupted
	inconclusive := inconclusiveResult()
	unusable := plan.Result{Status: plan.Unusable, Reason: "every reuse fails"}
	tests := []struct {
		name string
		r    plan.Result
		err  error
		want string
	}{
		{"complete", done, nil, ResultSuccess},
		{"partial no error", partial, nil, ResultCancelled},
		{"cancelled", partial, fmt.Errorf("measure: %w", context.Canceled), ResultCancelled},
		{"deadline", partial, context.DeadlineExceeded, ResultFailure},
		{"unusable", plan.Result{}, errors.New("target unusable: connection refused"), ResultFailure},
		{"complete but error", done, errors.New("odd"), ResultFailure},
		{"interrupted status", interrupted, context.Canceled, ResultCancelled},
		{"inconclusive", inconclusive, fmt.Errorf("%w: deadline", prober.ErrInconclusive), ResultFailure},
		{"inconclusive without its status", partial, fmt.Errorf("%w: deadline", prober.ErrInconclusive), ResultFailure},
		{"inconclusive status without an error", inconclusive, nil, ResultFailure},
		{"unusable status", unusable, fmt.Errorf("%w: closed", prober.ErrUnusable), ResultFailure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.r, tc.err); got != tc.want {
				t.Errorf("Classify = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCollectorConcurrentUse(t *testing.T) {
	c := NewCollector()
	reg := registry(t, c)
	var wg sync.WaitGroup
	const n = 200
	for w := 0; w < 4; w++ {
		name := fmt.Sprintf("p%d", w)
		c.SetPath(PathInfo{Name: name, Target: "tcp://127.0.0.1:9", Labels: map[string]string{"w": name}})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				c.SetInProgress(name, true)
				c.ObserveTrial(name, plan.OK)
				c.Record(name, foundResult(), nil)
				c.SetInProgress(name, false)
				_ = c.Paths()
			}
		}()
	}
	for i := 0; i < 20; i++ {
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("gather during updates: %v", err)
		}
	}
	wg.Wait()
	text := gatherText(t, reg)
	for w := 0; w < 4; w++ {
		line := fmt.Sprintf(`idleprobe_trials_total{outcome="ok",path="p%d",w="p%d"} %d`, w, w, n)
		if !strings.Contains(text, line) {
			t.Errorf("missing %s", line)
		}
	}
}

// TestReservedLabels: every label a metric family sets, and the ones
// Prometheus sets or interprets, are reserved; nothing else is.
func TestReservedLabels(t *testing.T) {
	want := []string{"bound", "closed_by", "ended_by", "family", "group", "instance", "job", "kind", "le", "mode", "outcome", "path", "proxy", "quantile", "result", "target"}
	if !slices.Equal(ReservedLabels, want) {
		t.Errorf("ReservedLabels = %v, want %v", ReservedLabels, want)
	}
	for _, f := range families {
		for _, l := range f.labels {
			if CheckLabelName(l) == nil {
				t.Errorf("%s sets label %q, which an extra label may use", f.name, l)
			}
		}
	}
	for _, ok := range []string{"cluster", "hop", "strategy", "_x"} {
		if err := CheckLabelName(ok); err != nil {
			t.Errorf("CheckLabelName(%q) = %v, want nil", ok, err)
		}
	}
}
