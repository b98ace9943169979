package plan

import (
	"math"
	"sort"
	"time"
)

// The parallel strategy.
//
// Rung k of a geometric ladder a_k = Min*rho^k (up to Max) is tested by a
// connection opened at (gamma-1)*a_k after the start and reused when it has
// been idle a_k, so rung k is answered at about gamma*a_k. The ladder is
// tested in order of age, and the first failure is seen at gamma*a_f with
// a_f < rho*T. At that moment the connections opened for the higher rungs
// are idle at ages just below a_f, densely spaced, so reusing them at once
// narrows the bracket to a fraction of rho-1 without waiting: the limit is
// known at about gamma*rho*T. The number of connections waiting at any time
// is about ln(gamma/(gamma-1))/ln(rho), so gamma and rho are chosen from the
// connection budget to minimise gamma*rho. Filler connections opened past
// Max keep that density when the limit is close to Max.
type parallel struct {
	core
	rho, gamma float64
	rungs      []rung

	planned int // bracket version the fine plan was made for

	hint *hintState // set when the search started from a hint (hint.go)
}

type rung struct {
	age    time.Duration
	openAt time.Time
	filler bool // opened only to be near the top of the ladder, never tested at its age
	done   bool
	conn   ConnID // 0 when no connection serves it
}

// Edge markers for confirmation trials.
const (
	edgeNone = iota
	edgeUpper
	edgeLower
)

// ladderShape picks rho and gamma for a budget and precision. The waiting
// connections number about (N-1) = ln(gamma/(gamma-1))/ln(rho); the first
// failure is seen at gamma*rho*T at worst; the fine step that follows costs
// nothing when the waiting connections are spaced closer than the wanted
// precision, and a few short waits otherwise.
func ladderShape(s Settings) (rho, gamma float64) {
	n := s.Budget - s.Budget/16
	if n < 2 {
		n = 2
	}
	best := math.Inf(1)
	for r := 1.01; r <= 1.5001; r += 0.0025 {
		g := math.Pow(r, float64(n-1))
		gm := g / (g - 1)
		spacing := (gm-1)*(r-1) + (r-1)*(1-1/r)
		cost := gm * r
		if spacing > s.Precision {
			cost += (math.Log2(spacing/s.Precision) + 1) * spacing
		}
		if cost < best {
			best, rho, gamma = cost, r, gm
		}
	}
	return rho, gamma
}

func newParallel(s Settings, start time.Time) *parallel {
	p := &parallel{core: newCore(s, start), planned: -1}
	p.rho, p.gamma = ladderShape(s)
	at := func(age time.Duration) time.Time {
		return start.Add(time.Duration((p.gamma - 1) * float64(age)))
	}
	for a := float64(s.Min); ; a *= p.rho {
		age := time.Duration(a)
		if age >= s.Max {
			p.rungs = append(p.rungs, rung{age: s.Max, openAt: at(s.Max)})
			break
		}
		p.rungs = append(p.rungs, rung{age: age, openAt: at(age)})
	}
	// Fillers: connections that are at ages just below Max when the Max
	// rung is answered, for the fine step of a limit close to Max.
	lastTest := time.Duration(p.gamma * float64(s.Max))
	for a := float64(s.Max) * p.rho; ; a *= p.rho {
		age := time.Duration(a)
		open := time.Duration((p.gamma - 1) * a)
		if open > lastTest-time.Duration(float64(s.Max)/p.rho) {
			break
		}
		p.rungs = append(p.rungs, rung{age: age, openAt: at(age), filler: true})
	}
	return p
}

// Opened implements Planner.
func (p *parallel) Opened(id ConnID, opened, idleSince time.Time) {
	p.core.Opened(id, opened, idleSince)
	pc, ok := p.conns[id]
	if !ok {
		return
	}
	if pc.target > 0 {
		pc.testAt = p.base(pc).Add(pc.target)
	}
}

// OpenFailed implements Planner.
func (p *parallel) OpenFailed(id ConnID, at time.Time, detail string) {
	p.release(id)
	p.core.OpenFailed(id, at, detail)
}

// release frees the rung a connection served, if its question is still open.
func (p *parallel) release(id ConnID) {
	if pc, ok := p.conns[id]; ok && pc.rung >= 0 && p.rungs[pc.rung].conn == id {
		p.rungs[pc.rung].conn = 0
	}
}

