package exporters

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
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
