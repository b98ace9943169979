package plan

import (
	"maps"
	"math"
	"slices"
	"sort"
	"time"
)

// connState is where a connection is in its life.
type connState int

const (
	opening connState = iota
	idle
	reusing
)

// pconn is the planner's view of one connection.
type pconn struct {
	id        ConnID
	state     connState
	opened    time.Time
	idleSince time.Time
	// testAt is when the connection is due for reuse (zero: not scheduled).
	testAt  time.Time
	confirm bool
	// rung is the ladder rung the connection serves (parallel), or -1.
	rung int
	// target is the idle age the connection is meant to be reused at, for
	// connections still opening.
	target time.Duration
	// reuseStart and reuseAge describe the reuse under way.
	reuseStart time.Time
	reuseAge   time.Duration
}

func (c *pconn) age(now time.Time) time.Duration { return now.Sub(c.idleSince) }

// maxInconclusive is how many slow or error trials in a row end a search:
// the target answers, but not in a way that says anything about idle limits.
const maxInconclusive = 5

// maxConfirmRounds bounds how many confirmation rounds one bracket gets
// before the result is published as it stands.
func (c *core) maxConfirmRounds() int { return 3 + 2*c.s.Confirm }

// maxTrials bounds a whole search, so that a path that contradicts itself
// forever still ends; its result then shows the disagreements.
func (c *core) maxTrials() int { return 1000 + 20*c.s.Budget }

// core holds the bookkeeping both strategies share: connections, the trial
// record, the robust bracket, confirmation and the result.
type core struct {
	s     Settings
	start time.Time

	conns  map[ConnID]*pconn
	nextID ConnID
	opened int
	peak   int

	trials []Trial
	// closeAge is the idle age of the first close seen while idle.
	closeAge time.Duration

	// Cached bracket, recomputed after every observation.
	b       bracket
	version int // bumps when the bracket moves

	// slowest is the longest a successful reuse has taken.
	slowest time.Duration

	inconclusive  int
	confirmRounds int
	done          bool
	aborted       bool
}

// bracket is the robust reading of the trial record.
type bracket struct {
	lower, upper    time.Duration
	found           bool
	mode            Outcome
	agree, disagree int
	// implied is true when lower comes from a close seen while idle (the
	// connection lived until then) rather than from a successful reuse.
	implied bool
}

func newCore(s Settings, start time.Time) core {
	return core{s: s, start: start, conns: make(map[ConnID]*pconn)}
}

func (c *core) Live() int  { return len(c.conns) }
func (c *core) Done() bool { return c.done }
func (c *core) full() bool { return len(c.conns) >= c.s.Budget }

// width is the bracket width wanted around the current bracket. It is
// taken at the lower edge, so that it never exceeds the share of the limit
// itself that Precision asks for.
func (c *core) width() time.Duration { return c.s.Width(c.b.lower) }

func (c *core) newConn(rung int, target time.Duration) *pconn {
	c.nextID++
	pc := &pconn{id: c.nextID, state: opening, rung: rung, target: target}
	c.conns[pc.id] = pc
	c.opened++
	if len(c.conns) > c.peak {
		c.peak = len(c.conns)
	}
	return pc
}

// Opened implements Planner.
func (c *core) Opened(id ConnID, opened, idleSince time.Time) {
	if pc, ok := c.conns[id]; ok {
		pc.state = idle
		pc.opened = opened
		pc.idleSince = idleSince
	}
}

// OpenFailed implements Planner.
func (c *core) OpenFailed(id ConnID, at time.Time, detail string) {
	delete(c.conns, id)
	c.inconclusive++
	if c.inconclusive >= maxInconclusive {
		c.done, c.aborted = true, true
	}
}