// Observe implements Planner.
func (p *parallel) Observe(t Trial) {
	if pc, ok := p.conns[t.Conn]; ok && pc.rung >= 0 {
		r := &p.rungs[pc.rung]
		if r.conn == t.Conn {
			r.conn = 0
			// Only a conclusive trial at the rung's own age (or older)
			// answers it; a reuse at another age frees it.
			if (t.Outcome.Survived() || t.Outcome.Failed()) && t.Age >= r.age {
				r.done = true
			}
		}
		pc.rung = -1
	}
	if pc := p.record(t); pc != nil {
		pc.target = 0
	}
}

// Next implements Planner.
func (p *parallel) Next(now time.Time) ([]Action, time.Time) {
	var acts []Action
	if p.expired(now) {
		return p.closeAll(acts), time.Time{}
	}
	acts = p.closeRetired(acts)
	acts, hintWake := p.hintNext(now, acts)
	var wake time.Time
	switch {
	case p.settled():
		p.dropSchedule()
		up, low := p.needConfirm()
		if !up && !low {
			if p.inFlight() {
				break // let running trials report; they may move the bracket
			}
			if w := p.linger(now); !w.IsZero() {
				wake = w
				break
			}
			if p.hintWaits() {
				break // a kind check is due soon (hint.go)
			}
			p.settle(now)
			return p.closeAll(acts), time.Time{}
		}
		if p.confirmedEnough(now, up) {
			return p.closeAll(acts), time.Time{}
		}
		acts = p.confirm(now, up, low, acts)
	case p.b.found && !p.hintNarrowing():
		acts = p.fine(now, acts)
	default:
		acts, wake = p.coarse(now, acts)
	}
	acts = p.dueReuses(now, acts)
	return acts, p.wake(minTime(minTime(wake, hintWake), p.earliest(now)))
}

// coarse walks the ladder: opens the connections whose time has come and
// hands survivors to rungs about to open.
func (p *parallel) coarse(now time.Time, acts []Action) ([]Action, time.Time) {
	// Survivors without a rung: take the next rung that is due to open soon,
	// or close.
	for _, id := range p.sortedIDs() {
		pc := p.conns[id]
		if pc.state != idle || !pc.testAt.IsZero() {
			continue
		}
		if pc.rung >= 0 {
			// Back from a fine step that a re-test undid: resume the rung.
			if r := p.rungs[pc.rung]; !r.filler && !r.done {
				pc.testAt = p.base(pc).Add(r.age)
			}
			continue
		}
		if k := p.nextOpen(now, true); k >= 0 {
			p.assign(pc, k)
			continue
		}
		acts = append(acts, Action{Kind: Close, Conn: id})
		delete(p.conns, id)
	}
	for {
		k := p.nextOpen(now, false)
		if k < 0 {
			break
		}
		if p.full() {
			return acts, time.Time{} // an event frees a slot
		}
		r := &p.rungs[k]
		target := r.age
		if r.filler {
			target = 0 // never tested at its own age
		}
		pc := p.newConn(k, target)
		r.conn = pc.id
		acts = append(acts, Action{Kind: Open, Conn: pc.id})
	}
	// Wake when the next rung is due to open.
	for i := range p.rungs {
		r := &p.rungs[i]
		if !r.done && r.conn == 0 && r.age > p.b.lower {
			return acts, r.openAt
		}
	}
	return acts, time.Time{}
}

// nextOpen returns the first rung above the bracket's lower edge that has
// no connection and is due to open by now (by now plus a short slack when
// recycling a survivor), or -1.
func (p *parallel) nextOpen(now time.Time, recycle bool) int {
	for i := range p.rungs {
		r := &p.rungs[i]
		if r.done || r.conn != 0 || r.age <= p.b.lower {
			continue
		}
		due := r.openAt
		if recycle {
			// A survivor is already open: it may start a rung a little
			// early, which only tests that rung sooner.
			slack := time.Duration((p.gamma - 1) * (p.rho - 1) * 2 * float64(r.age))
			due = due.Add(-slack)
		}
		if now.Before(due) {
			return -1
		}
		return i
	}
	return -1
}

