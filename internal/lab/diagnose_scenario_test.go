package lab

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/hop"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// TestDiagnoseVIP: the same responder reached directly (ServerAddr, no
// conntrack policy) and through the VIP, whose conntrack entries expire
// after T and then answer with a reset. `idleprobe diagnose` measures both
// at once and names the VIP path as the one that owns the limit; the VIP's
// bracket contains T and the direct path has none.
func TestDiagnoseVIP(t *testing.T) {
	Require(t)
	t.Parallel()
	const T = 3 * time.Second
	const max = 8 * time.Second
	l := New(t, Options{Timeout: T, Mode: Reset})
	startResponder(t, l)
	direct := fmt.Sprintf("http://%s:80/", l.ServerAddr)
	vip := vipURL(l, 80)
	args := measureArgs(max, []string{"--output", "json", "--max-connections", "24"}, "pod="+direct)
	start := time.Now()
	stdout, stderr := l.run(t, "diagnose", append(args, "vip="+vip))
	took := time.Since(start)

	var got struct {
		Paths []struct {
			Name   string
			Status string
			Result plan.Result
		}
		Verdict struct{ Owner, Text string }
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("diagnose printed no JSON: %v\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	t.Logf("verdict after %.1fs: %s", took.Seconds(), got.Verdict.Text)
	if len(got.Paths) != 2 || got.Paths[0].Name != "pod" || got.Paths[1].Name != "vip" {
		t.Fatalf("paths %+v, want pod then vip", got.Paths)
	}
	pod, v := got.Paths[0].Result, got.Paths[1].Result
	t.Logf("pod: %s", Summary(pod))
	t.Logf("vip: %s", Summary(v))
	if got.Paths[0].Status != "measured" || pod.Found || pod.Lower < max {
		t.Errorf("direct path: %s, want no limit up to %s", Summary(pod), max)
	}
	checkMiddleboxLimit(t, v, T, plan.Reset)
	// The packet capture names the same hop: the lb's RST.
	checkEndedBy(t, v, hop.Hop, 1)
	if got.Verdict.Owner != "vip" || !strings.HasPrefix(got.Verdict.Text, "the vip hop owns it: reset at ") {
		t.Errorf("verdict %+v, want the vip hop", got.Verdict)
	}
	// Both ran at once: the whole diagnosis takes about as long as the
	// longer measurement alone, not the sum.
	if sum := pod.Duration() + v.Duration(); took >= sum {
		t.Errorf("diagnose took %s, the two measurements %s together: they did not run at once", took, sum)
	}
}
