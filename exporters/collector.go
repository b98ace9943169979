// Package exporters publishes idle-limit measurements: a Prometheus
// collector holding the latest completed result per path, the text and
// Pushgateway outputs of one-shot runs, and the landing page. (The state
// file that keeps results across restarts belongs to the service:
// service/state.)
package exporters

import (
	"errors"
	"fmt"
	"github.com/idleprobe/idleprobe/prober/hop"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// PathInfo describes one configured path as the metrics and the landing page
// show it.
type PathInfo struct {
	// Name is the path's unique name: the value of the "path" label.
	Name string
	// Target is the measured address in URL form. Userinfo passwords are
	// redacted wherever it is shown.
	Target string
	// ClientIdleTimeout is how long the real client keeps an idle connection
	// pooled (nginx upstream keepalive_timeout, Go IdleConnTimeout...), or 0
	// when not configured.
	ClientIdleTimeout time.Duration
	// Interval is the longest expected time between two measurements of
	// the path (schedule.Gaps.Longest, as schedule.Period returns it), or 0
	// when unknown. It feeds the staleness alert through
	// idleprobe_measurement_interval_seconds.
	Interval time.Duration
	// Labels are extra labels copied onto every per-path series. Names must
	// pass ValidateLabels.
	Labels map[string]string
	// Proxy is the forward proxy the path goes through, or nil.
	Proxy *prober.Proxy
	// Group names the backend the path reaches, shared by the paths that
	// reach it through different hops; "" for none. Family is the address
	// family the path is measured over ("4", "6", or "" for the resolver's
	// choice). Either exports idleprobe_path_group_info.
	Group, Family string
	// Direction is who sends after the idle time as the path is measured
	// (prober.EffectiveDirection: "client" or "server"); "" when unknown,
	// and the pages show the latest result's direction then.
	Direction string
	// Order is where the path is written in the configuration (its line;
	// 0 when unknown): the landing page lists a group's paths in this
	// order, then by name, nearest the backend first as written.
	Order int
}

// Measurement results, the values of the "result" label of
// idleprobe_measurements_total.
const (
	ResultSuccess   = "success"
	ResultFailure   = "failure"
	ResultCancelled = "cancelled"
)

// measurementResults lists the "result" label values in exposition order.
var measurementResults = []string{ResultCancelled, ResultFailure, ResultSuccess}

// ModeNone is the "mode" label of idleprobe_idle_limit_info when no limit
// was found up to the largest idle age tested.
const ModeNone = "none"

// ValidateLabels reports every extra label that cannot be copied onto the
// metrics (see CheckLabelName), one line each.
func ValidateLabels(labels map[string]string) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(labels)) {
		if err := CheckLabelName(name); err != nil {
			if q := strconv.Quote(name); !strings.HasPrefix(err.Error(), q) {
				err = fmt.Errorf("%s: %w", q, err)
			}
			errs = append(errs, fmt.Errorf("label %w", err))
		}
	}
	return errors.Join(errs...)
}

// pathState is what the collector knows about one path.
type pathState struct {
	info PathInfo
	// result is the latest completed result, nil before the first one.
	result *plan.Result
	// lastAttempt is when the latest measurement (success or failure)
	// ended; lastError is the failure reason of the latest attempt, or "".
	lastAttempt time.Time
	lastError   string
	inProgress  bool
	keepalive   *bool
	trials      map[plan.Outcome]float64
	runs        map[string]float64
}

