package plan

import (
	"container/heap"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"
)

// SimPath is a simulated network path: it kills connections idle for Limit
// or longer in the given Mode. It drives planners under a fake clock for
// tests, benchmarks and `idleprobe simulate`.
type SimPath struct {
	// Limit is the idle limit; 0 means the path never kills idle connections.
	Limit time.Duration
	// Mode is how the path kills: Reset (default), ClosedIdle, Dropped or
	// ClosedOnReuse.
	Mode Outcome
	// Latency is one round trip (default 1ms).
	Latency time.Duration
	// Loss is the probability that one transmission of a reuse's request
	// is lost on the way, each retransmission independently. LoseFirst
	// loses the first transmission of every reuse: a single lost segment,
	// repaired by one retransmission. AckDelay delays the answer to a
	// reuse and the acknowledgement that comes with it (a delayed ACK,
	// at most 200 ms on Linux; a slow server). Lost requests are
	// retransmitted as Linux does (see SimRTO) and the transport's
	// TCP_INFO judge sees the retransmissions (Evidence), so a reuse that
	// stays unacknowledged is suspected, then decided Dropped, before its
	// timeout; on a lossy path, rarely, a reuse that would have worked is
	// decided Dropped too (a false verdict), as on a real one.
	Loss      float64
	LoseFirst bool
	AckDelay  time.Duration
	// NoEarlyVerdict keeps the judge from deciding: a reuse is only
	// Dropped at its trial timeout (suspicions still come), as before the
	// early verdict.
	NoEarlyVerdict bool
	// Timeout is the trial timeout a Dropped trial takes (default 5s).
	Timeout time.Duration
	// Jitter makes each idle period's limit uniform in Limit±Jitter.
	Jitter time.Duration
	// Flaky is the probability that a reuse which should work is reset
	// anyway (a pod restart, a coincidence).
	Flaky float64
	// Seed seeds the jitter and flakiness.
	Seed int64

	// Backends, when set, replaces Limit: new connections go to the
	// backends in turn, each with its own idle limit (0: none), as behind a
	// Service with several pods.
	Backends []time.Duration
	// Lifetime, when set, limits connection age: a connection is closed
	// (seen while idle) at Lifetime after its handshake, whatever was sent
	// (PostgreSQL's login timeout); with Retire, a reuse at or past
	// Lifetime is answered and then the connection is retired instead
	// (nginx keepalive_time).
	Lifetime time.Duration
	Retire   bool
	// RetireAfter retires every connection on its RetireAfter-th reuse
	// (a request limit, nginx keepalive_requests).
	RetireAfter int
	// falseDrops lists reuses (numbered from 1 in the order they start)
	// whose first BlackHoleLosses transmissions are lost although the path
	// works: the judge decides them Dropped (tests of a false verdict).
	falseDrops map[int]bool
	// RejectAfter makes the RejectAfter-th reuse of every connection, and
	// every later one, fail on the reuse whatever the idle time: 1 is a
	// server that closes as soon as data arrives.
	RejectAfter int
}

// SimModes lists the failure modes a SimPath can play.
var SimModes = []Outcome{Reset, ClosedIdle, Dropped, ClosedOnReuse}

// ErrStalled is returned when a planner stops asking for anything before it
// is done: a bug in the planner, never a property of the path.
var ErrStalled = errors.New("planner stalled")

// simEpoch is the fake clock's start.
var simEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// maxSimSteps bounds a simulation.
const maxSimSteps = 2_000_000

type simConn struct {
	opened    time.Time
	idleSince time.Time
	base      time.Duration // the backend's idle limit (0: none)
	limit     time.Duration // this idle period's limit (0: none)
	reuses    int
	testing   bool
}

// closeAt is when c is closed while idle, or the zero time.
func (p SimPath) closeAt(c *simConn) time.Time {
	var at time.Time
	if p.Mode == ClosedIdle && c.limit > 0 {
		at = c.idleSince.Add(c.limit)
	}
	if p.Lifetime > 0 && !p.Retire {
		at = minTime(at, c.opened.Add(p.Lifetime))
	}
	return at
}

type simEvent struct {
	at      time.Time
	seq     int
	id      ConnID
	opened  bool
	suspect bool // the judge suspects the reuse numbered trial.Reuse
	trial   Trial
}

