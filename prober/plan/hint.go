package plan

import (
	"fmt"
	"time"
)

// Re-measurement from a known limit.
//
// A path measured an hour ago most likely has the same limit now. A hinted
// search (Settings.Hint, the previous upper edge H) starts from it with a
// handful of connections instead of the whole ladder:
//
//   - the window: hintWindow connections opened together at the start and
//     reused, one after the other, at idle ages H-2s, H-s, H, H+s, H+2s,
//     where the step s is the wanted bracket width below the window. When
//     the limit has not moved, the first of them that fails is the upper
//     edge, the one before it the lower edge and the one before that its
//     support, an older one not yet reused re-tests the upper edge at once:
//     a complete, confirmed bracket at about the limit, with no waiting;
//   - the hedges: hintHedges connections reused at 0.75 H and 0.55 H, and
//     one at 0.1 H and then, recycled, at 0.4 H (see hintChain), so that a
//     limit that moved down is seen early and brackets within a quarter to
//     a third of itself;
//   - the kind check: once the bracket settles, up to two survivors older
//     than the upper edge (on the connection clock) but idle for much less
//     than the lower edge are reused: a lifetime fails them, an idle limit
//     does not, so the limit's kind is read from this run too.
//
// Every verdict comes from this run's trials, read and confirmed exactly as
// in a full search (the same core): a wrong hint costs time, never the
// answer. When the trials contradict the hint, the search goes on from what
// they showed: a limit below the window is narrowed by a second window laid
// over the bracket the hedges left (see narrow); a limit above the window
// gets the parallel strategy's ladder from the window's top, started at
// once (survivors of the window serve its rungs).

// Number of connections of a hinted search before any fallback.
const (
	hintWindow = 5
	hintHedges = 3
	// HintConnections is the most connections a hinted search opens when
	// the limit has not moved.
	HintConnections = hintWindow + hintHedges
)

// hintHedgeFactors are the hedges' idle ages as fractions of the hint.
var hintHedgeFactors = [hintHedges]float64{0.4, 0.55, 0.75}

// hintChain replaces the lowest hedge when 0.1 x the hint is at least
// Min: one connection answers 0.1 x the hint first, then, recycled, 0.4 x
// (at 0.5 x the hint, a tenth later than the plain hedge would). A hint
// far above the limit then costs two to four times the limit, not ten.
var hintChain = [2]float64{0.1, 0.4}

// hintStagger separates the hedges' opening times, so that closes seen
// while idle on different connections (a lifetime) come at distinct
// instants.
const hintStagger = 5 * time.Millisecond

// hintNarrowings is how many narrowing windows a hinted search lays over
// a bracket wider than wanted before it leaves it to the fine step.
const hintNarrowings = 2

// hintKindChecks is how many survivors re-test the limit's kind.
const hintKindChecks = 2

// hintState is what a hinted parallel search remembers about its hint.
type hintState struct {
	from time.Duration
	// low and high are the window's youngest and oldest idle ages.
	low, high time.Duration
	// fellBack is set once the trials contradicted the hint.
	fellBack bool
	// checked lists the connections a kind check has reused; due those
	// waiting to be old enough for one, with the time.
	checked map[ConnID]bool
	due     map[ConnID]time.Time
	// hedges lists the connections opened for the hedges.
	hedges map[ConnID]bool
	// supported is set once supportLower re-tested the lower edge.
	supported bool
	// reseeded is set once a parallel ladder replaced the hint's rungs.
	reseeded bool
	// narrowed counts the narrowing windows laid over a wide bracket.
	narrowed int
	// chainRung is the rung of the chained hedge (-1: none), chainAge the
	// idle age its connection answers next, chainConn that connection, and
	// chained is set once it is scheduled.
	chainRung int
	chainAge  time.Duration
	chainConn ConnID
	chained   bool
}

// HintInfo is the provenance of a hinted search in its Result.
type HintInfo struct {
	// From is the hint (Settings.Hint): the previous answer's upper edge.
	// 0 when the search was not hinted.
	From time.Duration
	// Held is true when this run bracketed the limit inside the hint's
	// window without falling back: the limit has not moved. False when the
	// trials contradicted the hint (the limit moved, or there is none up to
	// Max) and the search went on from what they showed.
	Held bool
}

// ValidateHint reports, in one line starting "hint: ", why s.Hint cannot
// be used with the other settings, or nil. Validate includes it.
func (s Settings) ValidateHint() error {
	switch {
	case s.Hint == 0:
		return nil
	case s.Hint < 0:
		return fmt.Errorf("hint: %s must be positive (a previous limit, e.g. 15m), or 0 for none", s.Hint)
	case s.Strategy == Sequential:
		return fmt.Errorf("hint: %s cannot be used with the sequential strategy (it is the unhinted baseline); use parallel", s.Hint)
	case s.Max > s.Min && (s.Hint < s.Min || s.Hint > s.Max):
		return fmt.Errorf("hint: %s must be within min (%s) and max (%s)", s.Hint, s.Min, s.Max)
	}
	return nil
}