// Collector is a prometheus.Collector that publishes, per path, the latest
// completed measurement result and the bookkeeping of the measurements
// (in progress, counts by result and trial outcome), plus the state of the
// configuration reloads. It is safe for concurrent use.
//
// A measurement that is running, failed or was cancelled never removes or
// zeroes the previous result: only a completed result replaces it.
//
// Every per-path series carries the "path" label and the path's extra
// labels. Because paths may configure different extra label names, each
// series carries the union of all paths' extra label names, with "" for the
// names a path does not set (Prometheus treats an empty label as absent),
// so that every metric name has a single label set. The collector is
// "unchecked" (Describe sends nothing) since that label set changes with
// the configuration.
type Collector struct {
	mu    sync.Mutex
	paths map[string]*pathState

	reloadKnown   bool
	reloadOK      bool
	reloadSuccess time.Time

	// oneShot limits the output to the result itself (WriteText, Push):
	// no counters, no in-progress, no reload state. omitPath leaves the path
	// label off (the Pushgateway grouping key carries it).
	oneShot  bool
	omitPath bool
	now      func() time.Time
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns an empty collector.
func NewCollector() *Collector {
	return &Collector{paths: make(map[string]*pathState), now: time.Now}
}

func newState(info PathInfo) *pathState {
	st := &pathState{
		trials: make(map[plan.Outcome]float64, len(plan.Outcomes)),
		runs:   make(map[string]float64, len(measurementResults)),
	}
	st.setInfo(info)
	for _, o := range plan.Outcomes {
		st.trials[o] = 0
	}
	for _, r := range measurementResults {
		st.runs[r] = 0
	}
	return st
}

func (st *pathState) setInfo(info PathInfo) {
	info.Labels = maps.Clone(info.Labels)
	st.info = info
}

// SetPath registers a configured path, or updates its description (target,
// client idle timeout, labels) after a reload. Its result and counters are
// kept.
func (c *Collector) SetPath(info PathInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.paths[info.Name]; ok {
		st.setInfo(info)
		return
	}
	c.paths[info.Name] = newState(info)
}

// Remove forgets a path (deleted from the configuration): all its series
// disappear. Later calls naming it are ignored until it is registered again.
func (c *Collector) Remove(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.paths, name)
}

// Set publishes r as the latest result of path, registering the path (or
// updating its description) if needed. It does not count a measurement:
// use it to seed results restored from the state file and for one-shot
// output; the scheduler reports runs with Record. A result that is not
// Publishable (partial, inconclusive, unusable) is ignored.
func (c *Collector) Set(path PathInfo, r plan.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.paths[path.Name]
	if ok {
		st.setInfo(path)
	} else {
		st = newState(path)
		c.paths[path.Name] = st
	}
	if !Publishable(r) {
		return
	}
	st.publish(r)
}

func (st *pathState) publish(r plan.Result) {
	// The trials are not exported as metrics; they are kept for the
	// chart of the path's page (bounded by the measurement's trial cap).
	st.result = &r
	switch {
	case r.KeepaliveChecked:
		rescues := r.KeepaliveRescues
		st.keepalive = &rescues
	case r.KeepaliveIdle > 0 && r.Found:
		// Asked for but not answered this time (interrupted, could not
		// connect): the previous answer is still the latest known.
	default:
		// Not asked for, or no limit to rescue from: no answer to export.
		st.keepalive = nil
	}
	if r.Finished.After(st.lastAttempt) {
		st.lastAttempt = r.Finished
		st.lastError = ""
	}
}

// Record does the bookkeeping of one finished measurement of the registered
// path name, as returned by prober.Measure: it counts it by Classify, and a
// success replaces the published result. A failure (inconclusive,
// unusable) keeps the published result and records when it happened
// (r.Finished, or now) and why (Failure); a cancellation only counts. Calls
// for unregistered paths are ignored, so a measurement that ends after its
// path was removed cannot bring it back. Record returns the classification.
func (c *Collector) Record(name string, r plan.Result, err error) string {
	class := Classify(r, err)
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.paths[name]
	if !ok {
		return class
	}
	st.runs[class]++
	switch class {
	case ResultSuccess:
		st.publish(r)
	case ResultFailure:
		at := r.Finished
		if at.IsZero() {
			at = c.now()
		}
		st.lastAttempt = at
		st.lastError = Failure(r, err)
	}
	return class
}

// SetInProgress marks whether a measurement of the registered path name is
// running. The published result is untouched.
func (c *Collector) SetInProgress(name string, running bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.paths[name]; ok {
		st.inProgress = running
	}
}

// ObserveTrial counts one trial outcome of the registered path name (called
// as trials complete, from the measurement's progress callback). Unknown
// outcomes are ignored.
func (c *Collector) ObserveTrial(name string, o plan.Outcome) {
	if !o.Valid() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.paths[name]; ok {
		st.trials[o]++
	}
}

