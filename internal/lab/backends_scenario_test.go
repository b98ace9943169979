package lab

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/realserver"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Scenario 10: two backends with different idle limits behind one VIP, like
// a Service with two pods: nginx with keepalive_timeout 3s on one, 7s on the
// other, and the lb's DNAT alternating new flows between them. A client can
// meet the shorter limit, so the bracket holds 3 s; connections on the 7 s
// backend live past it, which is a spread (several backends), not
// disagreement; and the close seen while idle is exact, so the measurement
// costs about what one backend would.
func TestScenario10TwoBackends(t *testing.T) {
	Require(t)
	t.Parallel()
	const short, long = 3 * time.Second, 7 * time.Second
	l := New(t, Options{Backends: 2})
	a := l.StartNginx(t, l.Server, NginxKeepaliveServer(l.ServerAddr.String()+":80", short), l.ServerAddr.String()+":80")
	b := l.StartNginx(t, l.Server, NginxKeepaliveServer(l.ServerAddr2.String()+":80", long), l.ServerAddr2.String()+":80")

	r := l.Measure(t, measureArgs(10*time.Second, nil, vipURL(l, 80))...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s", realserver.Describe(r))
		}
	})
	checkServerClose(t, r, short)
	if r.Status != plan.Measured {
		t.Errorf("status %q (%s), want %q", r.Status, r.Reason, plan.Measured)
	}
	if r.Kind != plan.Idle {
		t.Errorf("kind %q, want %q", r.Kind, plan.Idle)
	}
	if r.Disagree != 0 {
		t.Errorf("%d trials disagree; a second backend with a longer limit is a spread, not a flaky path", r.Disagree)
	}
	if r.Spread.Survived == 0 {
		t.Errorf("Spread.Survived 0: no connection lived past %s, but half of them go to the %s backend", short, long)
	}
	if max := short * 16 / 10; r.Duration() > max {
		t.Errorf("took %s, want at most 1.6 x %s = %s (about what one backend costs)", r.Duration(), short, max)
	}
	if r.Settings.Deadline <= r.Settings.Max {
		t.Errorf("deadline %s reported, want Measure's bound (longer than max %s)", r.Settings.Deadline, r.Settings.Max)
	} else if r.Duration() > r.Settings.Deadline+time.Second {
		t.Errorf("took %s, want at most deadline %s + 1s", r.Duration(), r.Settings.Deadline)
	}
	// Both backends served the measurement: the DNAT spread its flows.
	for _, n := range []*Nginx{a, b} {
		log, err := os.ReadFile(n.AccessLog)
		if err != nil || !strings.Contains(string(log), "GET") {
			t.Errorf("backend %s served no request (%v): the lb did not spread the flows", n.Conf, err)
		}
	}
}
