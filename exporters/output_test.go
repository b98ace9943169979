package exporters

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// oneShotText is WriteText's output for apiPath and foundResult: gauges
// only, no counters, no in-progress, no reload state.
const oneShotText = `# HELP idleprobe_client_idle_margin_seconds Lower bound of the measured idle limit minus the configured client idle timeout; at or below 0 the client may reuse connections the path has already killed (502s).
# TYPE idleprobe_client_idle_margin_seconds gauge
idleprobe_client_idle_margin_seconds{path="api",team="web"} -15.5
# HELP idleprobe_client_idle_timeout_seconds Configured idle time the real client keeps a pooled connection (client_idle_timeout).
# TYPE idleprobe_client_idle_timeout_seconds gauge
idleprobe_client_idle_timeout_seconds{path="api",team="web"} 75
# HELP idleprobe_ended_by_hops_before_server When a hop, not the server, ended the connections at the limit: how many hops before the server it sits (1: the last router before the server), from the TTL of its RST or FIN.
# TYPE idleprobe_ended_by_hops_before_server gauge
idleprobe_ended_by_hops_before_server{path="api",team="web"} 1
# HELP idleprobe_idle_limit_agreeing_trials Trials of the latest completed measurement consistent with its bracket.
# TYPE idleprobe_idle_limit_agreeing_trials gauge
idleprobe_idle_limit_agreeing_trials{path="api",team="web"} 3
# HELP idleprobe_idle_limit_disagreeing_trials Trials of the latest completed measurement that contradict its bracket (a failure below the lower bound or a success above the upper): a flaky path.
# TYPE idleprobe_idle_limit_disagreeing_trials gauge
idleprobe_idle_limit_disagreeing_trials{path="api",team="web"} 1
# HELP idleprobe_idle_limit_found 1 if the latest completed measurement found an idle limit, 0 if the path survived every idle time tested.
# TYPE idleprobe_idle_limit_found gauge
idleprobe_idle_limit_found{path="api",team="web"} 1
# HELP idleprobe_idle_limit_info How the path kills connections at the upper bound (mode: reset, closed_idle, closed_on_reuse, dropped, or none when no limit was found), on which clock the limit runs (kind: idle, or lifetime for a limit on connection age) and who sent the packet that ended them (ended_by: server, hop, or unknown); always 1.
# TYPE idleprobe_idle_limit_info gauge
idleprobe_idle_limit_info{ended_by="hop",kind="idle",mode="reset",path="api",team="web"} 1
# HELP idleprobe_idle_limit_max_tested_seconds Largest idle time the latest completed measurement was allowed to test (its max setting).
# TYPE idleprobe_idle_limit_max_tested_seconds gauge
idleprobe_idle_limit_max_tested_seconds{path="api",team="web"} 600
# HELP idleprobe_idle_limit_seconds Bracket (lower, upper] holding the idle time after which the path kills a kept-alive connection, from the latest completed measurement; upper is absent when no limit was found.
# TYPE idleprobe_idle_limit_seconds gauge
idleprobe_idle_limit_seconds{bound="lower",path="api",team="web"} 59.5
idleprobe_idle_limit_seconds{bound="upper",path="api",team="web"} 60.5
# HELP idleprobe_last_measurement_success_timestamp_seconds Unix time at which the latest completed (published) measurement ended.
# TYPE idleprobe_last_measurement_success_timestamp_seconds gauge
idleprobe_last_measurement_success_timestamp_seconds{path="api",team="web"} 1.772366475e+09
# HELP idleprobe_last_measurement_timestamp_seconds Unix time at which the latest measurement ended, successful or failed.
# TYPE idleprobe_last_measurement_timestamp_seconds gauge
idleprobe_last_measurement_timestamp_seconds{path="api",team="web"} 1.772366475e+09
# HELP idleprobe_measurement_connections Connections the latest completed measurement opened.
# TYPE idleprobe_measurement_connections gauge
idleprobe_measurement_connections{path="api",team="web"} 12
# HELP idleprobe_measurement_duration_seconds Wall time the latest completed measurement took.
# TYPE idleprobe_measurement_duration_seconds gauge
idleprobe_measurement_duration_seconds{path="api",team="web"} 75
# HELP idleprobe_measurement_peak_connections Most connections the latest completed measurement held open at once.
# TYPE idleprobe_measurement_peak_connections gauge
idleprobe_measurement_peak_connections{path="api",team="web"} 7
# HELP idleprobe_path_info Configured path: target in URL form (passwords redacted); always 1.
# TYPE idleprobe_path_info gauge
idleprobe_path_info{path="api",target="http://probe:xxxxx@192.0.2.10:8080/healthz",team="web"} 1
`

