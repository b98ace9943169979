package service

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/configs"
	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/internal/fixtures"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
	"github.com/idleprobe/idleprobe/service/state"
)

// When does a scheduled run start from the stored result, and when does it
// run a full search?
func TestHintFor(t *testing.T) {
	path := func() configs.Path {
		r := fixtures.Found()
		return configs.NewPath("api", r.Target).WithSettings(r.Settings)
	}
	entry := func() state.Entry {
		r := fixtures.Found()
		return state.Entry{Path: exporters.PathInfo{Name: "api", Target: r.Target}, Result: r, Key: measureKey(path())}
	}
	now := fixtures.Found().Finished.Add(time.Hour)
	for _, tc := range []struct {
		name string
		path func(*configs.Path)
		e    func(*state.Entry)
		none bool // no stored entry
		at   time.Time
		want time.Duration
		why  string
	}{
		{name: "trusted", want: fixtures.Found().Upper},
		{name: "old file without a key", e: func(e *state.Entry) { e.Key = "" }, want: fixtures.Found().Upper},
		{name: "lifetime limit", e: func(e *state.Entry) { e.Result.Kind = plan.Lifetime }, want: fixtures.Found().Upper},
		{name: "switched off", path: func(p *configs.Path) { p.Hint = configs.HintOff }, why: "hint: off in the config"},
		{name: "sequential", path: func(p *configs.Path) { p.Strategy = plan.Sequential }, why: "the sequential strategy"},
		{name: "small budget", path: func(p *configs.Path) { p.Budget = 4 }, why: "the budget (4) is below the 8 connections"},
		{name: "no state", none: true, why: "no stored result"},
		{name: "other target", e: func(e *state.Entry) { e.Path.Target = "http://192.0.2.11/" }, why: "another target"},
		{name: "request changed", path: func(p *configs.Path) { p.Request.Method = "HEAD" }, why: "the path's settings changed"},
		{name: "max changed, old file", path: func(p *configs.Path) { p.MaxIdle = 20 * time.Minute },
			e: func(e *state.Entry) { e.Key = "" }, why: "the search settings changed"},
		{name: "inconclusive", e: func(e *state.Entry) { e.Result.Status, e.Result.Complete = plan.Inconclusive, false }, why: "not a clean answer"},
		{name: "no limit", e: func(e *state.Entry) { e.Result.Found = false }, why: "found no limit up to max"},
		{name: "too old", at: now.Add(8 * 24 * time.Hour), why: "older than 168h"},
		{name: "below min", e: func(e *state.Entry) { e.Result.Upper = 500 * time.Millisecond }, why: "cannot be a hint: hint: 500ms must be within min"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, e := path(), entry()
			if tc.path != nil {
				tc.path(&p)
			}
			if tc.e != nil {
				tc.e(&e)
			}
			at := now
			if !tc.at.IsZero() {
				at = tc.at
			}
			got, why := hintFor(p, e, !tc.none, at, time.Hour)
			if got != tc.want || !strings.Contains(why, tc.why) || (tc.why == "") != (why == "") {
				t.Errorf("hint %s (%q), want %s (%q)", got, why, tc.want, tc.why)
			}
		})
	}
}

// A real service against a real server on loopback: the first run is a
// full search, the next one starts from its answer, says so in the state
// file and on /metrics, and still brackets the server's idle timeout.
func TestServiceRemeasuresFromLastResult(t *testing.T) {
	const timeout = 1500 * time.Millisecond
	target := idleServer(t, timeout)
	dir := t.TempDir()
	cfgFile, statePath := filepath.Join(dir, "idleprobe.yml"), filepath.Join(dir, "state.json")
	writeConfig(t, cfgFile, pathConfig{name: "web", target: target})
	var runs []prober.Options
	measure := func(ctx context.Context, tg prober.Target, o prober.Options) (prober.Result, error) {
		runs = append(runs, o) // runs of one path never overlap
		return prober.Measure(ctx, tg, o)
	}
	ts := startService(t, cfgFile, statePath, func(o *Options) { o.Measure = measure })
	waitFor(t, 30*time.Second, "the first result", func() bool { return hasResult(t, ts.url, "web") })
	if len(runs) != 1 || runs[0].Plan.Hint != 0 {
		t.Fatalf("first run: hint %v, want a full search", runs[0].Plan.Hint)
	}
	first, ok := ts.s.store.Latest("web")
	if !ok || !first.Result.Found || first.Key != measureKey(mustPath(t, ts.s, "web")) {
		t.Fatalf("stored after the first run: %+v", first)
	}
	if err := ts.s.sched.RunNow("web"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the second result", func() bool {
		e, _ := ts.s.store.Latest("web")
		return e.Result.Finished.After(first.Result.Finished)
	})
	if runs[1].Plan.Hint != first.Result.Upper {
		t.Errorf("second run: hint %s, want the first run's upper edge %s", runs[1].Plan.Hint, first.Result.Upper)
	}
	second, _ := ts.s.store.Latest("web")
	r := second.Result
	if r.Hint.From != first.Result.Upper || !r.Found || r.Lower >= timeout || r.Upper < timeout {
		t.Errorf("second run: %+v hint %+v, want the %s timeout bracketed from the hint", r.Status, r.Hint, timeout)
	}
	if r.Hint.Held && r.ConnectionsOpened > plan.HintConnections+2 {
		t.Errorf("second run held its hint but opened %d connections", r.ConnectionsOpened)
	}
	if v, ok := pathValue(metrics(t, ts.url), "idleprobe_measurement_hint_seconds", "web"); !ok || v != r.Hint.From.Seconds() {
		t.Errorf("idleprobe_measurement_hint_seconds = %v (%v), want %v", v, ok, r.Hint.From.Seconds())
	}
	_, onDisk, err := state.Open(statePath, nil)
	h := onDisk["web"].Result.Hint
	if err != nil || onDisk["web"].Key != second.Key || h.Held != r.Hint.Held || (h.From-r.Hint.From).Abs() > time.Microsecond {
		t.Errorf("state file: key %q hint %+v (%v), want %q %+v", onDisk["web"].Key, onDisk["web"].Result.Hint, err, second.Key, r.Hint)
	}
	t.Logf("full search: %d connections in %s; hinted: %d connections in %s (held %v)", first.Result.ConnectionsOpened,
		first.Result.Duration().Round(time.Millisecond), r.ConnectionsOpened, r.Duration().Round(time.Millisecond), r.Hint.Held)
}

// mustPath returns the running config's path name.
func mustPath(t *testing.T, s *Service, name string) configs.Path {
	t.Helper()
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	p, ok := s.cfg.Path(name)
	if !ok {
		t.Fatalf("no path %q", name)
	}
	return p
}
