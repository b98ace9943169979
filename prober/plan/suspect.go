package plan

import (
	"maps"
	"slices"
	"time"
)

// Early evidence of a black hole, the planner's side (see Evidence).
//
// A reuse that meets a black hole is decided Dropped by the transport once
// its bytes went unacknowledged through BlackHoleRetransmits
// retransmission timeouts (or at the trial timeout, whichever is first).
// Before that, at SuspectRetransmits, the driver reports a suspicion
// (Planner.Suspect); the planner acts on it at once as if the reuse had
// failed at its age, while the connections just younger than it are still
// young. A suspicion is never an outcome: the trial's outcome is what
// finally happens (Dropped on the evidence or at the timeout, or OK or
// Reset if the path answers after all), the Result is read from outcomes
// alone, and a suspicion that the outcome refutes leaves the record as if
// it had never been made.

// Suspect implements Planner: the running reuse of id looks like a black
// hole since at. It counts as a failure at the reuse's age until the
// reuse's outcome is observed; a second report for the same reuse, or one
// for a connection that is not being reused, is ignored.
func (c *core) Suspect(id ConnID, at time.Time) {
	pc, ok := c.conns[id]
	if !ok || pc.state != reusing || c.done {
		return
	}
	if _, dup := c.suspects[id]; dup {
		return
	}
	if c.suspects == nil {
		c.suspects = make(map[ConnID]Trial)
	}
	c.suspects[id] = Trial{Conn: id, Age: pc.reuseStart.Sub(pc.idleSince), IdleSince: pc.idleSince,
		ConnAge: pc.reuseStart.Sub(pc.opened), Reuse: pc.reuses, Start: pc.reuseStart, End: at,
		Outcome: Dropped, Confirm: pc.confirm, Detail: suspectedDetail}
	c.reread()
}

// suspectedDetail marks the failure a suspicion stands for.
const suspectedDetail = "suspected black hole"

// suspected returns the standing suspicions as failures, by connection.
func (c *core) suspected() []Trial {
	out := make([]Trial, 0, len(c.suspects))
	for _, id := range slices.Sorted(maps.Keys(c.suspects)) {
		out = append(out, c.suspects[id])
	}
	return out
}

// dropSuspects forgets every standing suspicion (the search is over: what
// it reports is read from outcomes alone).
func (c *core) dropSuspects() {
	if len(c.suspects) > 0 {
		c.suspects = nil
		c.refresh()
	}
}

// hangAfter is how long a reuse may run before the planner itself takes
// it for hanging: well past the slowest success so far.
func (c *core) hangAfter() time.Duration {
	return max(4*c.slowest, 50*time.Millisecond)
}

// hanging returns the youngest idle age among reuses that have run longer
// than hangAfter, and when the next running reuse turns hanging.
func (c *core) hanging(now time.Time) (age time.Duration, found bool, next time.Time) {
	after := c.hangAfter()
	for _, pc := range c.conns {
		if pc.state != reusing {
			continue
		}
		if at := pc.reuseStart.Add(after); now.Before(at) {
			next = minTime(next, at)
			continue
		}
		if !found || pc.reuseAge < age {
			age, found = pc.reuseAge, true
		}
	}
	return age, found, next
}

// held reports whether a reuse of pc must wait: a reuse of a younger
// connection is hanging (probably a black hole), and pc would most likely
// hang too, holding a connection for a whole trial timeout to learn nothing
// new. It goes ahead once the hanging reuse ends, whatever its outcome.
func (c *core) held(pc *pconn, now time.Time, hang time.Duration, hanging bool) bool {
	return hanging && !pc.confirm && c.ageOf(pc, now) >= hang
}
