package lab

import (
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// The UDP and NAT variants of the lab (Options.UDPTimeout,
// Options.Masquerade), kept apart from lab.go.
//
// LAB.md: `ct timeout` objects work for udp as for tcp. A UDP flow has two
// states, unreplied (only the client has sent) and replied; both get
// UDPTimeout, so the flow dies UDPTimeout after its last datagram in either
// direction whatever it saw. Like TCP flows, expiry is decided on the next
// packet's lookup.
//
// What a datagram meets after its flow expired:
//   - from the client: conntrack makes a new flow, and DNAT (and the
//     masquerade) map it again. Linux NAT keeps the source port when it is
//     free, so the server sees the same address and port as before: a
//     client-direction reuse cannot tell that the flow was forgotten.
//   - from the server (the server direction): with plain DNAT the server
//     answers the client's own address; the expired flow is not un-DNATed,
//     so the datagram reaches the client from the server's address, which
//     the client's socket (connected to the VIP) does not accept: it is
//     lost. With the masquerade the server answers the lb's address, where
//     no flow maps it back to the client: it is lost in the lb.

// udpTimeoutObject is the ruleset's `ct timeout` object for UDP flows.
func (l *Lab) udpTimeoutObject() string {
	if l.Options.UDPTimeout <= 0 {
		return ""
	}
	s := int(l.Options.UDPTimeout / time.Second)
	return fmt.Sprintf("  ct timeout udpidle {\n    protocol udp;\n    l3proto ip;\n    policy = { unreplied: %d, replied: %d }\n  }\n", s, s)
}

// udpTimeoutRule attaches the UDP timeout to new UDP flows to the VIP
// (in the prerouting chain at priority -150, like the TCP one).
func (l *Lab) udpTimeoutRule() string {
	if l.Options.UDPTimeout <= 0 {
		return ""
	}
	return fmt.Sprintf("    ip daddr %s meta l4proto udp ct state new ct timeout set \"udpidle\"\n", l.VIP)
}

// masqueradeChain NATs the client's flows to the lb's server-side address
// on their way to the server.
func (l *Lab) masqueradeChain() string {
	if !l.Options.Masquerade {
		return ""
	}
	random := ""
	if l.Options.RandomPorts {
		random = " fully-random"
	}
	return fmt.Sprintf("  chain postrouting_nat {\n    type nat hook postrouting priority srcnat; policy accept;\n    ip saddr %s oifname \"to-server\" masquerade%s\n  }\n", l.ClientAddr, random)
}

// udpDescription is what New logs about the variants.
func (l *Lab) udpDescription() string {
	s := ""
	if l.Options.UDPTimeout > 0 {
		s += fmt.Sprintf(", udp timeout %s", l.Options.UDPTimeout)
	}
	if l.Options.Masquerade {
		s += fmt.Sprintf(", client masqueraded to %s", l.LBServerAddr)
	}
	return s
}

// ResponderPorts are the ports StartResponderAll listens on in its
// namespace (all addresses).
type ResponderPorts struct {
	// HTTP and TCP are the HTTP and TCP echo ports; UDP is the UDP
	// service's; Push is the push service's (TCP).
	HTTP, TCP, UDP, Push int
}

// StartResponderAll runs `idleprobe responder` in namespace ns with every
// service on the given ports, logging at debug level (every connection and
// push, in the Proc's output), and waits until the TCP ones listen (the
// UDP socket is bound before them, in the same start-up).
func (l *Lab) StartResponderAll(t testing.TB, ns string, p ResponderPorts) *Proc {
	t.Helper()
	addr := func(port int) string { return net.JoinHostPort("", fmt.Sprint(port)) }
	args := []string{Binary(t), "responder", "--log.level", "debug",
		"--http.listen-address", addr(p.HTTP), "--tcp.listen-address", addr(p.TCP),
		"--udp.listen-address", addr(p.UDP), "--push.listen-address", addr(p.Push)}
	proc := l.Start(t, ns, "responder-all", args...)
	for _, port := range []int{p.HTTP, p.TCP, p.Push} {
		if err := waitListen(ns, addr(port), startTimeout, proc); err != nil {
			t.Fatal(err)
		}
	}
	return proc
}

// MeasureBoth runs `idleprobe measure --output json --direction both
// ARGS...` in the client namespace and returns the two results by
// direction ("client", "server").
func (l *Lab) MeasureBoth(t testing.TB, args ...string) map[string]plan.Result {
	t.Helper()
	stdout, _ := l.measure(t, append([]string{"--output", "json", "--direction", "both"}, args...))
	var rs map[string]plan.Result
	if err := json.Unmarshal([]byte(stdout), &rs); err != nil || len(rs) != 2 {
		t.Fatalf("idleprobe measure --direction both printed no pair of results (%v):\n%s", err, stdout)
	}
	for _, d := range []string{"client", "server"} {
		r, ok := rs[d]
		if !ok {
			t.Fatalf("idleprobe measure --direction both printed no %s result:\n%s", d, stdout)
		}
		t.Logf("measured %s, %s direction: %s", r.Target, d, Summary(r))
	}
	return rs
}
