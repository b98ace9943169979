package lab

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/prober/hop"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// checkEndedBy asserts who ended the connections at the limit (the lab's
// measurements run as root, so the capture is there): by, and for a hop
// how many hops before the server.
func checkEndedBy(t *testing.T, r plan.Result, by hop.By, hopsBefore int) {
	t.Helper()
	e := r.EndedBy
	switch {
	case e == nil:
		t.Errorf("no ended_by, want %s", by)
	case e.By != by || e.HopsBefore != hopsBefore:
		t.Errorf("ended_by %s (%+v), want %s (hops before the server %d)", e.Verdict, *e, by, hopsBefore)
	case e.Judged == 0 || e.Agree*2 <= e.Judged:
		t.Errorf("ended_by %s rests on %d of %d failures, want most of at least one", e.Verdict, e.Agree, e.Judged)
	}
}

// An L4 proxy in the lb (HAProxy in mode tcp) that closes idle client
// connections itself: it is the client's TCP peer, so its FIN comes from
// as near as its SYN-ACK, 0 hops away: "the server" of that connection.
func TestScenario11L4ProxyCloses(t *testing.T) {
	Require(t)
	t.Parallel()
	const K = 2 * time.Second
	l := New(t, Options{})
	l.StartEcho(t, l.Server, 7)
	listen := fmt.Sprintf("%s:7100", l.LBClientAddr)
	l.StartHAProxy(t, l.LB, fmt.Sprintf(`defaults
    mode tcp
    timeout connect 2s
    timeout client %dms
    timeout server 1h
listen l4
    bind %s
    server echo %s:7
`, K.Milliseconds(), listen, l.ServerAddr), listen)
	r := l.Measure(t, measureArgs(6*time.Second, nil, "tcp://"+listen)...)
	checkServerClose(t, r, K) // HAProxy's timeout client
	checkEndedBy(t, r, hop.Server, 0)
	if e := r.EndedBy; e != nil && (e.ServerTTL != 64 || e.EndTTL != 64) {
		t.Errorf("TTLs: SYN-ACK %d, end %d; want 64 from the lb itself", e.ServerTTL, e.EndTTL)
	}
}

// The backend-RST variant: the lb forgets the flow, adopts the client's
// next segment as a new flow (loose=1) and masquerades it from a random
// port, so the server's host answers it with a RST. The packet comes from
// the server's distance: ended by the server's host, and the wording says
// it did not know the connection any more.
func TestScenario12BackendReset(t *testing.T) {
	Require(t)
	t.Parallel()
	const T = 3 * time.Second
	l := New(t, Options{Timeout: T, Mode: None, Masquerade: true, RandomPorts: true})
	startResponder(t, l)
	r := l.Measure(t, measureArgs(10*time.Second, nil, fmt.Sprintf("tcp://%s:7", l.VIP))...)
	checkMiddleboxLimit(t, r, T, plan.Reset)
	checkEndedBy(t, r, hop.Server, 0)
	if e := r.EndedBy; e != nil && (e.Packet != "RST" || e.EndTTL != 63 || e.ServerTTL != 63) {
		t.Errorf("ended_by %+v: want the server host's RST, TTL 63 as its SYN-ACK", *e)
	}
	if w := advice.EndedBy(r); !strings.Contains(w, "no longer knew") {
		t.Errorf("ended by %q: want it to say the server's host no longer knew the connection", w)
	}
}
