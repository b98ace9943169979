package plan

import (
	"fmt"
	"time"
)

// What the trials say about the target itself rather than the path: a
// request limit, a payload it rejects, or no reuse working at all.

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
// the reuse itself, while some connection reused fewer times lived through
// a longer idle time at a greater connection age: the server rejects what
// we send once it has seen it k-1 times (a protocol mismatch such as
// PostgreSQL's startup packet growing with every "\r\n"), whatever the
// idle time. 0 when there is no such k.
//
// A connection lived through an age when a reuse at that age survived, or
// when the close seen while it was idle came later (by closeGap at least,
// past the jitter of a timer racing the reuse): the server still held it
// then. Without the second kind of evidence a server that also has a
// lifetime (PostgreSQL's authentication_timeout) hides the cap: every
// fresh connection closes at the lifetime before a survival old enough is
// seen, and a rejected reuse just below it passes for the lifetime.
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
			if t.Reuse >= k {
				continue
			}
			lived := t.Outcome.Survived() && t.Age >= youngest && t.ConnAge >= youngestConn
			heldLonger := t.Outcome == ClosedIdle && t.Age >= youngest+closeGap && t.ConnAge >= youngestConn+closeGap
			if lived || heldLonger {
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
