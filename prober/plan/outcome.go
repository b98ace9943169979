// Package plan decides which idle ages to test and when, for one idle-limit
// measurement. It is pure logic: it is fed connection events and a clock
// reading and answers with actions; it never touches a socket. The same
// planners drive real transports (prober.Measure) and the simulated path
// (Simulate) used by tests, benchmarks and `idleprobe simulate`.
package plan

import "time"

// Outcome is what one trial (or one idle connection) told about the path.
type Outcome string

// The outcomes of a trial. See the README's design notes for what each means.
const (
	// OK: the reuse worked (HTTP: a full response; tcp: the bytes were ACKed
	// or the expected answer arrived).
	OK Outcome = "ok"
	// Reset: ECONNRESET or EPIPE on reuse: a hop forgot the flow and answered RST.
	Reset Outcome = "reset"
	// ClosedIdle: the peer or a hop closed the connection while it was idle
	// (FIN or RST seen by the pending read), at a known moment.
	ClosedIdle Outcome = "closed_idle"
	// ClosedOnReuse: EOF on reuse: a close raced with the request.
	ClosedOnReuse Outcome = "closed_on_reuse"
	// Dropped: our bytes were never acknowledged: a black hole. Decided
	// when BlackHoleLosses transmissions of them went unanswered
	// (Evidence.BlackHole), or at the trial timeout, whichever is first.
	Dropped Outcome = "dropped"
	// Slow: our bytes were acknowledged but no application answer arrived in
	// time. A server stall, not a path limit.
	Slow Outcome = "slow"
	// Error: the connection could not be opened or used at all (refused, DNS,
	// TLS, a malformed response). Not an idle result.
	Error Outcome = "error"
)

// Outcomes lists every outcome, in a stable order (for metrics and docs).
var Outcomes = []Outcome{OK, Reset, ClosedIdle, ClosedOnReuse, Dropped, Slow, Error}

// Survived reports whether the connection lived through its idle period.
func (o Outcome) Survived() bool { return o == OK }

// Failed reports whether the outcome says the path killed the idle
// connection. Slow and Error are neither survival nor an idle failure.
func (o Outcome) Failed() bool {
	switch o {
	case Reset, ClosedIdle, ClosedOnReuse, Dropped:
		return true
	}
	return false
}

// Valid reports whether o is one of the defined outcomes.
func (o Outcome) Valid() bool {
	for _, v := range Outcomes {
		if o == v {
			return true
		}
	}
	return false
}

// ConnID names one connection within a measurement. IDs are assigned by the
// planner in the order it asks for connections, starting at 1.
type ConnID int

// Trial is one observation: a connection that had been idle for Age was
// reused (or was seen closing while idle) and the path answered Outcome.
// Its wire form (age in seconds) is part of Result's JSON.
type Trial struct {
	Conn ConnID
	// Age is how long the connection had been idle when it was reused, or
	// when the close was seen for ClosedIdle.
	Age time.Duration
	// IdleSince is when the connection's last exchange ended.
	IdleSince time.Time
	// ConnAge is how old the connection was (since its handshake) when the
	// reuse began or the close was seen. Survivors are reused again, so
	// ConnAge and Age differ on most trials: that is how a limit on idle
	// time is told from a limit on connection age (a lifetime).
	ConnAge time.Duration
	// Reuse numbers the reuses of this connection: 1 for its first reuse.
	// A close seen while idle carries the number the next reuse would have.
	Reuse int
	// Start is when the reuse began (the close was seen, for ClosedIdle).
	Start time.Time
	// End is when the outcome was known.
	End     time.Time
	Outcome Outcome
	// Confirm marks a re-test of a bracket edge.
	Confirm bool
	// Retired marks an OK reuse after which the server ended the connection
	// itself (HTTP Connection: close, HTTP/2 GOAWAY): it carried the request,
	// so the path survived Age, but the connection is gone. A server does
	// that after a number of requests (nginx keepalive_requests) or at a
	// connection age (nginx keepalive_time).
	Retired bool
	// Detail is a short, human-readable reason (the error text, the HTTP
	// status line...). Empty for plain successes.
	Detail string
	// Clock is the clock the server named for a close seen while idle
	// (a gRPC GOAWAY "max_age": Lifetime; "max_idle": Idle), "" when it
	// named none. A named lifetime decides the limit's kind.
	Clock Kind
	// EndedBy is who sent the packet that ended a failed connection
	// (hop.Verdict in words: "server", "hop 1 before the server",
	// "unknown (...)"), when a packet capture was asked for.
	EndedBy string
}
