package exporters

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

func TestLandingPage(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })

	c := NewCollector()
	c.Set(apiPath, foundResult())
	c.Set(redisPath, noLimitResult())
	rescued, lost := foundResult(), foundResult()
	for _, r := range []*plan.Result{&rescued, &lost} {
		r.KeepaliveIdle, r.KeepaliveInterval, r.KeepaliveCount, r.KeepaliveChecked = 30*time.Second, 75*time.Second, 9, true
	}
	rescued.KeepaliveRescues = true
	lost.KeepaliveDetail = "reuse after 1m30s idle: reset"
	c.Set(PathInfo{Name: "ka-rescued", Target: "http://192.0.2.20/"}, rescued)
	c.Set(PathInfo{Name: "ka-lost", Target: "http://192.0.2.21/"}, lost)
	evil := PathInfo{Name: `<script>alert("x")</script>`, Target: `http://192.0.2.1/?q=<b>`, ClientIdleTimeout: time.Minute}
	c.SetPath(evil)
	c.SetInProgress(evil.Name, true)
	c.Record(evil.Name, foundResult(), nil)
	c.Record(evil.Name, foundResult(), errors.New(`dial: <img src=x onerror=alert(1)>`))
	c.SetPath(PathInfo{Name: "fresh", Target: "tcp://127.0.0.1:7"})
	// A lifetime limit with a spread and server hints, whose latest run
	// ended inconclusive: the published result stays, the reason shows.
	c.SetPath(pgPath)
	c.Record(pgPath.Name, richResult(), nil)
	c.Record(pgPath.Name, inconclusiveResult(), fmt.Errorf("%w: deadline", prober.ErrInconclusive))

	now := foundResult().Finished.Add(90 * time.Minute)
	srv := httptest.NewServer(LandingPage(c, LandingConfig{
		Version:     "1.2.3",
		MetricsPath: "/custom-metrics",
		Now:         func() time.Time { return now },
	}))
	t.Cleanup(srv.Close)
	client := srv.Client()
	t.Cleanup(client.CloseIdleConnections)

	get := func(t *testing.T, method, path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}

	t.Run("content", func(t *testing.T) {
		resp, body := get(t, http.MethodGet, "/")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("Content-Type = %q", ct)
		}
		for _, want := range []string{
			`<a href="/custom-metrics">Metrics</a>`,
			"Version 1.2.3.",
			// api: found bracket, mode, margin below zero flagged.
			`<td><a href="path/api">api</a></td>`,
			"<td>http://probe:xxxxx@192.0.2.10:8080/healthz</td>",
			"<td>(59.5s, 60.5s]</td>",
			"<td>reset</td>",
			"<td>2026-03-01T12:01:15Z (1h30m0s ago)</td>",
			"<td>1m 15s</td>",
			`<td class="bad">-15.5s</td>`,
			// redis: no limit, no client timeout.
			"<td>no limit up to 10m (lower bound)</td>",
			"<td>none</td>",
			"<td>not set</td>",
			// fresh: nothing measured yet.
			`<td><a href="path/fresh">fresh</a></td>`,
			`<span class="muted">not measured yet</span>`,
			"<td>never</td>",
			// The hostile path is escaped, its failure shown.
			`<td><a href="path/%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E">&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</a></td>`,
			"<td>http://192.0.2.1/?q=&lt;b&gt;</td>",
			"measuring",
			"failed: dial: &lt;img src=x onerror=alert(1)&gt;",
			// 59.5s - 1m is below zero: flagged.
			`<td class="bad">-500ms</td>`,
			// The TCP keepalive check's answer; a path that was not
			// asked says so.
			"<td>idle 30s, interval 75s: keeps the path alive past its limit (held 0s)</td>",
			`<td class="bad">idle 30s, interval 75s: does NOT keep it alive past its limit (reuse after 1m30s idle: reset)</td>`,
			// api: the result in words, the same as measure's summary.
			"<td>idle</td>",
			"Idle limit: reset by a hop (RST) after 59.5-60.5 s idle<br>Ended by: hop 1 before the server (RST with TTL 64, the server&#39;s SYN-ACK 63; 1 of 1 failures): a middlebox on the path ended it, not the server<br>Advice: keep client idle timeouts",
			// pg: kind, lifetime wording, spread, hints, advice, and the
			// reason of the failed run below the kept result.
			"<td>(4.90s, 5.00s]</td>",
			"<td>lifetime</td>",
			"Lifetime limit: connections are closed 4.90-5.00 s after they open, whatever was sent since (closed while idle)",
			"Spread: closes between 5.00 and 5.30 s of age; 2 of 5 connections lived past 5.0 s (the longest to 6.0 s): several backends with different limits, or a server that checks its clients on a coarse timer?",
			"Server: advertises Keep-Alive timeout=5s, max=100 (measured: lifetime 4.90-5.00 s); closes a connection after 99 reuses",
			"Advice: keep the pool&#39;s max lifetime (HikariCP maxLifetime",
			"failed: inconclusive: no clean answer within the deadline of 30m30s; limit in (3.0s, 9.0s] so far; 7 of 38 trials contradict it",
			"<td>not checked</td>",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		for _, bad := range []string{"<script>", "<img", "s3cret", "<b>"} {
			if strings.Contains(body, bad) {
				t.Errorf("page contains unescaped or secret %q", bad)
			}
		}
		if strings.Index(body, ">api</a></td>") > strings.Index(body, ">fresh</a></td>") {
			t.Errorf("paths not sorted by name")
		}
	})

	tests := []struct {
		name, method, path string
		status             int
	}{
		{"head", http.MethodHead, "/", http.StatusOK},
		{"post", http.MethodPost, "/", http.StatusMethodNotAllowed},
		{"unknown path", http.MethodGet, "/probe?target=192.0.2.1", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := get(t, tc.method, tc.path)
			if resp.StatusCode != tc.status {
				t.Errorf("%s %s = %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
			}
		})
	}
}

func TestLandingPageEmpty(t *testing.T) {
	rec := httptest.NewRecorder()
	LandingPage(NewCollector(), LandingConfig{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, "No paths are configured.") ||
		!strings.Contains(body, `href="/metrics"`) {
		t.Errorf("empty page: %d\n%s", rec.Code, body)
	}
}
