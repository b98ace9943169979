package plan

import (
	"fmt"
	"time"
)

// Evidence of a black hole, read from the kernel while a reuse waits for
// its answer: one rule with two thresholds, shared by the transports
// (prober/suspect.go) and the simulated path.
//
// Linux takes a transmission for lost when it is not acknowledged within
// the connection's retransmission timeout (RTO), measured on the
// handshake and the opening exchange: at least RTT + 200 ms
// (TCP_RTO_MIN), about 3 x RTT on a fresh connection with a long round
// trip. It then retransmits, doubling the timeout each time, and counts
// the timeouts in a row (tcpi_retransmits; any ACK of new data resets
// it); before the first timeout it may send one tail loss probe (TLP), a
// retransmission too (tcpi_total_retrans counts both). Evidence.Lost
// counts the transmissions of our bytes that were due, sent at least one
// RTO ago (RTT + 200 ms or more: time for the ACK of a delivered segment,
// a delayed one included), with no ACK since: every retransmission's
// predecessor, and the latest transmission once it has waited an RTO
// (tcpi_last_data_sent); never more than the RTOs elapsed. Without a TLP
// the n-th loss is known 2^(n-1) RTOs into the reuse (200, 400, 800 ms at
// 1 ms RTT; 0.9, 1.8, 3.6 s at 300 ms), with one n RTOs in.
//
//   - At SuspectLosses (2) the reuse is *suspected* (Suspicious): the
//     planner acts on it at once as if the reuse had failed, and reverts
//     if its outcome says otherwise.
//   - At BlackHoleLosses (3), and no sooner than MinBlackHoleWait, the
//     reuse is *decided* (BlackHole): the transport ends it as Dropped then
//     and there, with the evidence as its detail, instead of waiting for
//     the trial timeout. The trial timeout stays the outer bound.
//
// A false verdict needs three transmissions of the same bytes (or their
// acknowledgements) lost in a row on a path that works. Under independent
// loss of a fraction p of the packets in each direction, one round trip
// fails with q = 1 - (1-p)^2 <= 2p, so a reuse is falsely dropped with
// probability q^3 <= 8 p^3: 8e-6 at 1 % loss, 8e-9 at 0.1 %, 6e-2 at
// 20 %. A single lost segment is one loss; a delayed ACK (at most 200 ms
// on Linux, below the RTO) at most one, since a retransmitted (duplicate)
// segment is acknowledged at once; a long round trip raises the RTO with
// it. The planner's confirmation re-tests the upper edge, and its robust
// reading outvotes a lone failure among survivals, so one rare false drop
// makes a search inconclusive or costs a re-test, never a wrong limit.

// SuspectLosses is how many transmissions of the same bytes, lost in a
// row (Evidence.Lost), make a reuse suspected of meeting a black hole
// (Evidence.Suspicious). A single lost segment or a late, delayed ACK
// costs one and is then acknowledged.
const SuspectLosses = 2

// BlackHoleLosses is how many transmissions of the same bytes, lost in a
// row, decide that a reuse met a black hole (Evidence.BlackHole).
const BlackHoleLosses = 3

// MinBlackHoleWait is the least time a reuse must have waited for an
// acknowledgement before it is decided a black hole, on a path with round
// trip rtt: 800 ms (what BlackHoleLosses take at Linux's least RTO) and
// eight round trips. Linux's RTO makes the losses take that long anyway;
// the floor guards against a retransmission timeout lowered below Linux's
// minimum (a route's rto_min), where three losses could pass within a
// burst of queueing delay.
func MinBlackHoleWait(rtt time.Duration) time.Duration { return max(800*time.Millisecond, 8*rtt) }

// Evidence is what the kernel tells about a reuse still waiting for its
// answer (Linux TCP_INFO).
type Evidence struct {
	// Unacked is the number of segments sent and not yet acknowledged
	// (tcpi_unacked).
	Unacked int
	// Retransmits counts the retransmission timeouts in a row of the
	// oldest unacknowledged segment (tcpi_retransmits).
	Retransmits int
	// Retransmitted counts the retransmissions since the reuse began,
	// tail loss probes included (tcpi_total_retrans, less its value when
	// the reuse began).
	Retransmitted int
	// RTO is the connection's retransmission timeout before any backoff
	// (tcpi_rto halved for every timeout in Retransmits), RTT its smoothed
	// round-trip time (tcpi_rtt).
	RTO, RTT time.Duration
	// SinceSent is how long ago data was last sent (tcpi_last_data_sent):
	// the latest (re)transmission.
	SinceSent time.Duration
	// Elapsed is how long the reuse has waited since its first byte.
	Elapsed time.Duration
}

// Lost counts the transmissions of our unacknowledged bytes that were
// due, with no acknowledgement since: each retransmission stands for its
// predecessor, and the latest transmission counts once it has waited an
// RTO; never more than the RTOs elapsed since the reuse began.
func (e Evidence) Lost() int {
	if e.Unacked <= 0 || e.RTO <= 0 {
		return 0
	}
	n := max(e.Retransmitted, e.Retransmits)
	if e.SinceSent >= e.RTO {
		n++
	}
	return min(n, int(e.Elapsed/e.RTO))
}

// Suspicious reports whether e makes the reuse suspected of meeting a
// black hole: SuspectLosses transmissions lost in a row. The planner may
// act on a suspicion; it never is an outcome.
func (e Evidence) Suspicious() bool { return e.Lost() >= SuspectLosses }

// BlackHole reports whether e decides the reuse met a black hole:
// BlackHoleLosses transmissions lost in a row, after at least
// MinBlackHoleWait. The transport then ends the reuse as Dropped, with
// Detail as its detail.
func (e Evidence) BlackHole() bool {
	return e.Lost() >= BlackHoleLosses && e.Elapsed >= MinBlackHoleWait(e.RTT)
}

// Detail states the evidence in one line, for a trial decided by it.
func (e Evidence) Detail() string {
	return fmt.Sprintf("no acknowledgement after %d retransmissions over %s: %d transmissions lost (RTO %s, RTT %s)",
		max(e.Retransmitted, e.Retransmits), roundEvidence(e.Elapsed), e.Lost(), roundEvidence(e.RTO), roundEvidence(e.RTT))
}

// roundEvidence rounds d for a detail: to the millisecond below 10 s.
func roundEvidence(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

// PollEvery is how often a transport reads TCP_INFO while a reuse waits
// for its answer, given the (backed-off) retransmission timeout in
// effect: a quarter of it, between 5 ms and 50 ms, so that a suspicion or
// a verdict comes at most that late after the timeout that makes it.
func PollEvery(rto time.Duration) time.Duration {
	return min(max(rto/4, 5*time.Millisecond), 50*time.Millisecond)
}
