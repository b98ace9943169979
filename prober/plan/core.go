package plan

import (
	"fmt"
	"maps"
	"slices"
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
	// reuses counts the reuses started on the connection.
	reuses int
	// retire marks a survivor that must not be reused again (the reuse cap):
	// the next Next closes it.
	retire bool
}

// maxInconclusive is how many slow or error trials (or failed opens) in a
// row end a search: the target answers, but not in a way that says anything
// about idle limits.
const maxInconclusive = 5

// DefaultTrialTimeout is the trial timeout the automatic deadline assumes
// when the driver does not say (prober.DefaultTimeout is the same).
const DefaultTrialTimeout = 5 * time.Second

// maxConfirmRounds bounds how many confirmation rounds one bracket gets
// before the result is published as it stands.
func (c *core) maxConfirmRounds() int { return 3 + 2*c.s.Confirm }

// maxTrials bounds a whole search, so that a path that contradicts itself
// forever still ends (Inconclusive); its result shows the disagreements.
func (c *core) maxTrials() int { return 1000 + 20*c.s.Budget }

// core holds the bookkeeping both strategies share: connections, the trial
// record, the robust bracket, confirmation and the result.
type core struct {
	s     Settings
	start time.Time
	// deadline is when the search ends, done or not.
	deadline time.Time

	conns  map[ConnID]*pconn
	nextID ConnID
	opened int
	peak   int

	trials []Trial
	// suspects holds the failures the planner acts on before they are
	// known: reuses that look like a black hole (see Suspect), until their
	// real outcome arrives. They are never part of the Result.
	suspects map[ConnID]Trial

	// Cached reading of the record, recomputed after every observation.
	b       bracket
	rd      reading
	version int // bumps when the bracket moves

	// slowest is the longest a successful reuse has taken.
	slowest time.Duration

	// lived counts connections still open past the limit at the end (see
	// noteLived); livedLongest is the oldest of them.
	lived        int
	livedLongest time.Duration
	// lingerUntil, lingerVersion and lingerTrials describe the short watch
	// after a closing limit settles (see linger).
	lingerUntil   time.Time
	lingerVersion int
	lingerTrials  int

	inconclusive  int
	confirmRounds int
	done          bool
	status        Status
	reason        string
}

// bracket is the robust reading of the trial record on the limit's clock.
type bracket struct {
	kind             Kind
	lower, upper     time.Duration
	found, confirmed bool
	mode             Outcome
	agree, disagree  int
	closeAge         time.Duration
	// implied is true when lower comes from a close seen while idle (the
	// connection lived until then) rather than from a successful reuse.
	implied bool
}

func newCore(s Settings, start time.Time) core {
	if s.Deadline == 0 {
		s.Deadline = AutoDeadline(s, DefaultTrialTimeout)
	}
	return core{s: s, start: start, deadline: start.Add(s.Deadline), conns: make(map[ConnID]*pconn),
		b: bracket{kind: Idle}}
}

// base is where the limit's clock starts for pc: its last exchange (idle
// limits) or its handshake (lifetimes).
func (c *core) base(pc *pconn) time.Time {
	if c.b.kind == Lifetime {
		return pc.opened
	}
	return pc.idleSince
}

// ageOf is pc's age at now on the limit's clock.
func (c *core) ageOf(pc *pconn, now time.Time) time.Duration { return now.Sub(c.base(pc)) }

// finish ends the search with status and reason.
func (c *core) finish(status Status, reason string) {
	if !c.done {
		c.done, c.status, c.reason = true, status, reason
		c.dropSuspects()
	}
}

// settle ends a search whose bracket is settled: Measured, unless the
// record contradicts it too often to be trusted (a flapping path: a fifth
// of the trials or more, and at least three, disagree; or reuses above a
// limit that nothing survived below, or one below Min, worked).
func (c *core) settle(now time.Time) {
	n := c.b.agree + c.b.disagree
	if c.b.disagree >= 3 && 5*c.b.disagree >= n {
		c.finish(Inconclusive, fmt.Sprintf("the path contradicts itself: %d of %d trials disagree with the best reading", c.b.disagree, n))
		return
	}
	if sp := c.rd.fit.spread; c.b.found && (c.b.lower == 0 || c.b.upper < c.s.Min) && sp.Survived > 0 {
		c.finish(Inconclusive, fmt.Sprintf("reuses failed after %s idle, yet %d of %d reuses after longer idle times worked: the path fails at random",
			c.b.upper.Round(time.Millisecond), sp.Survived, sp.Beyond))
		return
	}
	c.noteLived(now)
	c.finish(Measured, "")
}

