package plan

import (
	"slices"
	"time"
)

// Reading the trial record.
//
// Every trial is a point on two clocks: its idle age (since the last
// exchange) and its connection age (since the handshake). A limit on idle
// time (conntrack, NAT, nginx keepalive_timeout) separates survivals from
// failures on the idle clock; a limit on connection age (PostgreSQL's
// login timeout, nginx keepalive_time) on the other. Survivors are reused
// again, so the clocks differ on most trials and the record says which
// clock the path keeps.
//
// On one clock the limit a client can hit first is the youngest failure
// that the record supports: further failures within a window above it
// (re-tests, or closes seen while idle, which are exact), more than the
// survivals in that window. A lone failure that re-tests contradict (a pod
// restart, a flaky hop) is refuted and counts as a disagreement; survivals
// above a supported limit are the spread (jitter, several backends with
// different limits), not a contradiction.

// zeroAge is the idle age below which a reuse counts as "right after the
// connection opened": a failure there is not about idleness.
const zeroAge = 50 * time.Millisecond

// retiredMode is the Mode of a lifetime limit seen as retirements: the
// server answered, then closed (Connection: close, GOAWAY).
const retiredMode = "retired"

// point is one conclusive observation on one clock.
type point struct {
	age   time.Duration
	fail  bool
	close bool   // a close seen while idle: exact
	mode  string // the outcome, or retiredMode
	// confirm marks a designated re-test of an edge: only those (and exact
	// closes) support a failure above it.
	confirm bool
}

// fit is the reading of the record on one clock.
type fit struct {
	found     bool // a failure stands as the limit (supported or tentative)
	confirmed bool // ... and the record supports it
	lower     time.Duration
	upper     time.Duration
	mode      string
	implied   bool // lower comes from an exact close, not a survival
	// disagree counts failures below upper (refuted); sharpErr adds the
	// survivals at or above upper: how badly one sharp threshold on this
	// clock explains the record. The clock that explains it better wins.
	agree, disagree, sharpErr int
	spread                    Spread
	alive                     time.Duration // oldest age that survived
	closeAge                  time.Duration // exact close age at upper, for closed_idle
}

// window is how far above a candidate the record is read for support: a
// re-test lands a quarter width above the edge, jittery closes within a
// few percent.
func (c *core) window(age time.Duration) time.Duration { return 2 * c.s.Width(age) }

// readClock fits pts (any order) on one clock.
func (c *core) readClock(pts []point) fit {
	slices.SortStableFunc(pts, func(a, b point) int {
		switch {
		case a.age < b.age:
			return -1
		case a.age > b.age:
			return 1
		}
		return 0
	})
	var f fit
	okTotal, failTotal := 0, 0
	for _, p := range pts {
		if p.fail {
			failTotal++
		} else {
			okTotal++
			f.alive = max(f.alive, p.age)
		}
	}
	okBelow, failBelow := 0, 0
	chosen := -1
	for i := 0; i < len(pts); i++ {
		p := pts[i]
		if !p.fail {
			okBelow++
			continue
		}
		verdict := c.judge(pts, i)
		if verdict == refuted {
			failBelow++
			continue
		}
		chosen = i
		f.confirmed = verdict == supported
		break
	}
	if chosen < 0 {
		f.disagree = failTotal
		f.sharpErr = failTotal
		f.agree = okTotal
		f.lower = f.alive
		return f
	}
	theta := pts[chosen].age
	f.found, f.upper = true, theta
	f.mode = c.modeNear(pts, chosen)
	okAbove := okTotal - okBelow
	f.disagree = failBelow
	f.sharpErr = failBelow + okAbove
	f.agree = okTotal + failTotal - failBelow
	for _, p := range pts {
		if !p.fail && p.age < theta && p.age > f.lower {
			f.lower = p.age
		}
	}
	if f.mode == string(ClosedIdle) {
		f.closeAge = theta
		// A close seen while idle at age K proves the connection lived until
		// just before K: without a confirmation that is as good as a survival.
		if implied := theta - c.s.Width(theta)/2; implied > f.lower {
			f.lower, f.implied = implied, true
		}
	}
	f.spread = spreadAbove(pts, theta, f.mode)
	return f
}