func (p *parallel) assign(pc *pconn, k int) {
	r := &p.rungs[k]
	pc.rung = k
	r.conn = pc.id
	if !r.filler {
		pc.testAt = p.base(pc).Add(r.age)
	}
}

// fine narrows a bracket once a failure is known: every idle connection
// aged inside the bracket is reused at once; if that is not enough, idle
// connections are scheduled to be reused when they reach ages spread across
// what is left of the bracket.
func (p *parallel) fine(now time.Time, acts []Action) []Action {
	lo, up := p.b.lower, p.b.upper
	if p.planned != p.version {
		p.planned = p.version
		// Nothing survived yet: is it idleness at all? A reuse right after
		// the open tells a limit below Min from a server that rejects the
		// payload whatever the idle time; until it answers, the connections
		// inside the bracket wait (on such a server they would all fail).
		probe := lo == 0 && !p.probedZero()
		if probe {
			acts = p.schedule(now, []time.Duration{zeroProbe}, edgeNone, acts)
		}
		reserved := p.reserveUpper(now)
		// Unschedule the ladder, but keep its connections: if a re-test
		// shows the failure was a fluke, the ladder goes on from them.
		for _, id := range p.sortedIDs() {
			pc := p.conns[id]
			switch {
			case pc == reserved:
			case pc.state == opening && pc.rung >= 0:
				pc.target = 0
			case pc.state == idle:
				pc.testAt, pc.confirm = time.Time{}, false
				if a := p.ageOf(pc, now); a > lo && a < up && !probe {
					pc.testAt = now
				}
			}
		}
	}
	if p.inFlight() || p.scheduled() || p.opening() {
		return acts
	}
	if lo == 0 && !p.probedZero() {
		// The probe right after an open could not be opened: try again.
		return p.schedule(now, []time.Duration{zeroProbe}, edgeNone, acts)
	}
	// Nothing running and nothing scheduled: spread targets over the rest.
	w := p.width()
	n := int(math.Ceil(float64(up-lo)/float64(w))) - 1
	if n < 1 {
		n = 1
	}
	if n > p.s.Budget/2 {
		n = p.s.Budget / 2
	}
	targets := make([]time.Duration, 0, n)
	for i := n; i >= 1; i-- {
		targets = append(targets, lo+time.Duration(float64(up-lo)*float64(i)/float64(n+1)))
	}
	return p.schedule(now, targets, edgeNone, acts)
}

// reserveUpper keeps one connection back from the fine step's burst to
// re-test the upper edge: the youngest one aged [upper, upper+w] is
// reused at once; else the oldest one inside the bracket is reused when it
// is a quarter width past upper, a short wait. Every reuse in the burst
// races the others, so a coincidence among them (a flaky hop) could pass
// for support; a designated re-test cannot. A connection already reserved
// stays reserved while its re-test still lands near the edge.
func (p *parallel) reserveUpper(now time.Time) *pconn {
	if p.s.Confirm == 0 || p.b.confirmed {
		return nil
	}
	lo, up, w := p.b.lower, p.b.upper, p.width()
	target := up + w/4
	var kept, young, old *pconn
	for _, id := range p.sortedIDs() {
		pc := p.conns[id]
		if pc.state != idle {
			continue
		}
		a := p.ageOf(pc, now)
		switch {
		case pc.confirm && !pc.testAt.IsZero() && a <= up+w:
			kept = pc
		case a >= up && a <= up+w && (young == nil || a < p.ageOf(young, now)):
			young = pc
		case a > lo && a < up && (old == nil || a > p.ageOf(old, now)):
			old = pc
		}
	}
	switch {
	case kept != nil:
		kept.testAt = p.base(kept).Add(max(target, p.ageOf(kept, now)))
		return kept
	case young != nil:
		young.testAt, young.confirm = now, true
		return young
	case old != nil:
		old.testAt, old.confirm = p.base(old).Add(target), true
		return old
	}
	return nil
}