// noteLived counts, on a path that closes idle connections itself, the
// connections still open past the shortest close when the search ends: the
// close would have been seen, so they outlived the limit (several backends,
// a server that checks its clients on a coarse timer). They go into the
// spread as survivals.
func (c *core) noteLived(now time.Time) {
	if !c.b.found || c.b.mode != ClosedIdle {
		return
	}
	past := c.rd.fit.spread.First + livedMargin
	for _, pc := range c.conns {
		if a := c.ageOf(pc, now); pc.state == idle && a > past {
			c.lived++
			c.livedLongest = max(c.livedLongest, a)
		}
	}
}

// linger keeps a search whose limit is a close seen while idle open a
// little longer (a twentieth of the limit, at most one width), so that the
// connections just younger than the limit pass it: each either closes
// (the limit is the same for all) or lives on (several backends, a coarse
// timer: the spread). It returns when to look again, or the zero time once
// two connections have passed or the time is up.
func (c *core) linger(now time.Time) time.Time {
	if !c.b.found || c.b.mode != ClosedIdle {
		return time.Time{}
	}
	if c.lingerUntil.IsZero() || c.lingerVersion != c.version {
		c.lingerUntil = now.Add(min(c.s.Width(c.b.upper), c.b.upper/20))
		c.lingerVersion, c.lingerTrials = c.version, len(c.trials)
	}
	if !now.Before(c.lingerUntil) {
		return c.watchClock(now)
	}
	past := c.rd.fit.spread.First + livedMargin
	passed := len(c.trials) - c.lingerTrials
	next := c.lingerUntil
	for _, pc := range c.conns {
		if pc.state != idle {
			continue
		}
		if at := c.base(pc).Add(past); now.Before(at) {
			next = minTime(next, at)
		} else {
			passed++
		}
	}
	if passed >= 2 {
		return c.watchClock(now)
	}
	return next
}

// watchClock keeps a search open whose idle limit rests on closes that all
// came at one instant on recycled connections of one connection age: a
// server sweeping its idle clients on a timer (Redis) and a lifetime
// (PostgreSQL's authentication_timeout on connections opened together)
// leave the same record. A connection of that age that was used more
// recently tells them apart: under a lifetime it closes at that age too
// (a close at a short idle time, which the clocks then read), under an
// idle limit it lives on. watchClock returns when to look again while
// such a connection is about to pass that age (within a tenth of it, or one width), or the
// zero time when none is or one has passed it.
func (c *core) watchClock(now time.Time) time.Time {
	if c.b.kind != Idle {
		return time.Time{}
	}
	ins := instants(c.trials)
	if len(ins) != 1 {
		return time.Time{} // no close, or closes at several instants: the clocks read them
	}
	var iLo, iHi, cLo, cHi time.Duration = never, 0, never, 0
	for _, i := range ins[0] {
		t := c.trials[i]
		iLo, iHi = min(iLo, t.Age), max(iHi, t.Age)
		cLo, cHi = min(cLo, t.ConnAge), max(cHi, t.ConnAge)
	}
	if cHi-cLo >= closeGap || iHi-iLo < closeGap {
		return time.Time{} // no lifetime look-alike
	}
	past := cLo + watchMargin
	// The connections opened with the closed ones may be gone (recycled or
	// closed by the search); younger ones pass that age later: wait for
	// them up to a tenth of it.
	horizon := now.Add(max(c.s.Width(cLo), cLo/10) + watchMargin)
	var next time.Time
	for _, pc := range c.conns {
		if pc.state != idle || now.Sub(pc.idleSince) >= iLo {
			continue // reusing, or old enough for the idle limit to close it
		}
		at := pc.opened.Add(past)
		if !now.Before(at) {
			return time.Time{} // it outlived that connection age: no lifetime
		}
		if at.Before(horizon) {
			next = minTime(next, at)
		}
	}
	return next
}