// verdicts of judge.
const (
	tentative = iota
	supported
	refuted
)

// judge weighs the failure pts[i] as the limit: supported when the window
// above it holds Confirm more failures (re-tests of the edge: a failure
// that merely raced it proves nothing) than survivals, or (for a close)
// 1+Confirm closes within half its age above it
// seen while idle (exact, not a coincidence of the network); refuted when
// survivals there outnumber the other failures by Confirm+1, or by Confirm
// and make up more than two thirds of it; tentative otherwise (the planner
// re-tests it).
func (c *core) judge(pts []point, i int) int {
	if c.s.Confirm == 0 {
		return supported
	}
	theta := pts[i].age
	end := theta + c.window(theta)
	fails, oks, closes := 0, 0, 0
	for j, p := range pts[i:] {
		if p.age > end {
			break
		}
		switch {
		case p.fail && p.close:
			fails++
			closes++
		case p.fail && (j == 0 || p.confirm):
			fails++
		case !p.fail:
			oks++
		}
	}
	// Survivals at exactly theta (sorted before or after it) count too.
	for j := i - 1; j >= 0 && pts[j].age == theta; j-- {
		if !pts[j].fail {
			oks++
		}
	}
	if pts[i].close {
		// Closes are exact: a server's timer fired. One that checks its
		// clients on a coarse timer (Redis: whole seconds) spreads them
		// over a good part of the limit, with survivals in between; closes
		// anywhere within half the age above support the youngest.
		closes = 0
		for _, p := range pts[i:] {
			if p.age > theta+max(c.window(theta), theta/2) {
				break
			}
			if p.fail && p.close {
				closes++
			}
		}
	}
	net := fails - 1 - oks
	switch {
	case net >= c.s.Confirm || closes >= 1+c.s.Confirm:
		return supported
	case fails >= 2+c.s.Confirm && 3*fails >= fails+oks && survivedBelow(pts[:i]) >= 2+c.s.Confirm:
		// Re-tests keep failing, if not all of them, above an age that
		// connections did survive: several backends with different limits,
		// or jitter. A flaky hop fails too seldom; a path failing at random
		// shows no age below which everything survives.
		return supported
	case net <= -c.s.Confirm-1, net <= -c.s.Confirm && 3*fails < fails+oks:
		return refuted
	}
	return tentative
}

// survivedBelow counts the survivals among pts.
func survivedBelow(pts []point) int {
	n := 0
	for _, p := range pts {
		if !p.fail {
			n++
		}
	}
	return n
}

// modeNear names the failure mode at pts[idx]: its own, or a close seen
// while idle (exact) when the failures within a width above include one.
func (c *core) modeNear(pts []point, idx int) string {
	w := c.s.Width(pts[idx].age)
	for _, p := range pts[idx:] {
		if p.age > pts[idx].age+w {
			break
		}
		if p.fail && p.close {
			return string(ClosedIdle)
		}
	}
	return pts[idx].mode
}

// spreadAbove describes the record at and above a limit theta. A reuse
// within livedMargin of theta that worked raced the close, it did not
// outlive it.
func spreadAbove(pts []point, theta time.Duration, mode string) Spread {
	s := Spread{First: theta, Last: theta}
	for _, p := range pts {
		if p.age < theta {
			continue
		}
		if p.fail && p.close && mode == string(ClosedIdle) {
			s.First, s.Last = min(s.First, p.age), max(s.Last, p.age)
		}
		if p.age > theta+livedMargin {
			s.Beyond++
			if !p.fail {
				s.Survived++
				s.LongestSurvived = max(s.LongestSurvived, p.age)
			}
		}
	}
	return s
}

// reading is the whole reading of the record: the limit on the clock that
// explains it best, a lifetime beside it, and what the trials say about
// the target itself.
type reading struct {
	kind     Kind
	fit      fit
	lifetime LifetimeLimit
	// reuseCap is k when the k-th reuse of a connection fails whatever its
	// idle time (the server rejects our payload after k-1 reuses): trials
	// from the k-th reuse on are left out, and connections are not reused
	// that often. 0: no such pattern.
	reuseCap int
	// retiredAt is N when the server retires every connection on its N-th
	// reuse (a request limit), else 0.
	retiredAt int
	// unusable is set when every reuse fails, even right after the open.
	unusable string
}

