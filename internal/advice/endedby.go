package advice

import (
	"fmt"

	"github.com/idleprobe/idleprobe/prober/hop"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// EndedBy says who ended the connections at the limit, with the evidence:
// "hop 1 before the server (RST with TTL 64, the server's SYN-ACK 63; 5 of
// 5 failures)". Empty when nothing was judged.
func EndedBy(r plan.Result) string {
	e := r.EndedBy
	if e == nil {
		return ""
	}
	of := ""
	if e.Judged > 0 {
		of = fmt.Sprintf("; %d of %d failures", e.Agree, e.Judged)
	}
	switch e.By {
	case hop.Server:
		s := fmt.Sprintf("the server, or a proxy that terminates TCP, %s away (%s with TTL %d, as its SYN-ACK%s)",
			hops(e.ServerHops), e.Packet, e.EndTTL, of)
		if e.Packet == "RST" && r.Mode == plan.Reset {
			// It did not close the connection while idle: it reset a
			// reuse it did not recognise.
			s += ": its host answered the reuse with a reset, as for a connection it no longer knew " +
				"(a NAT on the way forgot the flow and sent the reuse from another port, or the server lost the connection)"
		}
		return s
	case hop.Hop:
		return fmt.Sprintf("hop %d before the server (%s with TTL %d, the server's SYN-ACK %d%s): a middlebox on the path ended it, not the server",
			e.HopsBefore, e.Packet, e.EndTTL, e.ServerTTL, of)
	}
	if e.Why == "" {
		return "unknown" + of
	}
	return "unknown: " + e.Why
}

// hops is "1 hop" or "N hops".
func hops(n int) string {
	if n == 1 {
		return "1 hop"
	}
	return fmt.Sprintf("%d hops", n)
}