// SetKeepaliveRescues records whether TCP keepalive at the client's
// settings keeps the registered path name alive past its idle limit.
// Results usually carry that answer themselves (prober.Options.Keepalive):
// Set and Record publish it, and a result whose check was not asked for, or
// that found no limit, removes idleprobe_keepalive_rescues for the path. A
// result whose check was asked for but not answered keeps the previous
// answer. SetKeepaliveRescues overrides the answer until the next result.
func (c *Collector) SetKeepaliveRescues(name string, rescues bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.paths[name]; ok {
		st.keepalive = &rescues
	}
}

// SetReload records the outcome of loading the configuration (at start-up
// and on every reload); at is when a successful load happened.
func (c *Collector) SetReload(success bool, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reloadKnown = true
	c.reloadOK = success
	if success {
		c.reloadSuccess = at
	}
}

// PathStatus is a snapshot of one path for status pages.
type PathStatus struct {
	Info PathInfo
	// Result is the latest completed result, with its trials, or nil.
	Result *plan.Result
	// LastAttempt is when the latest measurement ended; LastError is why
	// it failed, or "" when it succeeded.
	LastAttempt time.Time
	LastError   string
	InProgress  bool
}

// Paths returns a snapshot of every registered path, sorted by name.
func (c *Collector) Paths() []PathStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]PathStatus, 0, len(c.paths))
	for _, st := range c.paths {
		ps := PathStatus{
			Info:        st.info,
			LastAttempt: st.lastAttempt,
			LastError:   st.lastError,
			InProgress:  st.inProgress,
		}
		ps.Info.Labels = maps.Clone(st.info.Labels)
		if st.result != nil {
			r := *st.result
			ps.Result = &r
		}
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Info.Name < out[j].Info.Name })
	return out
}

// family is one metric name with its help, type and the labels it adds to
// path and the extra labels.
type family struct {
	name, help string
	typ        prometheus.ValueType
	labels     []string
}

