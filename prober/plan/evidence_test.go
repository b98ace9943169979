package plan

import (
	"strings"
	"testing"
	"time"
)

// The rule on TCP_INFO readings as Linux produces them: losses count only
// transmissions that were due (sent an RTO ago) with no ACK since, never
// more than the RTOs elapsed; two make a suspicion, three (after
// MinBlackHoleWait) a verdict.
func TestEvidence(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name            string
		e               Evidence
		lost            int
		suspect, decide bool
	}{
		{"acknowledged", Evidence{Unacked: 0, Retransmitted: 3, Retransmits: 2, RTO: 200 * ms, SinceSent: 900 * ms, Elapsed: 2000 * ms}, 0, false, false},
		{"waiting for its first ACK", Evidence{Unacked: 1, RTO: 204 * ms, RTT: 2 * ms, SinceSent: 150 * ms, Elapsed: 150 * ms}, 0, false, false},
		{"one lost segment", Evidence{Unacked: 1, RTO: 204 * ms, RTT: 2 * ms, SinceSent: 210 * ms, Elapsed: 210 * ms}, 1, false, false},
		{"a delayed ACK's probe", Evidence{Unacked: 1, Retransmitted: 1, RTO: 204 * ms, RTT: 2 * ms, SinceSent: 10 * ms, Elapsed: 214 * ms}, 1, false, false},
		{"a lost pair", Evidence{Unacked: 1, Retransmitted: 2, Retransmits: 1, RTO: 204 * ms, RTT: 2 * ms, SinceSent: 100 * ms, Elapsed: 508 * ms}, 2, true, false},
		{"three lost, probe and timeout", Evidence{Unacked: 1, Retransmitted: 2, Retransmits: 1, RTO: 204 * ms, RTT: 2 * ms, SinceSent: 400 * ms, Elapsed: 808 * ms}, 3, true, true},
		{"three lost, too soon", Evidence{Unacked: 1, Retransmitted: 2, Retransmits: 1, RTO: 204 * ms, RTT: 2 * ms, SinceSent: 210 * ms, Elapsed: 620 * ms}, 3, true, false},
		{"fast probes capped by the RTOs elapsed", Evidence{Unacked: 2, Retransmitted: 3, Retransmits: 1, RTO: 204 * ms, RTT: 2 * ms, SinceSent: 204 * ms, Elapsed: 420 * ms}, 2, true, false},
		{"rto_min lowered: the floor holds", Evidence{Unacked: 1, Retransmitted: 5, Retransmits: 5, RTO: 10 * ms, RTT: 1 * ms, SinceSent: 100 * ms, Elapsed: 700 * ms}, 6, true, false},
		{"300 ms path, three lost", Evidence{Unacked: 1, Retransmitted: 2, Retransmits: 1, RTO: 900 * ms, RTT: 300 * ms, SinceSent: 900 * ms, Elapsed: 2700 * ms}, 3, true, true},
		{"300 ms path, under 8 round trips", Evidence{Unacked: 1, Retransmitted: 2, Retransmits: 1, RTO: 700 * ms, RTT: 300 * ms, SinceSent: 700 * ms, Elapsed: 2100 * ms}, 3, true, false},
		{"no RTO known", Evidence{Unacked: 1, Retransmitted: 5, Elapsed: 4000 * ms}, 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.Lost(); got != tc.lost {
				t.Errorf("Lost() = %d, want %d", got, tc.lost)
			}
			if got := tc.e.Suspicious(); got != tc.suspect {
				t.Errorf("Suspicious() = %v, want %v", got, tc.suspect)
			}
			if got := tc.e.BlackHole(); got != tc.decide {
				t.Errorf("BlackHole() = %v, want %v", got, tc.decide)
			}
		})
	}
	d := Evidence{Unacked: 1, Retransmitted: 2, Retransmits: 1, RTO: 204 * time.Millisecond, RTT: 1500 * time.Microsecond,
		SinceSent: 400 * time.Millisecond, Elapsed: 808300 * time.Microsecond}.Detail()
	if want := "no acknowledgement after 2 retransmissions over 808ms: 3 transmissions lost (RTO 204ms, RTT 2ms)"; d != want {
		t.Errorf("Detail() = %q, want %q", d, want)
	}
}

// The simulated judge follows Linux's schedule (a tail loss probe, then
// the RTO doubling): on a 1 ms path it suspects after two RTOs and decides
// at the 800 ms floor; on a 300 ms path (RTO 900 ms, a probe at 800 ms)
// once two and three RTOs have passed; never once the ACK came first,
// nor after the trial timeout.
func TestSimJudge(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		rtt, acked, timeout time.Duration
		suspect, decide     [2]time.Duration // bounds
	}{
		{1 * ms, never, 5000 * ms, [2]time.Duration{400 * ms, 460 * ms}, [2]time.Duration{800 * ms, 860 * ms}},
		{300 * ms, never, 5000 * ms, [2]time.Duration{1800 * ms, 1850 * ms}, [2]time.Duration{2700 * ms, 2750 * ms}},
		{1 * ms, 700 * ms, 5000 * ms, [2]time.Duration{400 * ms, 460 * ms}, [2]time.Duration{0, 0}},
		{1 * ms, 300 * ms, 5000 * ms, [2]time.Duration{0, 0}, [2]time.Duration{0, 0}},
		{300 * ms, never, 2000 * ms, [2]time.Duration{1800 * ms, 1850 * ms}, [2]time.Duration{0, 0}},
	} {
		s, d := simJudge(SimRTO(tc.rtt), tc.rtt, tc.acked, tc.timeout)
		if s < tc.suspect[0] || s > tc.suspect[1] || d < tc.decide[0] || d > tc.decide[1] {
			t.Errorf("rtt %s, ACK at %s, timeout %s: suspected at %s, decided at %s; want %v and %v",
				tc.rtt, tc.acked, tc.timeout, s, d, tc.suspect, tc.decide)
		}
	}
	// A decided reuse's detail states the evidence.
	if e := simEvidence(SimRTO(ms), ms, 820*ms); !e.BlackHole() || !strings.HasPrefix(e.Detail(), "no acknowledgement after 3 retransmissions over 820ms: 3 transmissions lost") {
		t.Errorf("evidence at 820 ms into a black hole: %+v (%s)", e, e.Detail())
	}
}
