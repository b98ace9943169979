package lab

import (
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// Scenario 9: TCP keepalive rescues a path whose middlebox is kernel
// conntrack. A keepalive probe carries no data, so a userspace proxy never
// sees it (the loopback test in prober asserts "not rescued" there), but it
// is a packet of the flow: conntrack refreshes the flow's timeout on it. With
// the first probe after 1 s and one every 1 s, a flow that conntrack forgets
// after T = 3 s idle lives on; with the first probe after 5 s (> T) the flow
// is forgotten before any probe, and the reuse meets the reset.
func TestScenario9KeepaliveRescues(t *testing.T) {
	Require(t)
	t.Parallel()
	const T = 3 * time.Second
	l := New(t, Options{Timeout: T, Mode: Reset})
	startResponder(t, l)
	for _, tc := range []struct {
		name      string
		keepalive string
		rescues   bool
	}{
		{"probes before the limit rescue", "1s,1s,5", true},
		{"probes after the limit do not", "5s,5s,3", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // one lab, two independent measurements
			r := l.Measure(t, measureArgs(10*time.Second, []string{"--keepalive", tc.keepalive}, vipURL(l, 80))...)
			checkMiddleboxLimit(t, r, T, plan.Reset)
			t.Logf("keepalive %s: checked %v, rescues %v, held %s: %s", tc.keepalive, r.KeepaliveChecked, r.KeepaliveRescues, r.KeepaliveHeld, r.KeepaliveDetail)
			if !r.KeepaliveChecked {
				t.Fatalf("keepalive check not done: %s", r.KeepaliveDetail)
			}
			if r.KeepaliveRescues != tc.rescues {
				t.Errorf("keepalive %s: rescues %v (%s), want %v", tc.keepalive, r.KeepaliveRescues, r.KeepaliveDetail, tc.rescues)
			}
			// The connection was held (or died) past the conntrack timeout:
			// the answer is about surviving the limit, not about a short idle.
			if tc.rescues && r.KeepaliveHeld <= T+time.Second {
				t.Errorf("held only %s idle, want well past T=%s", r.KeepaliveHeld, T)
			}
			if !tc.rescues && !strings.Contains(r.KeepaliveDetail, "reset") {
				t.Errorf("outcome %q, want the middlebox's reset", r.KeepaliveDetail)
			}
		})
	}
}