var (
	famGroup      = family{"idleprobe_path_group_info", "Group of paths to the same backend the path belongs to (group, empty for none) and the address family it is measured over (family: 4, 6, or empty for the resolver's choice); always 1, only for paths that set either. Join on path to compare a group's limits.", prometheus.GaugeValue, []string{"group", "family"}}
	famPathInfo   = family{"idleprobe_path_info", "Configured path: target in URL form (passwords redacted); always 1.", prometheus.GaugeValue, []string{"target"}}
	famProxy      = family{"idleprobe_path_proxy_info", "Forward proxy the path goes through (proxy: its URL), and whether the latest completed measurement shows it is the hop that ended idle connections (closed_by: proxy, other, unknown; empty before a result or when no limit was found); absent for a direct path; always 1.", prometheus.GaugeValue, []string{"proxy", "closed_by"}}
	famLimit      = family{"idleprobe_idle_limit_seconds", "Bracket (lower, upper] holding the idle time after which the path kills a kept-alive connection, from the latest completed measurement; upper is absent when no limit was found.", prometheus.GaugeValue, []string{"bound"}}
	famFound      = family{"idleprobe_idle_limit_found", "1 if the latest completed measurement found an idle limit, 0 if the path survived every idle time tested.", prometheus.GaugeValue, nil}
	famMode       = family{"idleprobe_idle_limit_info", "How the path kills connections at the upper bound (mode: reset, closed_idle, closed_on_reuse, dropped, or none when no limit was found), on which clock the limit runs (kind: idle, or lifetime for a limit on connection age) and who sent the packet that ended them (ended_by: server, hop, or unknown); always 1.", prometheus.GaugeValue, []string{"mode", "kind", "ended_by"}}
	famHopsBefore = family{"idleprobe_ended_by_hops_before_server", "When a hop, not the server, ended the connections at the limit: how many hops before the server it sits (1: the last router before the server), from the TTL of its RST or FIN.", prometheus.GaugeValue, nil}
	famLife       = family{"idleprobe_lifetime_limit_seconds", "Bracket (lower, upper] holding the connection age (since the handshake) at which the path or server ends a connection whatever was sent since, from the latest completed measurement; absent when no lifetime limit was found.", prometheus.GaugeValue, []string{"bound"}}
	famServerKA   = family{"idleprobe_server_keepalive_timeout_seconds", "Idle timeout the server advertised in an HTTP Keep-Alive: timeout=N header, or reported as its own setting (PostgreSQL idle_session_timeout, MySQL wait_timeout, Redis timeout), during the latest completed measurement; absent when none was.", prometheus.GaugeValue, nil}
	famClose      = family{"idleprobe_idle_limit_close_age_seconds", "Exact idle time at which the path or server actively closed an idle connection (FIN or RST seen while idle); absent when no active close was seen.", prometheus.GaugeValue, nil}
	famMax        = family{"idleprobe_idle_limit_max_tested_seconds", "Largest idle time the latest completed measurement was allowed to test (its max setting).", prometheus.GaugeValue, nil}
	famAgree      = family{"idleprobe_idle_limit_agreeing_trials", "Trials of the latest completed measurement consistent with its bracket.", prometheus.GaugeValue, nil}
	famDisagree   = family{"idleprobe_idle_limit_disagreeing_trials", "Trials of the latest completed measurement that contradict its bracket (a failure below the lower bound or a success above the upper): a flaky path.", prometheus.GaugeValue, nil}
	famClient     = family{"idleprobe_client_idle_timeout_seconds", "Configured idle time the real client keeps a pooled connection (client_idle_timeout).", prometheus.GaugeValue, nil}
	famMargin     = family{"idleprobe_client_idle_margin_seconds", "Lower bound of the measured idle limit minus the configured client idle timeout; at or below 0 the client may reuse connections the path has already killed (502s).", prometheus.GaugeValue, nil}
	famKeep       = family{"idleprobe_keepalive_rescues", "1 if TCP keepalive at the client's settings keeps the path alive past its idle limit, 0 if it does not.", prometheus.GaugeValue, nil}
	famLast       = family{"idleprobe_last_measurement_timestamp_seconds", "Unix time at which the latest measurement ended, successful or failed.", prometheus.GaugeValue, nil}
	famLastOK     = family{"idleprobe_last_measurement_success_timestamp_seconds", "Unix time at which the latest completed (published) measurement ended.", prometheus.GaugeValue, nil}
	famDuration   = family{"idleprobe_measurement_duration_seconds", "Wall time the latest completed measurement took.", prometheus.GaugeValue, nil}
	famHint       = family{"idleprobe_measurement_hint_seconds", "The previous answer (upper edge of its bracket) the latest completed measurement started from; absent after a full search.", prometheus.GaugeValue, nil}
	famConns      = family{"idleprobe_measurement_connections", "Connections the latest completed measurement opened.", prometheus.GaugeValue, nil}
	famPeak       = family{"idleprobe_measurement_peak_connections", "Most connections the latest completed measurement held open at once.", prometheus.GaugeValue, nil}
	famInterval   = family{"idleprobe_measurement_interval_seconds", "Longest expected time between two measurements of the path: the longest gap between runs of its schedule.", prometheus.GaugeValue, nil}
	famRunning    = family{"idleprobe_measurement_in_progress", "1 while a measurement of the path is running.", prometheus.GaugeValue, nil}
	famTrials     = family{"idleprobe_trials_total", "Trials (one idle connection reused once) run against the path, by outcome.", prometheus.CounterValue, []string{"outcome"}}
	famRuns       = family{"idleprobe_measurements_total", "Measurements of the path that ended, by result (success, failure, cancelled).", prometheus.CounterValue, []string{"result"}}
	famReloadOK   = family{"idleprobe_config_last_reload_successful", "1 if the latest attempt to load the configuration succeeded, 0 if it failed (the previous configuration keeps running).", prometheus.GaugeValue, nil}
	famReloadTS   = family{"idleprobe_config_last_reload_success_timestamp_seconds", "Unix time of the latest successful configuration load.", prometheus.GaugeValue, nil}
)

// families are every metric family the collector may export.
var families = []family{famPathInfo, famProxy, famGroup, famLimit, famFound, famMode, famHopsBefore, famLife, famServerKA, famClose, famMax, famAgree, famDisagree,
	famClient, famMargin, famKeep, famLast, famLastOK, famDuration, famConns, famPeak, famHint, famInterval,
	famRunning, famTrials, famRuns, famReloadOK, famReloadTS}

