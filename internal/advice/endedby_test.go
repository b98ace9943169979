package advice

import (
	"strings"
	"testing"

	"github.com/idleprobe/idleprobe/prober/hop"
	"github.com/idleprobe/idleprobe/prober/plan"
)

func TestEndedBy(t *testing.T) {
	for _, c := range []struct {
		e    *plan.EndedBy
		want string
	}{
		{nil, ""},
		{&plan.EndedBy{Verdict: hop.Judge(hop.Packet{TTL: 63, Flags: hop.FlagSYN | hop.FlagACK}, true, hop.Packet{TTL: 64, Flags: hop.FlagRST}, true), Agree: 4, Judged: 5},
			"hop 1 before the server (RST with TTL 64, the server's SYN-ACK 63; 4 of 5 failures): a middlebox on the path ended it, not the server"},
		{&plan.EndedBy{Verdict: hop.Judge(hop.Packet{TTL: 63, Flags: hop.FlagSYN | hop.FlagACK}, true, hop.Packet{TTL: 63, Flags: hop.FlagFIN}, true), Agree: 3, Judged: 3},
			"the server, or a proxy that terminates TCP, 1 hop away (FIN with TTL 63, as its SYN-ACK; 3 of 3 failures)"},
		{&plan.EndedBy{Verdict: hop.Verdict{By: hop.Unknown, Why: "capture packets: operation not permitted (it needs CAP_NET_RAW)"}},
			"unknown: capture packets: operation not permitted (it needs CAP_NET_RAW)"},
	} {
		got := EndedBy(plan.Result{EndedBy: c.e})
		if got != c.want {
			t.Errorf("EndedBy = %q\nwant      %q", got, c.want)
		}
		if strings.Contains(got, "\n") {
			t.Errorf("more than one line: %q", got)
		}
	}
}

// A reset from the server's own host in answer to a reuse is not the
// server's idle close: the wording says what it means.
func TestEndedByServerReset(t *testing.T) {
	v := hop.Judge(hop.Packet{TTL: 63, Flags: hop.FlagSYN | hop.FlagACK}, true, hop.Packet{TTL: 63, Flags: hop.FlagRST}, true)
	got := EndedBy(plan.Result{Found: true, Mode: plan.Reset, EndedBy: &plan.EndedBy{Verdict: v, Agree: 2, Judged: 2}})
	if !strings.Contains(got, "no longer knew") || !strings.HasPrefix(got, "the server") {
		t.Errorf("EndedBy = %q", got)
	}
	if got := EndedBy(plan.Result{Found: true, Mode: plan.ClosedIdle, EndedBy: &plan.EndedBy{Verdict: v}}); strings.Contains(got, "no longer knew") {
		t.Errorf("a close while idle read as a forgotten connection: %q", got)
	}
}
