package plan

import (
	"slices"
	"time"
)

// Which clock a path keeps: an idle limit, a lifetime, or both.

// oneClosePerInstant drops the closes seen while idle that came at the
// instant of an earlier one (see instants): closes that come at one
// instant are one event (a server's timer tick that sweeps its clients, as
// Redis and Squid do; a restart), not one timer per connection, and read
// on either clock they would fake an agreement.
func oneClosePerInstant(ts []Trial) []Trial {
	// The instant of each close, by its index in ts.
	instant := make(map[int]int)
	for n, in := range instants(ts) {
		for _, i := range in {
			instant[i] = n
		}
	}
	out := make([]Trial, 0, len(ts))
	kept := map[int]bool{}
	for i, t := range ts {
		if t.Outcome == ClosedIdle {
			if kept[instant[i]] {
				continue // the first one in the record stands for its instant
			}
			kept[instant[i]] = true
		}
		out = append(out, t)
	}
	return out
}

// instants groups the closes seen while idle of ts by the instant they
// came at, in time order, as indexes into ts: a close within sameInstant
// of the one before it belongs to its instant (a sweep of many
// connections takes a few milliseconds to be seen).
func instants(ts []Trial) [][]int {
	var closes []int
	for i, t := range ts {
		if t.Outcome == ClosedIdle {
			closes = append(closes, i)
		}
	}
	slices.SortStableFunc(closes, func(a, b int) int { return ts[a].End.Compare(ts[b].End) })
	var out [][]int
	for k, i := range closes {
		if k > 0 && ts[i].End.Sub(ts[closes[k-1]].End) < sameInstant {
			out[len(out)-1] = append(out[len(out)-1], i)
			continue
		}
		out = append(out, []int{i})
	}
	return out
}

// sameInstant is how close two closes must come to be one event (in a
// chain): a sweep of a few dozen connections by a server or proxy that
// checks its timers once a second (Squid, Dante, Redis) is seen over a few
// milliseconds.
const sameInstant = 5 * time.Millisecond

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
	if namedLifetime(ts) {
		// The server named the clock of its closes (a gRPC GOAWAY
		// "max_age"): they run on connection age, however the closes
		// spread (grpc-go jitters MaxConnectionAge by 10 % either way).
		if l := youngest(ts, func(t Trial) time.Duration { return t.ConnAge }); l != never {
			return never, l
		}
	}
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
	switch closeClock(ts, c.s.Width) {
	case Lifetime:
		if ll != never {
			return never, ll
		}
	case Idle:
		return bestIdle, never
	}
	if closesAt(ts) > 0 {
		// Closes are exact: when there are any, only they can tell a
		// lifetime. A server sweeping its clients on a timer closes
		// connections opened together at one instant, which any other
		// reading would take for a lifetime.
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

// namedLifetime reports whether a server named connection age as the clock
// of a close seen while idle, and none named the idle clock.
func namedLifetime(ts []Trial) bool {
	life := false
	for _, t := range ts {
		switch {
		case t.Outcome != ClosedIdle:
		case t.Clock == Idle:
			return false
		case t.Clock == Lifetime:
			life = true
		}
	}
	return life
}

// youngest is the youngest failure of ts on one clock, or never.
func youngest(ts []Trial, age func(Trial) time.Duration) time.Duration {
	y := never
	for _, t := range ts {
		if t.Outcome.Failed() {
			y = min(y, age(t))
		}
	}
	return y
}

// closeClock says which clock the closes seen while idle keep, when they
// say it clearly: at least two closes, one of them on a connection reused
// long enough ago that its idle and connection ages differ by more than
// the closes' spread on either clock (and by closeGap at least), and the
// ages on one clock at least three times tighter than on the other, which
// spread by closeGap or more. A lifetime must also be tight in itself,
// within width (the wanted precision) at its age and within two closeGaps:
// a timer per connection fires at one age, while a server that sweeps its idle clients on a
// coarse clock (Redis, whole seconds) closes connections opened together
// over a good part of a second, on either clock. "" otherwise.
func closeClock(ts []Trial, width func(time.Duration) time.Duration) Kind {
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
	case 3*sc < si && sc <= min(width(cLo), 2*closeGap):
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

// closesAt counts the closes seen while idle in ts.
func closesAt(ts []Trial) int {
	n := 0
	for _, t := range ts {
		if t.Outcome == ClosedIdle {
			n++
		}
	}
	return n
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