// Families lists every metric family the collector may export, for
// documentation tests.
func Families() []string {
	out := make([]string, len(families))
	for i, f := range families {
		out[i] = f.name
	}
	return out
}

// Describe sends nothing: the collector is unchecked because its label set
// follows the configured extra labels.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	extra := map[string]bool{}
	for _, st := range c.paths {
		for name := range st.info.Labels {
			if CheckLabelName(name) == nil {
				extra[name] = true
			}
		}
	}
	e := emitter{ch: ch, extra: slices.Sorted(maps.Keys(extra)), omitPath: c.omitPath}
	for _, name := range slices.Sorted(maps.Keys(c.paths)) {
		c.collectPath(&e, c.paths[name])
	}
	if c.reloadKnown && !c.oneShot {
		e.global(famReloadOK, b2f(c.reloadOK))
		if !c.reloadSuccess.IsZero() {
			e.global(famReloadTS, unix(c.reloadSuccess))
		}
	}
}

func (c *Collector) collectPath(e *emitter, st *pathState) {
	e.path(famPathInfo, st, 1, redact(st.info.Target))
	if px := st.info.Proxy; px != nil {
		closedBy := ""
		if st.result != nil {
			closedBy = prober.JudgeProxy(*st.result, px).ClosedBy
		}
		e.path(famProxy, st, 1, px.String(), closedBy)
	}
	if st.info.Group != "" || st.info.Family != "" {
		e.path(famGroup, st, 1, st.info.Group, st.info.Family)
	}
	if !c.oneShot {
		e.path(famRunning, st, b2f(st.inProgress))
		for _, o := range plan.Outcomes {
			e.path(famTrials, st, st.trials[o], string(o))
		}
		for _, r := range measurementResults {
			e.path(famRuns, st, st.runs[r], r)
		}
		if st.info.Interval > 0 {
			e.path(famInterval, st, st.info.Interval.Seconds())
		}
	}
	if !st.lastAttempt.IsZero() {
		e.path(famLast, st, unix(st.lastAttempt))
	}
	client := st.info.ClientIdleTimeout
	if client > 0 {
		e.path(famClient, st, client.Seconds())
	}
	if st.keepalive != nil {
		e.path(famKeep, st, b2f(*st.keepalive))
	}
	r := st.result
	if r == nil {
		return
	}
	e.path(famLimit, st, r.Lower.Seconds(), "lower")
	mode := ModeNone
	if r.Found {
		e.path(famLimit, st, r.Upper.Seconds(), "upper")
		mode = string(r.Mode)
	}
	e.path(famFound, st, b2f(r.Found))
	endedBy := string(hop.Unknown)
	if eb := r.EndedBy; eb != nil {
		endedBy = string(eb.By)
		if eb.By == hop.Hop {
			e.path(famHopsBefore, st, float64(eb.HopsBefore))
		}
	}
	e.path(famMode, st, 1, mode, string(advice.KindOf(*r)), endedBy)
	if l := r.Lifetime; l.Found {
		e.path(famLife, st, l.Lower.Seconds(), "lower")
		e.path(famLife, st, l.Upper.Seconds(), "upper")
	}
	if ka := r.Server.KeepAliveTimeout; ka > 0 {
		e.path(famServerKA, st, ka.Seconds())
	}
	if r.CloseAge > 0 {
		e.path(famClose, st, r.CloseAge.Seconds())
	}
	e.path(famMax, st, r.Settings.Max.Seconds())
	e.path(famAgree, st, float64(r.Agree))
	e.path(famDisagree, st, float64(r.Disagree))
	if client > 0 {
		e.path(famMargin, st, (r.Lower - client).Seconds())
	}
	e.path(famLastOK, st, unix(r.Finished))
	e.path(famDuration, st, r.Duration().Seconds())
	e.path(famConns, st, float64(r.ConnectionsOpened))
	e.path(famPeak, st, float64(r.PeakConnections))
	if r.Hint.From > 0 {
		e.path(famHint, st, r.Hint.From.Seconds())
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// redact hides a password in the userinfo of a URL-form target.
func redact(target string) string {
	u, err := url.Parse(target)
	if err != nil || u.User == nil {
		return target
	}
	return u.Redacted()
}
