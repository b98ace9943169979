package exporters

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/idleprobe/idleprobe/internal/fixtures"
)

// TestGroupInfo: idleprobe_path_group_info is exported for the paths that
// set a group or a family, with both labels, and not for the others, whose
// series keep their label sets.
func TestGroupInfo(t *testing.T) {
	c := NewCollector()
	c.SetPath(PathInfo{Name: "pod", Target: "http://192.0.2.10:8080/", Group: "orders"})
	c.SetPath(PathInfo{Name: "lb-ipv6", Target: "http://lb.example/", Group: "orders", Family: "6"})
	c.SetPath(PathInfo{Name: "v4", Target: "tcp://192.0.2.1:1", Family: "4"})
	c.SetPath(PathInfo{Name: "plain", Target: "tcp://192.0.2.2:1"})
	want := `# HELP idleprobe_path_group_info ` + famGroup.help + `
# TYPE idleprobe_path_group_info gauge
idleprobe_path_group_info{family="",group="orders",path="pod"} 1
idleprobe_path_group_info{family="4",group="",path="v4"} 1
idleprobe_path_group_info{family="6",group="orders",path="lb-ipv6"} 1
# HELP idleprobe_path_info ` + famPathInfo.help + `
# TYPE idleprobe_path_info gauge
idleprobe_path_info{path="lb-ipv6",target="http://lb.example/"} 1
idleprobe_path_info{path="plain",target="tcp://192.0.2.2:1"} 1
idleprobe_path_info{path="pod",target="http://192.0.2.10:8080/"} 1
idleprobe_path_info{path="v4",target="tcp://192.0.2.1:1"} 1
`
	if err := testutil.GatherAndCompare(registry(t, c), strings.NewReader(want), "idleprobe_path_group_info", "idleprobe_path_info"); err != nil {
		t.Error(err)
	}
}

// TestLandingGroups: the landing page shows a section per group with its
// paths in configured order (Order), the shortest limit marked and the hop
// that owns it; paths without a group are in no section.
func TestLandingGroups(t *testing.T) {
	c := NewCollector()
	// Registered in another order than configured: the section follows Order.
	c.Set(PathInfo{Name: "a-nodeport", Target: "http://192.0.2.7:30080/", Group: "orders", Order: 9}, fixtures.Found())
	c.Set(PathInfo{Name: "z-pod", Target: "http://192.0.2.10:8080/", Group: "orders", Order: 4}, fixtures.NoLimit())
	c.SetPath(PathInfo{Name: "lb-ipv6", Target: "http://lb.example/", Group: "orders", Family: "6", Order: 12})
	c.Set(PathInfo{Name: "alone", Target: "tcp://192.0.2.1:1"}, fixtures.Found())
	rec := httptest.NewRecorder()
	LandingPage(c, LandingConfig{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	body := rec.Body.String()
	_, groups, ok := strings.Cut(body, "<h2>Groups</h2>")
	if !ok {
		t.Fatalf("no Groups section:\n%s", body)
	}
	if strings.Count(groups, "<h3>") != 1 || !strings.Contains(groups, "<h3>orders</h3>") || strings.Contains(groups, "alone") {
		t.Errorf("want one section, orders, without the ungrouped path:\n%s", groups)
	}
	pod, np, lb := strings.Index(groups, ">z-pod<"), strings.Index(groups, ">a-nodeport<"), strings.Index(groups, ">lb-ipv6<")
	if pod < 0 || np < pod || lb < np {
		t.Errorf("paths not in configured order (pod %d, nodeport %d, lb %d):\n%s", pod, np, lb, groups)
	}
	for _, want := range []string{
		"<td>any</td><td>no limit up to 10m</td>",
		"<b>reset at 59.5-60.5 s (shortest)</b>",
		"<td>IPv6</td><td>not measured yet</td>",
		"&rarr; the a-nodeport hop owns it: reset at 59.5-60.5 s on a-nodeport, not on z-pod before it (no limit up to 10m) (not measured, left out: lb-ipv6)",
	} {
		if !strings.Contains(groups, want) {
			t.Errorf("groups section lacks %q:\n%s", want, groups)
		}
	}
}
