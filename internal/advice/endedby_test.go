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