type eventQueue []simEvent

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// Simulate runs one measurement with settings s against path p under a fake
// clock. The result's Started and Finished are fake-clock times, so
// Result.Duration is the predicted wall time.
func Simulate(s Settings, p SimPath) (Result, error) {
	if err := s.Validate(); err != nil {
		return Result{}, err
	}
	return simulate(s, p, func(s Settings) (Planner, error) { return New(s, simEpoch) })
}

// simulate runs the planner that newPlanner makes (tests wrap it).
func simulate(s Settings, p SimPath, newPlanner func(Settings) (Planner, error)) (Result, error) {
	if p.Mode == "" {
		p.Mode = Reset
	}
	valid := false
	for _, m := range SimModes {
		valid = valid || m == p.Mode
	}
	if !valid {
		return Result{}, fmt.Errorf("mode %q cannot be simulated (valid: reset, closed_idle, dropped, closed_on_reuse)", p.Mode)
	}
	if p.Latency <= 0 {
		p.Latency = time.Millisecond
	}
	if p.Timeout <= 0 {
		p.Timeout = 5 * time.Second
	}
	if p.Flaky < 0 || p.Flaky >= 1 {
		return Result{}, fmt.Errorf("flaky: %g must be a probability in [0, 1)", p.Flaky)
	}
	if p.Loss < 0 || p.Loss >= 1 {
		return Result{}, fmt.Errorf("loss: %g must be a probability in [0, 1)", p.Loss)
	}
	if p.AckDelay < 0 {
		return Result{}, fmt.Errorf("ack delay: %s must not be negative", p.AckDelay)
	}
	pl, err := newPlanner(s)
	if err != nil {
		return Result{}, err
	}
	rng := rand.New(rand.NewPCG(uint64(p.Seed), 0x1d1e))
	backend := 0
	pick := func() time.Duration {
		if len(p.Backends) == 0 {
			return p.Limit
		}
		backend++
		return p.Backends[(backend-1)%len(p.Backends)]
	}
	limit := func(base time.Duration) time.Duration {
		if base <= 0 {
			return 0
		}
		l := base
		if p.Jitter > 0 {
			l += time.Duration((rng.Float64()*2 - 1) * float64(p.Jitter))
		}
		return max(l, time.Millisecond)
	}
	conns := make(map[ConnID]*simConn)
	var q eventQueue
	seq := 0
	push := func(e simEvent) {
		seq++
		e.seq = seq
		heap.Push(&q, e)
	}
	now := simEpoch
	reuses := 0
	finish := func() Result {
		r := pl.Result()
		r.Target = fmt.Sprintf("sim://%s/%s", p.Limit, p.Mode)
		r.Started, r.Finished = simEpoch, now
		return r
	}
	for step := 0; step < maxSimSteps; step++ {
		acts, wake := pl.Next(now)
		for _, a := range acts {
			switch a.Kind {
			case Open:
				push(simEvent{at: now.Add(p.Latency), id: a.Conn, opened: true})
			case Close:
				delete(conns, a.Conn)
			case Reuse:
				c, ok := conns[a.Conn]
				if !ok {
					return finish(), fmt.Errorf("planner reused unknown connection %d", a.Conn)
				}
				c.testing = true
				reuses++
				lose := 0
				if p.falseDrops[reuses] {
					lose = BlackHoleLosses
				}
				t, suspectAt := simReuse(p, c, now, a, rng, lose)
				push(simEvent{at: now, id: a.Conn, trial: t})
				if !suspectAt.IsZero() {
					push(simEvent{at: suspectAt, id: a.Conn, suspect: true, trial: t})
				}
			}
		}
		if pl.Done() {
			return finish(), nil
		}
		next := wake
		if len(q) > 0 {
			next = minTime(next, q[0].at)
		}
		for _, c := range conns {
			if !c.testing {
				next = minTime(next, p.closeAt(c))
			}
		}
		if next.IsZero() {
			return finish(), fmt.Errorf("%w at %s with %d connections open", ErrStalled, now.Sub(simEpoch), pl.Live())
		}
		if next.After(now) {
			now = next
		}
		// Closes seen while idle happen first: they race nothing.
		for _, id := range slices.Sorted(maps.Keys(conns)) {
			c := conns[id]
			at := p.closeAt(c)
			if c.testing || at.IsZero() || now.Before(at) {
				continue
			}
			delete(conns, id)
			pl.Observe(Trial{Conn: id, Age: at.Sub(c.idleSince), ConnAge: at.Sub(c.opened), Reuse: c.reuses + 1,
				IdleSince: c.idleSince, Start: at, End: at, Outcome: ClosedIdle})
		}
		for len(q) > 0 && !q[0].at.After(now) {
			e := heap.Pop(&q).(simEvent)
			if e.opened {
				b := pick()
				conns[e.id] = &simConn{opened: e.at, idleSince: e.at, base: b, limit: limit(b)}
				pl.Opened(e.id, e.at, e.at)
				continue
			}
			if e.suspect {
				if c := conns[e.id]; c != nil && c.testing && c.reuses == e.trial.Reuse {
					pl.Suspect(e.id, e.at)
				}
				continue
			}
			if e.trial.End.After(now) {
				// A reuse that was just started: deliver it when it ends.
				e.at = e.trial.End
				push(e)
				continue
			}
			c := conns[e.id]
			if e.trial.Outcome.Survived() && !e.trial.Retired && c != nil {
				c.testing = false
				c.idleSince = e.trial.End
				c.limit = limit(c.base)
			} else {
				delete(conns, e.id)
			}
			pl.Observe(e.trial)
		}
	}
	return finish(), fmt.Errorf("%w: no result after %d steps", ErrStalled, maxSimSteps)
}

