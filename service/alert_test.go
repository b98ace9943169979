package service

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/realserver"
)

// TestServicePrometheusAlert runs a real Prometheus that scrapes the
// service every second with the shipped alert rules, and waits for the
// margin alert to fire for a path whose client idle timeout (2 s) is above
// its measured limit (the target closes idle connections after 1 s), and
// not for a path whose client idle timeout (0.5 s) is below it.
//
// The rules are used from a copy in a temporary directory in which every
// `for:` duration is rewritten to 0s, so that an alert that waits in the
// shipped file fires within the test's bound here. (The margin alert has no
// `for:` today; the rewrite keeps the test valid if one is added.)
func TestServicePrometheusAlert(t *testing.T) {
	checkLeaks(t)
	deadline := time.Now().Add(60 * time.Second)

	target := idleServer(t, time.Second)
	dir := t.TempDir()
	cfgFile, statePath := filepath.Join(dir, "idleprobe.yml"), filepath.Join(dir, "state.json")
	writeConfig(t, cfgFile,
		pathConfig{name: "too-long", target: target, clientIdle: "2s"},
		pathConfig{name: "fine", target: target, clientIdle: "500ms"})
	ts := startService(t, cfgFile, statePath, nil)

	rules, err := os.ReadFile(filepath.Join("..", "configs", "alerts", "idleprobe.rules.yml"))
	if err != nil {
		t.Fatalf("reading the shipped alert rules: %v", err)
	}
	rules = regexp.MustCompile(`(?m)^(\s+)for:\s*\S+`).ReplaceAll(rules, []byte("${1}for: 0s"))
	rulesFile := filepath.Join(dir, "idleprobe.rules.yml")
	writeFile(t, rulesFile, string(rules))

	prom := realserver.StartPrometheus(t, realserver.PrometheusConfig{
		Targets:   []string{strings.TrimPrefix(ts.url, "http://")},
		RuleFiles: []string{rulesFile},
	})

	var last string
	// api GETs a Prometheus API path into v; it reports false while
	// Prometheus is not up yet.
	api := func(path string, v any) bool {
		code, b := prom.API(path)
		last = string(b)
		if code != http.StatusOK {
			return false // starting
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("decoding %s: %v: %s", path, err, b)
		}
		return true
	}
	// firing returns the paths for which the margin alert fires now.
	firing := func() map[string]bool {
		var alerts struct {
			Data struct {
				Alerts []struct {
					Labels map[string]string `json:"labels"`
					State  string            `json:"state"`
				} `json:"alerts"`
			} `json:"data"`
		}
		out := map[string]bool{}
		if !api("/api/v1/alerts", &alerts) {
			return out
		}
		for _, a := range alerts.Data.Alerts {
			if a.Labels["alertname"] == "IdleprobeClientIdleTimeoutAboveLimit" && a.State == "firing" {
				out[a.Labels["path"]] = true
			}
		}
		return out
	}
	waitFor(t, time.Until(deadline), "IdleprobeClientIdleTimeoutAboveLimit to fire for too-long", func() bool { return firing()["too-long"] })

	// The control path: once Prometheus holds its margin and has evaluated
	// the rules after that, the alert must still spare it.
	var seen time.Time
	waitFor(t, time.Until(deadline), "Prometheus to hold the control path's margin", func() bool {
		var q struct {
			Data struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		ok := api("/api/v1/query?query="+url.QueryEscape(`idleprobe_client_idle_margin_seconds{path="fine"}`), &q) && len(q.Data.Result) > 0
		seen = time.Now()
		return ok
	})
	waitFor(t, time.Until(deadline), "a rule evaluation after that", func() bool {
		var rules struct {
			Data struct {
				Groups []struct {
					LastEvaluation time.Time `json:"lastEvaluation"`
					Rules          []struct {
						Name string `json:"name"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if !api("/api/v1/rules", &rules) {
			return false
		}
		for _, g := range rules.Data.Groups {
			for _, r := range g.Rules {
				if r.Name == "IdleprobeClientIdleTimeoutAboveLimit" {
					return g.LastEvaluation.After(seen)
				}
			}
		}
		t.Fatalf("IdleprobeClientIdleTimeoutAboveLimit is not among the loaded rules: %s", last)
		return false
	})
	now := firing()
	if now["fine"] || !now["too-long"] {
		t.Errorf("alert firing for %v, want only too-long (the control path's client idle timeout 0.5 s is below its limit): %s", now, last)
	}
}