// record stores t, forgets a dead connection and refreshes the bracket. It
// returns the connection if it is still alive.
func (c *core) record(t Trial) *pconn {
	c.trials = append(c.trials, t)
	if t.Outcome == ClosedIdle && c.closeAge == 0 {
		c.closeAge = t.Age
	}
	if t.Outcome.Survived() || t.Outcome.Failed() {
		c.inconclusive = 0
	} else {
		c.inconclusive++
		if c.inconclusive >= maxInconclusive {
			c.done, c.aborted = true, true
		}
	}
	old := c.b
	c.b = c.computeBracket()
	if c.b.lower != old.lower || c.b.upper != old.upper || c.b.found != old.found {
		c.version++
		c.confirmRounds = 0 // a new bracket earns its own re-tests
	}
	if len(c.trials) >= c.maxTrials() {
		// A path this inconsistent will not settle: publish what it says.
		c.done = true
	}
	if t.Outcome.Survived() {
		c.slowest = max(c.slowest, t.End.Sub(t.Start))
	}
	pc, ok := c.conns[t.Conn]
	if !ok {
		return nil
	}
	if t.Outcome.Survived() {
		pc.state = idle
		pc.idleSince = t.End
		pc.testAt = time.Time{}
		pc.confirm = false
		return pc
	}
	delete(c.conns, t.Conn)
	return nil
}

// point is one conclusive observation for the bracket.
type point struct {
	age  time.Duration
	fail bool
	out  Outcome
}

// computeBracket finds the threshold that best separates survivals from
// failures: the one that contradicts the fewest trials. A lone reset among
// many survivals (a pod restart) therefore does not become the limit, and a
// survival above a real limit (a flaky hop) does not hide it.
func (c *core) computeBracket() bracket {
	pts := make([]point, 0, len(c.trials))
	var totalOK, totalFail int
	for _, t := range c.trials {
		switch {
		case t.Outcome.Survived():
			pts = append(pts, point{age: t.Age, out: t.Outcome})
			totalOK++
		case t.Outcome.Failed():
			pts = append(pts, point{age: t.Age, fail: true, out: t.Outcome})
			totalFail++
		}
	}
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].age < pts[j].age })

	// Threshold at +inf: every failure is a contradiction.
	bestErr, bestIdx := totalFail, -1
	okBelow, failBelow := 0, 0
	for i := 0; i < len(pts); {
		j := i
		okHere, failHere := 0, 0
		for j < len(pts) && pts[j].age == pts[i].age {
			if pts[j].fail {
				failHere++
			} else {
				okHere++
			}
			j++
		}
		if failHere > 0 {
			errs := (totalOK - okBelow) + failBelow
			// Strictly fewer contradictions: on a tie the shorter
			// threshold stays, and "no limit" beats them all, so a lone
			// reset that a re-test contradicts does not become a limit.
			if errs < bestErr {
				bestErr, bestIdx = errs, i
			}
		}
		okBelow += okHere
		failBelow += failHere
		i = j
	}
	b := bracket{agree: len(pts) - bestErr, disagree: bestErr}
	var theta time.Duration = math.MaxInt64
	if bestIdx >= 0 {
		theta = pts[bestIdx].age
		b.found = true
		b.upper = theta
		b.mode = c.modeAt(pts, bestIdx)
	}
	for _, p := range pts {
		if !p.fail && p.age < theta && p.age > b.lower {
			b.lower = p.age
		}
	}
	// A close seen while idle at age K proves the connection lived until
	// just before K: without a confirmation that is as good as a survival.
	if b.found && b.mode == ClosedIdle {
		if implied := b.upper - c.s.Width(b.upper)/2; implied > b.lower {
			b.lower, b.implied = implied, true
		}
	}
	return b
}

// modeAt names the failure mode at the threshold: the outcome of the
// failure there, preferring a close seen while idle (exact) when the
// shortest failures include one.
func (c *core) modeAt(pts []point, idx int) Outcome {
	mode := pts[idx].out
	w := c.s.Width(pts[idx].age)
	for _, p := range pts[idx:] {
		if p.age > pts[idx].age+w {
			break
		}
		if p.fail && p.out == ClosedIdle {
			return ClosedIdle
		}
	}
	return mode
}

// settled reports whether the bracket is as narrow as wanted, or there is
// nothing more to learn within [Min, Max].
func (c *core) settled() bool {
	if !c.b.found {
		return c.b.lower >= c.s.Max
	}
	if c.b.upper <= c.s.Min {
		return true
	}
	return c.b.upper-c.b.lower <= c.s.Width(c.b.lower)
}