// payloadsFault reports whether t failed because the target rejects our
// payload after the reuse cap (see reading.reuseCap), not because of the
// path: such trials are left out of every reading.
func (rd reading) payloadsFault(t Trial) bool {
	return rd.reuseCap > 0 && t.Reuse >= rd.reuseCap && t.Outcome != ClosedIdle
}

// payloadsFault is reading.payloadsFault on the current reading.
func (c *core) payloadsFault(t Trial) bool { return c.rd.payloadsFault(t) }

// read computes the reading of the trial record.
//
// A path can have an idle limit and a lifetime at once, and each pollutes
// the other clock's reading (a lifetime close looks like an early idle
// failure on a recycled connection). So the record is read as one model
// with two thresholds, fitted from either side: the idle limit first, then
// the lifetime among the trials it does not explain, then the idle limit
// again among those the lifetime does not explain; and the same starting
// from the lifetime. The model that leaves fewer trials unexplained wins
// (the idle side on a tie: fresh connections alone cannot tell the clocks
// apart, and the idle advice is the safer one).
func (c *core) read() reading {
	var rd reading
	rd.reuseCap = c.reuseCap()
	rd.retiredAt = retiredAt(c.trials)
	if why := c.unusableWhy(); why != "" {
		rd.unusable = why
	}
	var ts []Trial
	for _, t := range c.trials {
		if rd.payloadsFault(t) {
			continue
		}
		if t.Outcome.Survived() || t.Outcome.Failed() {
			ts = append(ts, t)
		}
	}
	// Which clocks does the path keep? The pair of thresholds that explains
	// the record best says; each limit is then read on its own clock among
	// the trials the other one does not explain.
	thetaI, thetaL := c.clocks(oneClosePerInstant(ts))
	idle := c.readClock(points(ts, Idle, never, thetaL))
	life := c.readClock(points(ts, Lifetime, thetaI, never))
	switch {
	case thetaL == never || (idle.found && thetaI != never):
		rd.kind, rd.fit = Idle, idle
		if thetaL != never && life.found && life.confirmed {
			rd.lifetime = LifetimeLimit{Found: true, Lower: life.lower, Upper: life.upper, Mode: life.mode}
		}
	case life.found:
		rd.kind, rd.fit = Lifetime, life
		rd.lifetime = LifetimeLimit{Found: true, Lower: life.lower, Upper: life.upper, Mode: life.mode}
		return rd
	default:
		rd.kind, rd.fit = Idle, idle
	}
	if !rd.lifetime.Found {
		rd.lifetime = LifetimeLimit{Lower: life.alive}
	}
	// Retirements: the server answered, then closed. Read on the
	// connection-age clock unless they follow a request count: the
	// youngest retirement, with every younger answered reuse below it.
	if rd.retiredAt == 0 {
		if l, ok := c.retirement(); ok && (!rd.lifetime.Found || l.Upper < rd.lifetime.Upper) {
			rd.lifetime = l
		}
	}
	return rd
}

// points turns trials into points on one clock, keeping only those younger
// than maxIdle and maxConn (the trials another threshold does not explain).
// A retired reuse carried its request: on either clock it is a survival here.
func points(ts []Trial, clock Kind, maxIdle, maxConn time.Duration) []point {
	pts := make([]point, 0, len(ts))
	for _, t := range ts {
		if t.Age >= maxIdle || t.ConnAge >= maxConn {
			continue
		}
		age := t.Age
		if clock == Lifetime {
			age = t.ConnAge
		}
		p := point{age: age, fail: t.Outcome.Failed()}
		if p.fail {
			p.close, p.mode, p.confirm = t.Outcome == ClosedIdle, string(t.Outcome), t.Confirm
		}
		pts = append(pts, p)
	}
	return pts
}
