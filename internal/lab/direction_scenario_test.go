package lab

// Scenarios of the server direction and of UDP bindings: the responder
// pushes to the client after an idle time, through kernel conntrack/NAT.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// allPorts are the responder's ports in the direction scenarios.
var allPorts = ResponderPorts{HTTP: 80, TCP: 7, UDP: 9090, Push: 9092}

// Scenario D1: the reset and the drop middleboxes measured from the
// server's side. The responder writes on a connection that sat idle; once
// the lb forgot the flow (loose=0), the server's segment is `ct state
// invalid` too: it is not un-DNATed, so it reaches the client from the
// server's own address, which matches no socket there: the client's kernel
// answers it with a RST to the server, and the connection under test sees
// nothing (dropped); the responder's log shows its side reset by that RST.
// The drop rule matches only packets to the VIP, so both
// modes look the same from this side, while the client direction, measured
// at the same time on the same port (--direction both; the push service
// echoes what is not its protocol), tells them apart: reset vs dropped.
func TestScenarioD1PushAfterExpiry(t *testing.T) {
	Require(t)
	t.Parallel()
	const T = 3 * time.Second
	for _, tc := range []struct {
		mode   Mode
		client plan.Outcome
	}{{Reset, plan.Reset}, {Drop, plan.Dropped}} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			t.Parallel()
			l := New(t, Options{Timeout: T, Mode: tc.mode})
			rp := l.StartResponderAll(t, l.Server, allPorts)
			target := fmt.Sprintf("tcp://%s:%d", l.VIP, allPorts.Push)
			rs := l.MeasureBoth(t, measureArgs(8*time.Second, nil, target)...)
			t.Run("client", func(t *testing.T) { checkMiddleboxLimit(t, rs["client"], T, tc.client) })
			t.Run("server", func(t *testing.T) {
				checkMiddleboxLimit(t, rs["server"], T, plan.Dropped)
				// The pushes after expiry reached the client's kernel, which
				// reset the responder's side: the client never saw them.
				if out := rp.Output(); !strings.Contains(out, "held connection ended") || !strings.Contains(out, "how=reset") {
					t.Errorf("the responder's log shows no held connection reset by the client's kernel:\n%s", rp.Tail(20))
				}
			})
		})
	}
}

// Scenario D2: UDP bindings. conntrack forgets a UDP flow to the VIP after
// T; in the server direction the responder's datagram after that is lost
// (plain DNAT: it arrives from the server's address; masquerade: it arrives
// at the lb, which maps it nowhere), so the bracket holds T and the mode is
// dropped. In the client direction the client's datagram makes a new flow,
// and Linux NAT keeps the port when it is free: the responder sees the same
// address and port, the binding looks alive, and no limit is found. That is
// why the server direction is the default for udp.
func TestScenarioD2UDPBinding(t *testing.T) {
	Require(t)
	t.Parallel()
	const T = 3 * time.Second
	for _, masq := range []bool{false, true} {
		name := "dnat"
		if masq {
			name = "masquerade"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l := New(t, Options{UDPTimeout: T, Masquerade: masq})
			l.StartResponderAll(t, l.Server, allPorts)
			target := fmt.Sprintf("udp://%s:%d", l.VIP, allPorts.UDP)
			rs := l.MeasureBoth(t, measureArgs(8*time.Second, nil, target)...)
			t.Run("server", func(t *testing.T) { checkMiddleboxLimit(t, rs["server"], T, plan.Dropped) })
			t.Run("client", func(t *testing.T) {
				if r := rs["client"]; r.Found || !r.Complete {
					t.Errorf("client direction: found %v (%s, %s] mode %s, complete %v; Linux NAT maps the client's new datagrams to the same port, so it should see no limit up to %s",
						r.Found, r.Lower, r.Upper, r.Mode, r.Complete, r.Settings.Max)
				}
			})
		})
	}
}
