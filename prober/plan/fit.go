package plan

import (
	"fmt"
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
// that merely raced it proves nothing) than survivals, or 1+Confirm closes
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
		if rd.reuseCap > 0 && t.Reuse >= rd.reuseCap && t.Outcome != ClosedIdle {
			continue // the payload's fault, not the path's
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

// oneClosePerInstant drops the closes seen while idle within a couple of
// milliseconds of an earlier one: closes that come at one instant are one
// event (a server's timer tick that sweeps its clients, as Redis does every
// second; a restart), not one timer per connection, and read on either
// clock they would fake an agreement.
func oneClosePerInstant(ts []Trial) []Trial {
	out := make([]Trial, 0, len(ts))
	var seen []time.Time
	for _, t := range ts {
		if t.Outcome == ClosedIdle {
			dup := false
			for _, at := range seen {
				if d := t.End.Sub(at); d < sameInstant && d > -sameInstant {
					dup = true
					break
				}
			}
			if dup {
				continue
			}
			seen = append(seen, t.End)
		}
		out = append(out, t)
	}
	return out
}

// sameInstant is how close two closes must come to be one event.
const sameInstant = 2 * time.Millisecond

// never is a threshold that is never reached.
const never = time.Duration(1<<63 - 1)

// closeGap is the least difference between clocks that closeClock reads:
// below it, first-exchange times and scheduling noise decide.
const closeGap = 20 * time.Millisecond

// maxCandidates bounds the thresholds tried per clock in clocks.
const maxCandidates = 24

// clocks finds the pair of thresholds, an idle limit and a lifetime (never
// for none), that leaves the fewest trials unexplained: failures younger
// than both (closes seen while idle count twice: they are exact), survivals
// at or past either. A lifetime must explain at least
// two trials more than the best idle limit alone (or one, when its
// failures are much tighter on their clock), so that jitter, spread and a
// flaky hop do not pass for one; on a tie the idle limit alone wins
// (fresh connections cannot tell the clocks apart, and its advice is the
// safer one). The search tries the youngest failure ages on each clock.
func (c *core) clocks(ts []Trial) (idle, life time.Duration) {
	idleCands := candidates(ts, func(t Trial) time.Duration { return t.Age })
	byConn := slices.Clone(ts)
	slices.SortFunc(byConn, func(a, b Trial) int { return cmpDur(a.ConnAge, b.ConnAge) })
	bestIdleOnly, bestIdle := -1, never
	best, bi, bl := -1, never, never
	bestLife, ll := -1, never // the best lifetime
	for _, ti := range idleCands {
		base, oks := 0, 0
		var rest []Trial
		for _, t := range byConn {
			switch {
			case t.Age >= ti:
				if t.Outcome.Survived() {
					base++
				}
			default:
				rest = append(rest, t)
				if t.Outcome.Survived() {
					oks++
				}
			}
		}
		// Sweep the lifetime over rest (sorted by connection age): cost is
		// the failures below it plus the survivals at or past it.
		failsBelow, oksBelow := 0, 0
		costNone := base + countFailed(rest)
		if bestIdleOnly < 0 || costNone < bestIdleOnly {
			bestIdleOnly, bestIdle = costNone, ti
		}
		if best < 0 || costNone < best {
			best, bi, bl = costNone, ti, never
		}
		for i := 0; i < len(rest); {
			j := i
			fHere, oHere := 0, 0
			for j < len(rest) && rest[j].ConnAge == rest[i].ConnAge {
				if rest[j].Outcome.Failed() {
					fHere += weight(rest[j])
				} else {
					oHere++
				}
				j++
			}
			if fHere > 0 {
				cost := base + failsBelow + (oks - oksBelow)
				if cost < best {
					best, bi, bl = cost, ti, rest[i].ConnAge
				}
				if bestLife < 0 || cost < bestLife {
					bestLife, ll = cost, rest[i].ConnAge
				}
			}
			failsBelow += fHere
			oksBelow += oHere
			i = j
		}
	}
	// Closes seen while idle are a timer firing: on the clock it runs on,
	// they agree; on the other, recycled connections scatter them.
	switch closeClock(ts) {
	case Lifetime:
		if ll != never {
			return never, ll
		}
	case Idle:
		return bestIdle, never
	}
	switch gain := bestIdleOnly - best; {
	case bl == never:
		return bestIdle, never
	case gain >= 2:
		return bi, bl
	case gain >= 1:
		// A small gain: take the lifetime only when its failures are far
		// tighter on their clock than on the idle one (a server's timer
		// fires at one connection age, while the idle ages vary).
		tl := c.tightness(ts, bi, bl, func(t Trial) time.Duration { return t.ConnAge })
		ti := c.tightness(ts, never, bestIdle, func(t Trial) time.Duration { return t.Age })
		if tl >= 0.8 && tl >= ti+0.3 {
			return bi, bl
		}
	}
	return bestIdle, never
}

// closeClock says which clock the closes seen while idle keep, when they
// say it clearly: at least two closes, one of them on a connection reused
// long enough ago that its idle and connection ages differ by more than
// the closes' spread on either clock (and by closeGap at least), and the
// ages on one clock at least three times tighter than on the other, which
// spread by closeGap or more. "" otherwise.
func closeClock(ts []Trial) Kind {
	var n int
	var iLo, iHi, cLo, cHi, gap time.Duration = never, 0, never, 0, 0
	for _, t := range ts {
		if t.Outcome != ClosedIdle {
			continue
		}
		n++
		iLo, iHi = min(iLo, t.Age), max(iHi, t.Age)
		cLo, cHi = min(cLo, t.ConnAge), max(cHi, t.ConnAge)
		gap = max(gap, t.ConnAge-t.Age)
	}
	if n < 2 {
		return ""
	}
	si, sc := iHi-iLo, cHi-cLo
	switch {
	case gap < closeGap || gap <= min(si, sc) || max(si, sc) < closeGap:
		return "" // the closes cannot tell the clocks apart
	case 3*sc < si:
		return Lifetime
	case 3*si < sc:
		return Idle
	}
	return ""
}

// tightness is the share of the failures younger than maxIdle (idle
// clock) that lie within two widths above theta on the clock age reads.
func (c *core) tightness(ts []Trial, maxIdle, theta time.Duration, age func(Trial) time.Duration) float64 {
	if theta == never {
		return 0
	}
	end := theta + 2*c.s.Width(theta)
	n, in := 0, 0
	for _, t := range ts {
		if !t.Outcome.Failed() || t.Age >= maxIdle {
			continue
		}
		n++
		if a := age(t); a >= theta && a <= end {
			in++
		}
	}
	if n == 0 {
		return 0
	}
	return float64(in) / float64(n)
}

// candidates returns never and the youngest distinct failure ages of ts on
// one clock, at most maxCandidates of them.
func candidates(ts []Trial, age func(Trial) time.Duration) []time.Duration {
	var ages []time.Duration
	for _, t := range ts {
		if t.Outcome.Failed() {
			ages = append(ages, age(t))
		}
	}
	slices.Sort(ages)
	ages = slices.Compact(ages)
	if len(ages) > maxCandidates {
		ages = ages[:maxCandidates]
	}
	return append(ages, never)
}

// countFailed weighs the failures among ts (see weight).
func countFailed(ts []Trial) int {
	n := 0
	for _, t := range ts {
		if t.Outcome.Failed() {
			n += weight(t)
		}
	}
	return n
}

// weight is what an unexplained failure costs a model: a close seen while
// idle is a server's or a hop's timer firing, exact and no coincidence of
// the network, so it counts twice.
func weight(t Trial) int {
	if t.Outcome == ClosedIdle {
		return 2
	}
	return 1
}

func cmpDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// retirement reads the retirements on the connection-age clock: the
// youngest retirement is the limit when 1+Confirm retirements are seen and
// no reuse of a connection at least as old was answered without one.
func (c *core) retirement() (LifetimeLimit, bool) {
	up, n := never, 0
	for _, t := range c.trials {
		if t.Retired {
			up = min(up, t.ConnAge)
			n++
		}
	}
	if n < 1+c.s.Confirm {
		return LifetimeLimit{}, false
	}
	var lo time.Duration
	for _, t := range c.trials {
		if t.Outcome.Survived() && !t.Retired {
			if t.ConnAge >= up {
				return LifetimeLimit{}, false
			}
			lo = max(lo, t.ConnAge)
		}
	}
	return LifetimeLimit{Found: true, Lower: lo, Upper: up, Mode: retiredMode}, true
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

// retiredAt returns N when every retirement came on the N-th reuse and no
// connection was reused N times or more without being retired: a request
// limit (nginx keepalive_requests), not a lifetime.
func retiredAt(trials []Trial) int {
	n := 0
	for _, t := range trials {
		if !t.Retired {
			continue
		}
		if n != 0 && t.Reuse != n {
			return 0
		}
		n = t.Reuse
	}
	if n == 0 {
		return 0
	}
	for _, t := range trials {
		if !t.Retired && t.Outcome.Survived() && t.Reuse >= n {
			return 0
		}
	}
	return n
}

// reuseCap finds k >= 2 such that every reuse numbered k or more failed on
// the reuse itself, while an earlier reuse of some
// connection survived a longer idle time at a greater connection age: the
// server rejects what we send once it has seen it k-1 times (a protocol
// mismatch such as PostgreSQL's startup packet growing with every "\r\n"),
// whatever the idle time. 0 when there is no such k.
func (c *core) reuseCap() int {
	for k := 2; k <= 4; k++ {
		fails := 0
		var youngest, youngestConn time.Duration = -1, -1
		ok := true
		for _, t := range c.trials {
			if t.Reuse < k {
				continue
			}
			switch t.Outcome {
			case Reset, ClosedOnReuse:
				fails++
				if youngest < 0 || t.Age < youngest {
					youngest = t.Age
				}
				if youngestConn < 0 || t.ConnAge < youngestConn {
					youngestConn = t.ConnAge
				}
			case OK:
				ok = false
			}
		}
		if !ok || fails == 0 {
			continue
		}
		for _, t := range c.trials {
			if t.Reuse < k && t.Outcome.Survived() && t.Age >= youngest && t.ConnAge >= youngestConn {
				return k
			}
		}
	}
	return 0
}

// unusableWhy says why the target cannot be measured when every
// conclusive trial failed, at least 2+Confirm of them, one of them right
// after the connection opened; else "".
func (c *core) unusableWhy() string {
	fails, early := 0, 0
	var youngest, oldest time.Duration = -1, 0
	for _, t := range c.trials {
		switch {
		case t.Outcome.Survived():
			return ""
		case t.Outcome.Failed():
			fails++
			if t.Age <= zeroAge {
				early++
			}
			if youngest < 0 || t.Age < youngest {
				youngest = t.Age
			}
			oldest = max(oldest, t.Age)
		}
	}
	if early == 0 || fails < 2+c.s.Confirm {
		return ""
	}
	return fmt.Sprintf("the connection is closed on every reuse whatever its idle time: "+
		"all %d reuses failed, at idle times from %s to %s, even right after the connection opened",
		fails, youngest.Round(time.Millisecond), oldest.Round(time.Millisecond))
}