// watchMargin is how far past a lifetime look-alike's connection age a
// connection must live to refute it: a server's close of that connection
// is seen up to tens of milliseconds late on a loaded machine (PostgreSQL
// forks a backend per connection, its timer starting a moment after ours).
const watchMargin = 50 * time.Millisecond

// livedMargin is how far past the shortest close a connection must be to
// count as having outlived it: a close under way is seen within it.
const livedMargin = 10 * time.Millisecond

// expired ends the search when its deadline has come or the target turned
// out unusable, and reports whether it is over.
func (c *core) expired(now time.Time) bool {
	if !c.done && !now.Before(c.deadline) {
		c.finish(Inconclusive, fmt.Sprintf("no clean answer within the deadline of %s", c.s.Deadline))
	}
	// Every reuse failed: once the reuses under way have answered too (one
	// of them may survive), the target is unusable.
	if !c.done && c.rd.unusable != "" && !c.inFlight() {
		c.finish(Unusable, c.rd.unusable)
	}
	return c.done
}

// wake caps a wake-up time at the deadline: a planner that is not done
// always has a time to be called again.
func (c *core) wake(w time.Time) time.Time { return minTime(w, c.deadline) }

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
	c.inconclusive = 0
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
		c.finish(Unusable, fmt.Sprintf("%d connections in a row could not be opened (last: %s)", c.inconclusive, detail))
	}
}

// record stores t, forgets a dead connection and refreshes the bracket. It
// returns the connection if it is still alive and may be reused.
func (c *core) record(t Trial) *pconn {
	c.trials = append(c.trials, t)
	delete(c.suspects, t.Conn) // the real outcome replaces a suspicion
	if t.Outcome.Survived() || t.Outcome.Failed() {
		c.inconclusive = 0
	} else {
		c.inconclusive++
		if c.inconclusive >= maxInconclusive {
			c.finish(Unusable, fmt.Sprintf("%d reuses in a row were %s (last: %s): the target answers, but not in a way that says anything about idle limits",
				c.inconclusive, t.Outcome, t.Detail))
		}
	}
	c.reread()
	if len(c.trials) >= c.maxTrials() {
		c.finish(Inconclusive, fmt.Sprintf("%d trials without a settled answer", len(c.trials)))
	}
	if t.Outcome.Survived() {
		c.slowest = max(c.slowest, t.End.Sub(t.Start))
	}
	pc, ok := c.conns[t.Conn]
	if !ok {
		return nil
	}
	if t.Outcome.Survived() && !t.Retired {
		pc.state = idle
		pc.idleSince = t.End
		pc.testAt = time.Time{}
		pc.confirm = false
		if cp := c.rd.reuseCap; cp > 0 && pc.reuses >= cp-1 {
			pc.retire = true
			return nil
		}
		return pc
	}
	delete(c.conns, t.Conn)
	return nil
}

// reread refreshes the bracket and starts a new plan when it moved.
func (c *core) reread() {
	old := c.b
	c.refresh()
	if c.b.lower != old.lower || c.b.upper != old.upper || c.b.found != old.found || c.b.kind != old.kind {
		c.version++
		c.confirmRounds = 0 // a new bracket earns its own re-tests
	}
}

// refresh re-reads the record, with the standing suspicions, into the
// cached bracket.
func (c *core) refresh() { c.b, c.rd = c.reading(true) }

// reading reads the record, with the standing suspicions or without.
func (c *core) reading(suspects bool) (bracket, reading) {
	if suspects && len(c.suspects) > 0 {
		real := c.trials
		c.trials = append(slices.Clip(real), c.suspected()...)
		defer func() { c.trials = real }()
	}
	rd := c.read()
	f := rd.fit
	b := bracket{
		kind: rd.kind, lower: f.lower, upper: f.upper, found: f.found, confirmed: f.confirmed,
		mode: Outcome(f.mode), agree: f.agree, disagree: f.disagree, closeAge: f.closeAge, implied: f.implied,
	}
	if !f.found {
		b.upper, b.mode = 0, ""
	}
	return b, rd
}