// support is the net evidence at the bracket edges: failures aged
// [upper, upper+w] besides the one that set upper, less survivals at or
// above upper; and survivals aged [lower-w, lower] besides the one that set
// lower, less failures at or below lower. A re-test that contradicts an
// edge therefore has to be outvoted by further re-tests.
func (c *core) support() (up, low int) {
	w := c.width()
	for _, t := range c.trials {
		switch {
		case t.Outcome.Failed() && t.Age >= c.b.upper && t.Age <= c.b.upper+w:
			up++
		case t.Outcome.Survived() && t.Age >= c.b.upper:
			up--
		}
		switch {
		case t.Outcome.Survived() && t.Age <= c.b.lower && t.Age >= c.b.lower-w:
			low++
		case t.Outcome.Failed() && t.Age <= c.b.lower:
			low--
		}
	}
	up-- // the trial that defines upper
	if !c.b.implied {
		low--
	}
	return up, low
}

// needConfirm says which edges still want a confirming trial.
func (c *core) needConfirm() (upper, lower bool) {
	if !c.b.found || c.s.Confirm == 0 || c.confirmRounds >= c.maxConfirmRounds() {
		return false, false
	}
	up, low := c.support()
	upper = up < c.s.Confirm
	lower = c.b.lower > 0 && c.b.lower >= c.s.Min && low < c.s.Confirm
	return upper, lower
}

// inFlight reports whether a reuse is under way.
func (c *core) inFlight() bool {
	for _, pc := range c.conns {
		if pc.state == reusing {
			return true
		}
	}
	return false
}

// closeAll returns Close actions for every connection and forgets them.
func (c *core) closeAll(acts []Action) []Action {
	for _, id := range c.sortedIDs() {
		if c.conns[id].state == reusing {
			continue // the driver reports it, then it is closed
		}
		acts = append(acts, Action{Kind: Close, Conn: id})
		delete(c.conns, id)
	}
	return acts
}

func (c *core) sortedIDs() []ConnID { return slices.Sorted(maps.Keys(c.conns)) }

// suspectAfter is how long a reuse may run before it looks like a black
// hole: well past the slowest success so far.
func (c *core) suspectAfter() time.Duration {
	return max(4*c.slowest, 50*time.Millisecond)
}

// suspect returns the youngest idle age among reuses that have run longer
// than suspectAfter, and when the next running reuse turns suspect.
func (c *core) suspect(now time.Time) (age time.Duration, found bool, next time.Time) {
	after := c.suspectAfter()
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
	return hanging && !pc.confirm && pc.age(now) >= hang
}

// dueReuses starts every scheduled reuse whose time has come.
func (c *core) dueReuses(now time.Time, acts []Action) []Action {
	hang, hanging, _ := c.suspect(now)
	for _, id := range c.sortedIDs() {
		pc := c.conns[id]
		if pc.state == idle && !pc.testAt.IsZero() && !now.Before(pc.testAt) && !c.held(pc, now, hang, hanging) {
			pc.state = reusing
			pc.reuseStart, pc.reuseAge = now, pc.age(now)
			acts = append(acts, Action{Kind: Reuse, Conn: id, Confirm: pc.confirm})
		}
	}
	return acts
}

// scheduled reports whether any idle connection has a reuse scheduled.
func (c *core) scheduled() bool {
	for _, pc := range c.conns {
		if pc.state == idle && !pc.testAt.IsZero() {
			return true
		}
	}
	return false
}

// earliest returns when Next next has something to do about scheduled
// reuses: the earliest one not held back, or the moment a running reuse
// turns suspect. The zero time means only an event can move things on.
func (c *core) earliest(now time.Time) time.Time {
	hang, hanging, next := c.suspect(now)
	var w time.Time
	for _, pc := range c.conns {
		if pc.state == idle && !pc.testAt.IsZero() && !c.held(pc, maxTime(now, pc.testAt), hang, hanging) {
			w = minTime(w, pc.testAt)
		}
	}
	return minTime(w, next)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case b.Before(a):
		return b
	}
	return a
}

// Result implements Planner.
func (c *core) Result() Result {
	r := Result{
		Settings:          c.s,
		Lower:             c.b.lower,
		Upper:             c.b.upper,
		Found:             c.b.found,
		Mode:              c.b.mode,
		CloseAge:          c.closeAge,
		Agree:             c.b.agree,
		Disagree:          c.b.disagree,
		Complete:          c.done && !c.aborted,
		ConnectionsOpened: c.opened,
		PeakConnections:   c.peak,
		Trials:            append([]Trial(nil), c.trials...),
	}
	if !r.Found {
		r.Upper, r.Mode = 0, ""
	}
	if r.Found && r.Mode != ClosedIdle {
		r.CloseAge = 0
	}
	return r
}
