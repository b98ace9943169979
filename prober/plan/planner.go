package plan

import (
	"fmt"
	"time"
)

// ActionKind says what an Action asks the driver to do.
type ActionKind int

// The kinds of action a planner asks for.
const (
	// Open a new connection with the given ID; report Opened or OpenFailed.
	Open ActionKind = iota + 1
	// Reuse the idle connection now; report the trial with Observe.
	Reuse
	// Close the connection; the planner has no further use for it.
	Close
)

func (k ActionKind) String() string {
	switch k {
	case Open:
		return "open"
	case Reuse:
		return "reuse"
	case Close:
		return "close"
	}
	return fmt.Sprintf("ActionKind(%d)", int(k))
}

// Action is one instruction from the planner to its driver.
type Action struct {
	Kind ActionKind
	Conn ConnID
	// Confirm marks a Reuse that re-tests a bracket edge.
	Confirm bool
}

// Planner is a search strategy as a state machine. The driver calls Next with
// the current time, carries out the actions it returns, reports what happened
// with Opened, OpenFailed and Observe, and calls Next again at the returned
// wake-up time or as soon as it has reported something, whichever is first.
// A Planner is not safe for concurrent use.
type Planner interface {
	// Next returns the actions due at now and the time at which Next wants
	// to be called again (the zero time when only an event can move it on).
	Next(now time.Time) (actions []Action, wake time.Time)
	// Opened reports that connection id is open: its handshake ended at
	// opened, and it has been idle since idleSince (after any first exchange).
	Opened(id ConnID, opened, idleSince time.Time)
	// OpenFailed reports that connection id could not be opened.
	OpenFailed(id ConnID, at time.Time, detail string)
	// Observe reports a finished reuse, or a close seen while idle (Outcome
	// ClosedIdle, Age the idle age at the close). After an OK trial the
	// connection is idle again since t.End; after any other outcome it is
	// gone and the driver has closed it.
	Observe(t Trial)
	// Suspect reports early evidence that the running reuse of id meets a
	// black hole: since at, its bytes are being retransmitted and stay
	// unacknowledged (Evidence.Suspicious). The planner may act on it at
	// once; the reuse's outcome is still reported with Observe, and only
	// outcomes make the Result.
	Suspect(id ConnID, at time.Time)
	// Done reports whether the search is over. Next never leaves a planner
	// that is not done without something to wait for: it returns actions,
	// a wake-up time no later than the deadline, or a reuse is running.
	// At the deadline (Settings.Deadline after start) the planner is done.
	Done() bool
	// Live is the number of connections open or being opened.
	Live() int
	// Remaining estimates the time left until the search ends.
	Remaining(now time.Time) time.Duration
	// Result returns what is known so far. Before Done it is partial
	// (Complete false). Target, Started and Finished are left to the driver.
	Result() Result
}

// New returns the planner for s.Strategy. The settings must be valid.
func New(s Settings, start time.Time) (Planner, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	switch s.Strategy {
	case Sequential:
		return newSequential(s, start), nil
	case Parallel:
		if s.Hint > 0 {
			return newHinted(s, start), nil
		}
		return newParallel(s, start), nil
	default:
		return newParallel(s, start), nil
	}
}