// hintStep returns the window's and hedges' step s for a hint h: the wanted
// width at the window's bottom, so that two neighbouring ages of the
// window always make a bracket of the wanted precision.
func hintStep(s Settings, h time.Duration) time.Duration {
	step := s.Width(h)
	for range 3 {
		step = s.Width(max(h-2*step, 0))
	}
	return step * 97 / 100
}

// newHinted returns the parallel strategy started from s.Hint.
func newHinted(s Settings, start time.Time) *parallel {
	p := newParallel(s, start)
	h := s.Hint
	step := hintStep(s, h)
	st := &hintState{from: h, checked: map[ConnID]bool{}, due: map[ConnID]time.Time{}, hedges: map[ConnID]bool{}}
	// The window first, its oldest age first, then the hedges, each a
	// little later than the one before: the window's connections not yet
	// reused are then older than the one being reused (one of them can
	// re-test a failure at once), a close seen while idle comes at a
	// distinct instant on each connection, and a lifetime closes the
	// window's connections (at the same age on both clocks) before the
	// hedges' survivors.
	var rungs []rung
	at := start
	for k := 2; k >= -2; k-- {
		age := min(max(h+time.Duration(k)*step, s.Min), s.Max)
		if n := len(rungs); n > 0 && rungs[n-1].age <= age {
			continue // clamped onto Min or Max
		}
		if st.high == 0 {
			st.high = age
		}
		st.low = age
		rungs = append(rungs, rung{age: age, openAt: at})
		at = at.Add(hintStagger)
	}
	st.chainRung = -1
	for i, f := range hintHedgeFactors {
		age := time.Duration(f * float64(h))
		if first := time.Duration(hintChain[0] * float64(h)); i == 0 && first >= s.Min {
			// The lowest hedge is a chain: its connection answers a much
			// lower age first, then, recycled, the next one.
			st.chainRung, st.chainAge = len(rungs), time.Duration(hintChain[1]*float64(h))
			age = first
		}
		if age >= s.Min && age < st.low-step {
			rungs = append(rungs, rung{age: age, openAt: at})
			at = at.Add(hintStagger)
		} else if st.chainRung == len(rungs) {
			st.chainRung = -1
		}
	}
	p.rungs, p.hint = rungs, st
	return p
}

// retestHang lets the next scheduled reuse of the hint's rungs go ahead as
// a re-test while a reuse hangs (a black hole?), rather than be held until
// the hanging one times out: by then every connection of the window would
// be too old to re-test the edge, and a re-test would cost another wait of
// the limit. One at a time: the others stay held.
func (p *parallel) retestHang() {
	var next *pconn
	for _, pc := range p.conns {
		if pc.state != idle || pc.testAt.IsZero() || pc.rung < 0 || p.rungs[pc.rung].filler {
			continue
		}
		if pc.confirm {
			return
		}
		if next == nil || pc.testAt.Before(next.testAt) || (pc.testAt.Equal(next.testAt) && pc.id < next.id) {
			next = pc
		}
	}
	if next != nil {
		next.confirm = true
	}
}

// hintNext is the hinted search's part of Next, before the strategy's own:
// it falls back when the trials contradict the hint, lets the window's
// re-tests go ahead while a reuse hangs, and starts the kind checks. It
// returns when it wants to be called again (or the zero time).
func (p *parallel) hintNext(now time.Time, acts []Action) ([]Action, time.Time) {
	h := p.hint
	if h == nil {
		return acts, time.Time{}
	}
	if p.b.found && !p.settled() && !p.hintNarrowing() && h.narrowed < hintNarrowings && !h.reseeded {
		acts = p.narrow(now, acts)
	}
	if !p.b.found && !p.pendingRung() && p.b.lower < p.s.Max {
		p.reseed(now)
	}
	for id, pc := range p.conns {
		if pc.rung >= 0 && !h.reseeded && h.narrowed == 0 && !p.rungs[pc.rung].filler && p.rungs[pc.rung].age < h.low {
			h.hedges[id] = true
			if pc.rung == h.chainRung {
				h.chainConn = id
			}
		}
	}
	p.chain()
	acts = p.park(now, acts)
	if _, hanging, _ := p.hanging(now); hanging && !h.reseeded {
		p.retestHang()
	}
	acts = p.supportLower(now, acts)
	return p.kindCheck(now, acts)
}

