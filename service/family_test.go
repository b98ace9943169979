package service

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeFamilies: a path with ip_family both is measured as two paths,
// web-ipv4 and web-ipv6, in the group web. The target is 127.0.0.1, so
// IPv4 finds the server's 1 s idle close and IPv6 fails with the reason
// on the landing page; idleprobe_path_group_info labels both, and a path
// without group or ip_family has none.
func TestServeFamilies(t *testing.T) {
	checkLeaks(t)
	target := idleServer(t, time.Second)
	dir := t.TempDir()
	cfgFile, statePath := filepath.Join(dir, "idleprobe.yml"), filepath.Join(dir, "state.json")
	writeFile(t, cfgFile, fmt.Sprintf(`max_connections: 16
defaults:
  min_idle: 250ms
  max_idle: 3s
  budget: 8
  trial_timeout: 2s
  jitter: 0s
  schedule: "@every 1h"
paths:
  - name: web
    target: %s
    ip_family: both
  - name: plain
    target: %s
`, target, target))
	ts := startService(t, cfgFile, statePath, nil)
	waitFor(t, 30*time.Second, "a result for web-ipv4 and a failure for web-ipv6", func() bool {
		fail, _ := pathValue(metrics(t, ts.url), "idleprobe_measurements_total", "web-ipv6", "result", "failure")
		return hasResult(t, ts.url, "web-ipv4") && fail == 1
	})
	fams := metrics(t, ts.url)
	if upper, ok := pathValue(fams, "idleprobe_idle_limit_seconds", "web-ipv4", "bound", "upper"); !ok || upper < 0.95 || upper > 1.5 {
		t.Errorf("web-ipv4 upper bound %g (found %v), want the server's 1 s", upper, ok)
	}
	for path, family := range map[string]string{"web-ipv4": "4", "web-ipv6": "6"} {
		if v, ok := pathValue(fams, "idleprobe_path_group_info", path, "group", "web", "family", family); !ok || v != 1 {
			t.Errorf("idleprobe_path_group_info{path=%q, group=web, family=%s} = %g (present %v)", path, family, v, ok)
		}
	}
	if _, ok := pathValue(fams, "idleprobe_path_group_info", "plain"); ok {
		t.Error("idleprobe_path_group_info for plain, which sets neither group nor ip_family")
	}
	_, page := get(t, ts.url+"/")
	if !strings.Contains(page, "127.0.0.1 has no IPv6 address") || !strings.Contains(page, "<h3>web</h3>") {
		t.Errorf("landing page lacks the IPv6 failure or the web group:\n%s", page)
	}
}