// schedule gives each target age (in descending order) the idle connection
// with the greatest age not above it, reused when it reaches the target, or
// a new connection when none is left and the budget allows.
func (p *parallel) schedule(now time.Time, targets []time.Duration, edge int, acts []Action) []Action {
	var free []*pconn
	for _, id := range p.sortedIDs() {
		pc := p.conns[id]
		if pc.state == idle && pc.testAt.IsZero() {
			free = append(free, pc)
		}
	}
	sort.Slice(free, func(i, j int) bool { return free[i].idleSince.Before(free[j].idleSince) }) // oldest first
	for _, t := range targets {
		picked := -1
		for i, pc := range free {
			if pc != nil && p.ageOf(pc, now) <= t {
				picked = i
				break
			}
		}
		if picked >= 0 {
			pc := free[picked]
			free[picked] = nil
			pc.testAt = p.base(pc).Add(t)
			pc.confirm = edge != edgeNone
			continue
		}
		if p.full() && !p.makeRoom(&acts) {
			continue
		}
		pc := p.newConn(-1, t)
		pc.confirm = edge != edgeNone
		acts = append(acts, Action{Kind: Open, Conn: pc.id})
	}
	return acts
}

// makeRoom closes the idle, unscheduled connection that has been idle
// longest, to free a slot of the budget.
func (p *parallel) makeRoom(acts *[]Action) bool {
	var victim *pconn
	for _, pc := range p.conns {
		if pc.state == idle && pc.testAt.IsZero() && (victim == nil || pc.idleSince.Before(victim.idleSince)) {
			victim = pc
		}
	}
	if victim == nil {
		return false
	}
	p.release(victim.id)
	*acts = append(*acts, Action{Kind: Close, Conn: victim.id})
	delete(p.conns, victim.id)
	return true
}

// dropSchedule cancels every scheduled reuse that is not a confirmation:
// once the bracket is narrow enough they would only cost connections.
func (p *parallel) dropSchedule() {
	for _, pc := range p.conns {
		if pc.confirm {
			continue
		}
		switch pc.state {
		case idle:
			pc.testAt = time.Time{}
		case opening:
			pc.target = 0
		}
		if pc.rung >= 0 {
			p.release(pc.id)
			pc.rung = -1
		}
	}
}

func (p *parallel) opening() bool {
	for _, pc := range p.conns {
		if pc.state == opening {
			return true
		}
	}
	return false
}

// confirm re-tests the bracket edges that lack support: a failure at or
// just above upper, a survival at or just below lower.
func (p *parallel) confirm(now time.Time, up, low bool, acts []Action) []Action {
	// Confirmation trials already under way or scheduled count.
	for _, pc := range p.conns {
		if pc.confirm && (pc.state == reusing || !pc.testAt.IsZero() || pc.state == opening) {
			return acts
		}
	}
	p.confirmRounds++
	lo, upper := p.b.lower, p.b.upper
	w := p.width()
	if up {
		// The youngest connection at or past upper answers at once.
		var best *pconn
		for _, id := range p.sortedIDs() {
			pc := p.conns[id]
			if pc.state == idle && p.ageOf(pc, now) >= upper && p.ageOf(pc, now) <= upper+w &&
				(best == nil || pc.idleSince.After(best.idleSince)) {
				best = pc
			}
		}
		if best != nil {
			best.testAt, best.confirm = now, true
		} else {
			acts = p.schedule(now, []time.Duration{upper + w/4}, edgeUpper, acts)
		}
	}
	if low {
		var best *pconn
		for _, id := range p.sortedIDs() {
			pc := p.conns[id]
			if pc.state == idle && pc.testAt.IsZero() && p.ageOf(pc, now) <= lo && p.ageOf(pc, now) >= lo-w &&
				(best == nil || pc.idleSince.Before(best.idleSince)) {
				best = pc
			}
		}
		if best != nil {
			best.testAt, best.confirm = now, true
		} else {
			acts = p.schedule(now, []time.Duration{lo}, edgeLower, acts)
		}
	}
	return acts
}

// Remaining implements Planner.
func (p *parallel) Remaining(now time.Time) time.Duration {
	if p.done {
		return 0
	}
	var end time.Time
	hinted := p.hint != nil && !p.hint.reseeded // the hint's rungs are all there is to wait for
	if !p.b.found && !hinted {
		end = p.start.Add(time.Duration(p.gamma * float64(p.s.Max)))
	}
	for _, pc := range p.conns {
		if !pc.testAt.IsZero() && (p.b.found || pc.rung < 0 || hinted) && pc.testAt.After(end) {
			end = pc.testAt
		}
	}
	if d := end.Sub(now); d > 0 {
		return d
	}
	return 0
}