// chain schedules the chained hedge's second trial once its connection
// has survived the first, while nothing has failed yet.
func (p *parallel) chain() {
	h := p.hint
	pc := p.conns[h.chainConn]
	if h.chained || pc == nil || pc.state != idle || !pc.testAt.IsZero() || pc.reuses != 1 || p.b.found || h.reseeded {
		return
	}
	h.chained = true
	pc.testAt = pc.idleSince.Add(h.chainAge)
}

// hintWaits reports whether a kind check is waiting for its connection to
// be old enough: the search is not settled before it has answered.
func (p *parallel) hintWaits() bool { return p.hint != nil && len(p.hint.due) > 0 }

// supportLower re-tests, once, a settled lower edge that wants support
// when no connection will be of the right age (the hedges' survivors do
// not count: a lifetime closes them). Two new connections, reused a quarter
// and a half width below the edge, so that one round of waiting is enough
// whichever of them sets it. (The strategy's own confirmation asks for one
// at a time: its ladder usually has the right ages at hand, a hinted
// search has not.)
func (p *parallel) supportLower(now time.Time, acts []Action) []Action {
	h := p.hint
	if h.supported || !p.b.found || !p.settled() {
		return acts
	}
	if _, low := p.needConfirm(); !low {
		return acts
	}
	lo, w := p.b.lower, p.width()
	for id, pc := range p.conns {
		if pc.confirm && (pc.state == reusing || !pc.testAt.IsZero() || pc.state == opening) {
			return acts // a re-test is on its way
		}
		if pc.state == idle && p.ageOf(pc, now) <= lo && !h.hedges[id] {
			return acts // the strategy's confirmation has one at hand, or soon
		}
	}
	h.supported = true
	for _, target := range []time.Duration{lo - w/4, lo - w/2} {
		if p.full() && !p.makeRoom(&acts) {
			break
		}
		pc := p.newConn(-1, target)
		pc.confirm = true
		acts = append(acts, Action{Kind: Open, Conn: pc.id})
	}
	return acts
}

// pendingRung reports whether a rung above the lower edge is still to be
// answered.
func (p *parallel) pendingRung() bool {
	for _, r := range p.rungs {
		if !r.done && !r.filler && r.age > p.b.lower {
			return true
		}
	}
	return false
}

// reseed replaces an exhausted hinted ladder with the parallel strategy's
// ladder from the lower edge to Max, started now: the limit moved up (or
// there is none up to Max).
func (p *parallel) reseed(now time.Time) {
	p.hint.fellBack = true
	s := p.s
	s.Hint = 0
	s.Min = max(p.b.lower, s.Min)
	if s.Min >= s.Max {
		return
	}
	p.rungs = newParallel(s, now).rungs
	p.hint.reseeded = true
	for _, pc := range p.conns {
		pc.rung = -1
		if pc.state == opening {
			pc.target = 0
		}
	}
}

// narrow lays a window over a bracket that is wider than wanted (the limit
// moved down, below the window or between the hedges): connections opened
// now and reused, one after the other, at ages spread across the bracket
// no further apart than the wanted width, one half a width below it and
// one at its upper edge. As in
// the hint's window, the first of them that fails closes the bracket, and
// those not yet reused are just as old: one re-tests the upper edge at
// once. (The fine step would reuse connections opened together all at
// once, at the age of the first that survived.) A bracket too wide for that
// within the budget gets the parallel strategy's ladder instead.
func (p *parallel) narrow(now time.Time, acts []Action) []Action {
	h := p.hint
	h.fellBack = true
	h.narrowed++
	lo, up := p.b.lower, p.b.upper
	step := p.s.Width(lo) * 97 / 100
	n := int((up-lo)/max(step, 1)) + 1
	ls := p.s
	ls.Hint, ls.Min, ls.Max = 0, max(lo, p.s.Min), up
	switch {
	case n > p.s.Budget/2 && ls.Min < ls.Max:
		// Too wide for one round of evenly spaced ages within the budget
		// (a hint far above the limit): the parallel strategy's ladder over
		// the bracket, started now, whose staggered connections the fine
		// step then uses, as in a full search.
		p.rungs = newParallel(ls, now).rungs
		h.narrowed = hintNarrowings
	default:
		n = max(min(n, p.s.Budget/2), 2)
		step = (up - lo) / time.Duration(n)
		p.rungs = p.rungs[:0:0]
		// Ages inside the bracket, and one at its upper edge: a spare that
		// re-tests the edge when the last of the others fails.
		for i := 1; i <= n; i++ {
			p.rungs = append(p.rungs, rung{age: lo + time.Duration(i)*step, openAt: now})
		}
	}
	for _, id := range p.sortedIDs() {
		pc := p.conns[id]
		pc.rung = -1
		switch {
		case pc.state == opening:
			pc.target = 0
		case pc.state == idle && p.ageOf(pc, now) > lo+step:
			// Too old for any of the new rungs: it would only fail again
			// above the bracket.
			delete(p.conns, id)
			acts = append(acts, Action{Kind: Close, Conn: id})
		}
	}
	if _, low := p.needConfirm(); low && lo > zeroAge && (!p.full() || p.makeRoom(&acts)) {
		// Half a width below the lower edge, a re-test: its support, should
		// the edge stay where it is (the first of the others fails). The
		// ladder opens no rung at or below the lower edge.
		pc := p.newConn(-1, lo-p.s.Width(lo)/2)
		pc.confirm = true
		acts = append(acts, Action{Kind: Open, Conn: pc.id})
	}
	return acts
}