// simReuse decides what a reuse of c at now will tell, and when the
// transport's judge suspects a black hole (zero: never). The first lose
// transmissions of the reuse are lost, whatever the path.
func simReuse(p SimPath, c *simConn, now time.Time, a Action, rng *rand.Rand, lose int) (Trial, time.Time) {
	age := now.Sub(c.idleSince)
	c.reuses++
	t := Trial{Conn: a.Conn, Age: age, ConnAge: now.Sub(c.opened), Reuse: c.reuses, IdleSince: c.idleSince,
		Start: now, Confirm: a.Confirm}
	alive := c.limit <= 0 || age < c.limit
	if p.Lifetime > 0 && !p.Retire && t.ConnAge >= p.Lifetime {
		at := c.opened.Add(p.Lifetime)
		t.Age, t.ConnAge, t.Start, t.End, t.Outcome = at.Sub(c.idleSince), p.Lifetime, at, at, ClosedIdle
		return t, time.Time{}
	}
	if !alive && p.Mode == ClosedIdle {
		at := c.idleSince.Add(c.limit)
		t.Age, t.ConnAge, t.Start, t.End, t.Outcome = c.limit, at.Sub(c.opened), at, at, ClosedIdle
		return t, time.Time{}
	}
	// The request reaches the other end with the first transmission that
	// is not lost (none, in a black hole).
	rto := SimRTO(p.Latency)
	sent, delivered := time.Duration(0), false
	if !alive {
		lose = 0 // a false verdict is about a reuse that would have worked
	}
	if !alive && p.Mode == Dropped {
		sent = p.Timeout
	} else {
		for k := 0; ; k++ {
			if sent = simSent(rto, p.Latency, k); sent >= p.Timeout {
				break
			}
			lost := k < lose || (k == 0 && p.LoseFirst) || (p.Loss > 0 && rng.Float64() < p.Loss)
			if !lost {
				delivered = true
				break
			}
		}
	}
	var answer time.Duration // after now, when the reuse is answered
	switch {
	case !delivered:
		t.Outcome, answer = Dropped, p.Timeout
	case alive && p.RejectAfter > 0 && c.reuses >= p.RejectAfter:
		t.Outcome, answer, t.Detail = ClosedOnReuse, sent+p.Latency/2, "rejected"
	case alive && p.Flaky > 0 && rng.Float64() < p.Flaky:
		t.Outcome, answer, t.Detail = Reset, sent+p.Latency/2, "flaky"
	case alive:
		t.Outcome, answer = OK, sent+p.Latency+p.AckDelay
		t.Retired = (p.Retire && p.Lifetime > 0 && t.ConnAge >= p.Lifetime) ||
			(p.RetireAfter > 0 && c.reuses == p.RetireAfter)
	default:
		t.Outcome, answer = p.Mode, sent+p.Latency/2
	}
	if end := c.opened.Add(p.Lifetime); p.Lifetime > 0 && !p.Retire && t.Outcome == OK && now.Add(answer).After(end) {
		// The lifetime came while the answer was on its way: the server
		// closed the connection instead (as a real one would, mid-exchange).
		t.Outcome, t.Detail, answer = ClosedOnReuse, "closed at its lifetime during the exchange", end.Sub(now)
	}
	if answer >= p.Timeout {
		// Unanswered, unacknowledged when the trial timeout ran out.
		t.Outcome, t.Detail, t.Retired, answer = Dropped, "", false, p.Timeout
	}
	// The acknowledgement comes a round trip after the transmission that
	// got through, a delayed ACK later (at most 200 ms); a reset or a
	// close answers at once.
	acked := answer
	if delivered && t.Outcome != Dropped {
		acked = min(answer, sent+p.Latency+min(p.AckDelay, maxDelayedAck))
	}
	suspect, decide := simJudge(rto, p.Latency, acked, p.Timeout)
	if decide > 0 && decide < answer && !p.NoEarlyVerdict {
		t.Outcome, t.Retired, answer = Dropped, false, decide
		t.Detail = simEvidence(rto, p.Latency, decide).Detail()
	}
	t.End = now.Add(answer)
	if suspect == 0 || suspect >= answer {
		return t, time.Time{}
	}
	return t, now.Add(suspect)
}

