package plan

import "time"

// The sequential strategy: the textbook baseline every operator would try
// first. One connection is idled for Min, 2*Min, 4*Min... and reused each
// time until a reuse fails; then the bracket is bisected, one fresh
// connection per step. It needs no budget to speak of, and costs roughly
// 8-10 times the limit in wall time. It exists so that the parallel
// strategy has something honest to be measured against.
type sequential struct {
	core
}

func newSequential(s Settings, start time.Time) *sequential {
	return &sequential{core: newCore(s, start)}
}

// Opened implements Planner.
func (q *sequential) Opened(id ConnID, opened, idleSince time.Time) {
	q.core.Opened(id, opened, idleSince)
	if pc, ok := q.conns[id]; ok && pc.target > 0 {
		pc.testAt = q.base(pc).Add(pc.target)
	}
}

// Observe implements Planner.
func (q *sequential) Observe(t Trial) {
	if pc := q.record(t); pc != nil {
		pc.target = 0
	}
}

// Next implements Planner.
func (q *sequential) Next(now time.Time) ([]Action, time.Time) {
	var acts []Action
	if q.expired(now) {
		return q.closeAll(acts), time.Time{}
	}
	acts = q.closeRetired(acts)
	busy := q.inFlight() || q.scheduled()
	for _, pc := range q.conns {
		if pc.state == opening {
			busy = true
		}
	}
	if !busy {
		switch {
		case q.settled():
			up, low := q.needConfirm()
			if !up && !low {
				q.settle(now)
				return q.closeAll(acts), time.Time{}
			}
			if q.confirmedEnough(now, up) {
				return q.closeAll(acts), time.Time{}
			}
			q.confirmRounds++
			// Re-tests run on fresh connections: a recycled one could fail
			// for another reason (its age, our payload seen again).
			if up {
				acts = q.single(now, q.b.upper+q.width()/4, true, q.closeIdle(acts))
			} else {
				acts = q.single(now, q.b.lower, true, q.closeIdle(acts))
			}
		case q.b.found && q.b.lower == 0 && !q.probedZero():
			acts = q.single(now, zeroProbe, false, acts)
		case q.b.found:
			acts = q.single(now, (q.b.lower+q.b.upper)/2, false, acts)
		default:
			next := 2 * q.b.lower
			if next < q.s.Min {
				next = q.s.Min
			}
			if next > q.s.Max {
				next = q.s.Max
			}
			acts = q.single(now, next, false, acts)
		}
	}
	acts = q.dueReuses(now, acts)
	return acts, q.wake(q.earliest(now))
}

// single schedules one trial at idle age target on the idle connection if
// there is one (it is fresh after surviving), else on a new connection.
func (q *sequential) single(now time.Time, target time.Duration, confirm bool, acts []Action) []Action {
	for _, id := range q.sortedIDs() {
		pc := q.conns[id]
		if pc.state == idle {
			if q.ageOf(pc, now) > target {
				// Too old for this trial: start over on a fresh one.
				acts = append(acts, Action{Kind: Close, Conn: id})
				delete(q.conns, id)
				continue
			}
			pc.testAt, pc.confirm = q.base(pc).Add(target), confirm
			return acts
		}
	}
	pc := q.newConn(-1, target)
	pc.confirm = confirm
	return append(acts, Action{Kind: Open, Conn: pc.id})
}

// closeIdle closes every idle connection.
func (q *sequential) closeIdle(acts []Action) []Action {
	for _, id := range q.sortedIDs() {
		if q.conns[id].state == idle {
			acts = append(acts, Action{Kind: Close, Conn: id})
			delete(q.conns, id)
		}
	}
	return acts
}

// Remaining implements Planner.
func (q *sequential) Remaining(now time.Time) time.Duration {
	if q.done {
		return 0
	}
	var left time.Duration
	if w := q.earliest(now); !w.IsZero() && w.After(now) {
		left = w.Sub(now)
	}
	if !q.b.found {
		// The doublings still to come up to Max.
		for a := 4 * q.b.lower; a > 0 && a < 2*q.s.Max; a *= 2 {
			left += min(a, q.s.Max)
		}
		return left
	}
	// Bisection steps still to come, each about as long as the limit.
	for span := q.b.upper - q.b.lower; span > q.s.Width(q.b.upper); span /= 2 {
		left += (q.b.lower + q.b.upper) / 2
	}
	return left
}