// hintNarrowing reports whether a narrowing window still has rungs to
// answer inside the bracket: the hinted search, not the fine step, drives.
func (p *parallel) hintNarrowing() bool {
	if p.hint == nil || p.hint.narrowed == 0 || !p.b.found {
		return false
	}
	for _, r := range p.rungs {
		if !r.done && r.age > p.b.lower && r.age < p.b.upper {
			return true
		}
	}
	return false
}

// park keeps the survivors of the hedges open, idle and unscheduled
// (on a filler rung, which the ladder leaves alone), instead of closing
// them as the ladder does with survivors it has no rung for: a lifetime
// closes them while idle, and the kind check reuses them. When the budget
// is full and a rung is due, one parked connection is closed instead.
func (p *parallel) park(now time.Time, acts []Action) []Action {
	for _, id := range p.sortedIDs() {
		pc := p.conns[id]
		if pc.state != idle || !pc.testAt.IsZero() || pc.rung >= 0 || pc.retire || !p.hint.hedges[id] {
			continue
		}
		p.rungs = append(p.rungs, rung{age: p.s.Max, openAt: now, filler: true, done: true, conn: id})
		pc.rung = len(p.rungs) - 1
	}
	if !p.full() || p.b.found || p.nextOpen(now, false) < 0 {
		return acts
	}
	for _, id := range p.sortedIDs() {
		pc := p.conns[id]
		if pc.state == idle && pc.testAt.IsZero() && pc.rung >= 0 && p.rungs[pc.rung].filler {
			p.release(id)
			delete(p.conns, id)
			return append(acts, Action{Kind: Close, Conn: id})
		}
	}
	return acts
}

// kindCheck reuses, once the bracket is settled, up to hintKindChecks idle
// survivors whose connection age is past the upper edge while their idle
// age is well below the lower edge: on an idle limit they survive, on a
// lifetime they fail. A full search learns the kind from its recycled
// connections; a hinted one has few, so it asks. A survivor that is not
// old enough yet waits for it, at most one width. It returns when it
// wants to be called again.
func (p *parallel) kindCheck(now time.Time, acts []Action) ([]Action, time.Time) {
	h := p.hint
	if len(h.checked) >= hintKindChecks || !p.b.found || !p.settled() {
		clear(h.due)
		return acts, time.Time{}
	}
	for id := range h.due {
		if p.conns[id] == nil {
			delete(h.due, id)
		}
	}
	lo, up, w := p.b.lower, p.b.upper, p.width()
	for _, id := range p.sortedIDs() {
		pc := p.conns[id]
		if pc.state != idle || !pc.testAt.IsZero() || pc.retire || h.checked[id] {
			delete(h.due, id)
			continue
		}
		if _, ok := h.due[id]; !ok && len(h.checked)+len(h.due) >= hintKindChecks {
			continue
		}
		at := maxTime(now, pc.opened.Add(up+time.Millisecond))
		if at.Sub(pc.idleSince) >= lo-w || at.Sub(now) > w {
			delete(h.due, id)
			continue
		}
		if at.After(now) {
			h.due[id] = at
			continue
		}
		delete(h.due, id)
		h.checked[id] = true
		pc.state = reusing
		pc.reuses++
		pc.reuseStart, pc.reuseAge = now, p.ageOf(pc, now)
		acts = append(acts, Action{Kind: Reuse, Conn: id})
	}
	var wake time.Time
	for _, at := range h.due {
		wake = minTime(wake, at)
	}
	return acts, wake
}

// hintInfo is the provenance for Result.
func (p *parallel) hintInfo() HintInfo {
	if p.hint == nil {
		return HintInfo{}
	}
	h := p.hint
	held := !h.fellBack && p.b.found && p.b.upper >= h.low && p.b.upper <= h.high
	return HintInfo{From: h.from, Held: held}
}

// Result implements Planner: the core's result and the hint's provenance.
func (p *parallel) Result() Result {
	r := p.core.Result()
	r.Hint = p.hintInfo()
	return r
}