// maxDelayedAck is the longest Linux delays an ACK.
const maxDelayedAck = 200 * time.Millisecond

// SimRTO is the retransmission timeout of a fresh connection with a
// steady round trip rtt, as Linux sets it from the handshake: the RTT
// plus a variance term of twice the RTT, at least TCP_RTO_MIN (200 ms).
// (It falls towards RTT + 200 ms over many exchanges; the search's
// connections see few.)
func SimRTO(rtt time.Duration) time.Duration { return rtt + max(2*rtt, 200*time.Millisecond) }

// simTLP is when Linux sends the tail loss probe of a single
// unacknowledged segment: min(2 x RTT + 200 ms, RTO).
func simTLP(rto, rtt time.Duration) time.Duration { return min(2*rtt+200*time.Millisecond, rto) }

// simSent is when the k-th transmission of a reuse's request goes out
// (0: the first), as Linux sends a single segment: a tail loss probe,
// then the RTO re-armed, the k-th retransmission timeout
// (2^k - 1) x rto after the probe.
func simSent(rto, rtt time.Duration, k int) time.Duration {
	if k == 0 {
		return 0
	}
	return simTLP(rto, rtt) + rto*time.Duration(1<<min(k-1, 30)-1)
}

// simEvidence is what TCP_INFO tells at elapsed into a reuse that nothing
// acknowledges (transmissions as simSent).
func simEvidence(rto, rtt, elapsed time.Duration) Evidence {
	n := 0 // retransmissions so far
	for n < 30 && simSent(rto, rtt, n+1) <= elapsed {
		n++
	}
	return Evidence{Unacked: 1, Retransmits: max(n-1, 0), Retransmitted: n, RTO: rto, RTT: rtt,
		SinceSent: elapsed - simSent(rto, rtt, n), Elapsed: elapsed}
}

// simJudge returns when, after the reuse began, the judge (reading
// TCP_INFO at once, then every PollEvery of the backed-off timeout)
// suspects a reuse (Evidence.Suspicious) and when it decides it a black
// hole (Evidence.BlackHole); 0: never, since the acknowledgement came at
// acked first, or the trial timeout.
func simJudge(rto, rtt, acked, timeout time.Duration) (suspect, decide time.Duration) {
	for at := time.Duration(0); at < min(acked, timeout); {
		e := simEvidence(rto, rtt, at)
		if suspect == 0 && e.Suspicious() {
			suspect = at
		}
		if e.BlackHole() {
			return suspect, at
		}
		at += PollEvery(rto << e.Retransmits)
	}
	return suspect, 0
}
