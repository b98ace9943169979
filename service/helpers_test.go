package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/idleprobe/idleprobe/configs"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// idleServer starts an HTTP/1.1 keep-alive server on 127.0.0.1:0 that
// closes connections idle for longer than idle (never when 0), and returns
// its URL.
func idleServer(t *testing.T, idle time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			fmt.Fprintln(w, "ok")
		}),
		IdleTimeout:       idle,
		ReadHeaderTimeout: 10 * time.Second,
	}
	if idle == 0 {
		srv.IdleTimeout = time.Hour
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && err != http.ErrServerClosed {
			t.Errorf("target server: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return "http://" + l.Addr().String() + "/"
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// syncBuffer is a log sink shared by the service's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testService is one started Service with its handler on a loopback
// server.
type testService struct {
	s       *Service
	url     string
	logs    *syncBuffer
	stopped bool
}

// startService builds the service for configFile (setup may change its
// options first: tests replace its measurement there), serves its handler
// on 127.0.0.1 and starts it. It is stopped in t.Cleanup (logs are printed
// if the test failed).
func startService(t *testing.T, configFile, statePath string, setup func(*Options)) *testService {
	t.Helper()
	cfg, _, err := configs.Load(configFile)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	o := Options{
		ConfigFile: configFile,
		StatePath:  statePath,
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if setup != nil {
		setup(&o)
	}
	ts := &testService{s: New(cfg, o), logs: logs}
	hs := httptest.NewServer(ts.s.Handler())
	ts.url = hs.URL
	t.Cleanup(func() {
		ts.stop(t)
		hs.Close()
		if t.Failed() {
			t.Logf("service logs:\n%s", logs.String())
		}
	})
	if code, _ := get(t, ts.url+"/-/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("/-/ready before Start = %d, want 503", code)
	}
	if err := ts.s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if code, _ := get(t, ts.url+"/-/ready"); code != http.StatusOK {
		t.Errorf("/-/ready after Start = %d, want 200", code)
	}
	return ts
}

// stop stops the service (as SIGTERM does) and returns how long that took.
func (ts *testService) stop(t *testing.T) time.Duration {
	t.Helper()
	if ts.stopped {
		return 0
	}
	ts.stopped = true
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.s.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
	return time.Since(start)
}

// client never keeps connections, so that it leaves no goroutines behind.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	return do(t, http.MethodGet, url)
}

func do(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metrics scrapes url and parses the text exposition.
func metrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, url+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return fams
}

// value returns the value of the series of family name whose labels
// include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// pathValue is value for the series of one path (and an optional extra label).
func pathValue(fams map[string]*dto.MetricFamily, name, path string, kv ...string) (float64, bool) {
	want := map[string]string{"path": path}
	for i := 0; i+1 < len(kv); i += 2 {
		want[kv[i]] = kv[i+1]
	}
	return value(fams, name, want)
}

// pathConfig is one path of a test config.
type pathConfig struct {
	name, target, schedule, jitter string
	maxIdle, clientIdle            string
}

// writeConfig writes a serve config with the given paths. Measurements are
// kept short: idle ages 250ms to maxIdle (default 3s).
func writeConfig(t *testing.T, file string, paths ...pathConfig) {
	t.Helper()
	var b strings.Builder
	b.WriteString("max_connections: 16\ndefaults:\n  min_idle: 250ms\n  max_idle: 3s\n  budget: 8\n  trial_timeout: 2s\n  jitter: 0s\npaths:\n")
	for _, p := range paths {
		fmt.Fprintf(&b, "  - name: %s\n    target: %s\n", p.name, p.target)
		sched := p.schedule
		if sched == "" {
			sched = "@every 1h"
		}
		fmt.Fprintf(&b, "    schedule: %q\n", sched)
		if p.jitter != "" {
			fmt.Fprintf(&b, "    jitter: %s\n", p.jitter)
		}
		if p.maxIdle != "" {
			fmt.Fprintf(&b, "    max_idle: %s\n", p.maxIdle)
		}
		if p.clientIdle != "" {
			fmt.Fprintf(&b, "    client_idle_timeout: %s\n", p.clientIdle)
		}
	}
	writeFile(t, file, b.String())
}

func writeFile(t *testing.T, file, content string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hasResult reports whether /metrics shows a published bracket for path.
func hasResult(t *testing.T, url, path string) bool {
	t.Helper()
	_, ok := pathValue(metrics(t, url), "idleprobe_idle_limit_seconds", path, "bound", "lower")
	return ok
}

// stateEntries returns the path names in the state file (none when it
// does not exist).
func stateEntries(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("state file: %v\n%s", err, data)
	}
	var names []string
	for n := range st.Paths {
		names = append(names, n)
	}
	return names
}

// checkLeaks fails the test if goroutines started during it are still
// running once every other cleanup has run.
func checkLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count fds: %v", err)
	}
	return len(ents)
}

// running reports whether a run of path name is in progress (or was just
// started: the scheduler marks it at once).
func running(s *Service, name string) bool {
	for _, j := range s.sched.Jobs() {
		if j.Name == name {
			return j.Running
		}
	}
	return false
}