// closeRetired closes survivors that must not be reused again.
func (c *core) closeRetired(acts []Action) []Action {
	for _, id := range c.sortedIDs() {
		if pc := c.conns[id]; pc.retire && pc.state == idle {
			acts = append(acts, Action{Kind: Close, Conn: id})
			delete(c.conns, id)
		}
	}
	return acts
}

// answeredZero reports whether a reuse right after an open has answered.
func (c *core) answeredZero() bool {
	for _, t := range c.trials {
		if (t.Outcome.Survived() || t.Outcome.Failed()) && t.Age <= zeroAge {
			return true
		}
	}
	return false
}

// probedZero reports whether a reuse right after an open has answered or
// is on its way.
func (c *core) probedZero() bool {
	if c.answeredZero() {
		return true
	}
	for _, pc := range c.conns {
		if pc.target == zeroProbe {
			return true
		}
	}
	return false
}

// zeroProbe is the target age of a reuse right after the open.
const zeroProbe = time.Nanosecond

// settled reports whether the bracket is as narrow as wanted, or there is
// nothing more to learn within [Min, Max].
func (c *core) settled() bool {
	if !c.b.found {
		return c.b.lower >= c.s.Max
	}
	if c.b.lower == 0 && !c.answeredZero() {
		return false // is it the payload, not idleness? a reuse at once tells
	}
	return c.b.upper-c.b.lower <= c.s.Width(c.b.lower)
}

// lowSupport is the net evidence at the lower edge: survivals aged
// [lower-w, lower] besides the one that set lower, less failures there.
func (c *core) lowSupport() int {
	w := c.width()
	low := 0
	for _, t := range c.trials {
		if c.payloadsFault(t) {
			continue
		}
		a := c.clockAge(t)
		switch {
		case t.Outcome.Survived() && a <= c.b.lower && a >= c.b.lower-w:
			low++
		case t.Outcome.Failed() && a <= c.b.lower && a >= c.b.lower-w:
			low--
		}
	}
	if !c.b.implied {
		low--
	}
	return low
}

// clockAge is t's age on the limit's clock.
func (c *core) clockAge(t Trial) time.Duration {
	if c.b.kind == Lifetime {
		return t.ConnAge
	}
	return t.Age
}

// needConfirm says which edges still want a confirming trial.
func (c *core) needConfirm() (upper, lower bool) {
	if !c.b.found || c.s.Confirm == 0 {
		return false, false
	}
	upper = !c.b.confirmed
	lower = c.b.lower > zeroAge && c.lowSupport() < c.s.Confirm
	return upper, lower
}

// confirmedEnough ends a search whose bracket is settled but whose edges
// still want re-tests after maxConfirmRounds (and no suspicion awaits its
// outcome, which may settle it): the upper edge unconfirmed is
// no clean answer, nor a lower edge that re-tests contradict; a lower edge
// merely short of support is published as it is.
func (c *core) confirmedEnough(now time.Time, up bool) bool {
	if c.confirmRounds < c.maxConfirmRounds() || len(c.suspects) > 0 {
		return false
	}
	switch {
	case up:
		c.finish(Inconclusive, fmt.Sprintf("re-tests neither confirmed nor refuted the limit at %s after %d rounds",
			c.b.upper.Round(time.Millisecond), c.confirmRounds))
	case c.lowSupport() < 0:
		c.finish(Inconclusive, fmt.Sprintf("re-tests below the limit failed more often than they worked (at %s idle): the path fails at random",
			c.b.lower.Round(time.Millisecond)))
	default:
		c.settle(now)
	}
	return true
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

// dueReuses starts every scheduled reuse whose time has come.
func (c *core) dueReuses(now time.Time, acts []Action) []Action {
	hang, hanging, _ := c.hanging(now)
	for _, id := range c.sortedIDs() {
		pc := c.conns[id]
		if pc.state == idle && !pc.testAt.IsZero() && !now.Before(pc.testAt) && !c.held(pc, now, hang, hanging) {
			pc.state = reusing
			pc.reuses++
			pc.reuseStart, pc.reuseAge = now, c.ageOf(pc, now)
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
// turns hanging. The zero time means only an event can move things on.
func (c *core) earliest(now time.Time) time.Time {
	hang, hanging, next := c.hanging(now)
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