func TestWriteText(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteText(&buf, apiPath, foundResult()); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != oneShotText {
		t.Errorf("WriteText output differs.\n--- got\n%s\n--- want\n%s", got, oneShotText)
	}
	if bin := promtool(t); bin != "" {
		cmd := exec.Command(bin, "check", "metrics")
		cmd.Stdin = bytes.NewReader(buf.Bytes())
		if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}
}

func TestWriteTextRejects(t *testing.T) {
	partial := foundResult()
	partial.Complete = false
	badLabels := apiPath
	badLabels.Labels = map[string]string{"job": "x"}
	tests := []struct {
		name string
		info PathInfo
		r    plan.Result
		want string
	}{
		{"incomplete", apiPath, partial, "incomplete"},
		{"reserved label", badLabels, foundResult(), `label "job" is set by idleprobe`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteText(&buf, tc.info, tc.r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("WriteText error = %v, want one containing %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("WriteText wrote %q despite the error", buf.String())
			}
		})
	}
}

func TestWriteTextfile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "idleprobe_api.prom")

	if err := WriteTextfile(file, apiPath, foundResult()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != oneShotText {
		t.Errorf("file content differs from WriteText:\n%s", got)
	}

	// A failed run leaves the previous file untouched.
	partial := foundResult()
	partial.Complete = false
	if err := WriteTextfile(file, apiPath, partial); !errors.Is(err, ErrIncomplete) {
		t.Errorf("WriteTextfile(incomplete) = %v, want ErrIncomplete", err)
	}
	if again, _ := os.ReadFile(file); !bytes.Equal(again, got) {
		t.Errorf("previous file changed by a failed write:\n%s", again)
	}

	// Only the target file remains: no temporary files.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %q, want only the .prom file", names)
	}

	// An unwritable location is an error naming the file.
	bad := filepath.Join(dir, "missing", "x.prom")
	if err := WriteTextfile(bad, apiPath, foundResult()); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("WriteTextfile into a missing directory = %v, want an error naming %s", err, bad)
	}
}

func TestPush(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	// Cleanups run last-in first-out: this check runs after srv.Close.
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	type request struct {
		method, path, contentType string
		body                      string
	}
	got := make(chan request, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		got <- request{r.Method, r.URL.EscapedPath(), r.Header.Get("Content-Type"), string(b)}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Push(ctx, srv.URL, "idleprobe", apiPath, foundResult()); err != nil {
		t.Fatal(err)
	}
	var req request
	select {
	case req = <-got:
	default:
		t.Fatal("the Pushgateway got no request")
	}
	if req.method != http.MethodPut {
		t.Errorf("method = %s, want PUT (replace the path's group)", req.method)
	}
	if want := "/metrics/job/idleprobe/path/api"; req.path != want {
		t.Errorf("URL path = %s, want %s", req.path, want)
	}
	if !strings.HasPrefix(req.contentType, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain", req.contentType)
	}
	// The pushed text is WriteText's, minus the path label (in the URL).
	want := strings.ReplaceAll(oneShotText, `path="api",`, "")
	if req.body != want {
		t.Errorf("pushed body differs.\n--- got\n%s\n--- want\n%s", req.body, want)
	}
}

func TestPushErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "pushgateway says no", http.StatusBadRequest)
	}))
	t.Cleanup(srv.Close)
	partial := foundResult()
	partial.Complete = false
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tests := []struct {
		name string
		info PathInfo
		r    plan.Result
		want string
	}{
		{"server error", apiPath, foundResult(), "pushgateway says no"},
		{"incomplete", apiPath, partial, "incomplete"},
		{"no name", PathInfo{Target: "tcp://127.0.0.1:1"}, foundResult(), "needs a name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Push(ctx, srv.URL, "idleprobe", tc.info, tc.r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Push error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
