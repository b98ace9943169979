// Package compare tells which hop owns the shortest idle limit, from the
// results of several paths to the same backend: the backend reached
// directly (pod IP), then through more and more hops (ClusterIP, NodePort,
// load balancer). A hop that forgets idle flows sooner than the paths
// nearer the backend shows up as the first path with that shorter limit.
// Pure logic: `idleprobe diagnose` and the landing page's groups use it.
package compare

import (
	"fmt"
	"strings"

	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Entry is one path of a comparison and its latest result.
type Entry struct {
	// Name names the path ("pod", "NodePort").
	Name string
	// Result is the path's result; only a measured one takes part in the
	// verdict.
	Result plan.Result
}

// Verdict is what a comparison concluded.
type Verdict struct {
	// Owner is the index of the path that introduces the shortest limit:
	// the first path whose limit is shorter than that of every measured
	// path before it, and not undercut by a path after it. -1 when no path
	// has a limit (or none was measured).
	Owner int
	// Steps are the indexes of every path whose limit is shorter than that
	// of every measured path before it, in order: each adds a shorter
	// limit. The last one is Owner.
	Steps []int
	// Unmeasured are the indexes of the paths without a measured result:
	// the verdict does not take them into account.
	Unmeasured []int
	// Text says it in one line ("the NodePort hop owns the shortest
	// limit: ...").
	Text string
}

// Measured reports whether r is a measured result that can take part in a
// verdict.
func Measured(r plan.Result) bool { return advice.StatusOf(r) == plan.Measured }

// Shorter reports whether a's limit is clearly shorter than b's: a found a
// limit whose upper end is at most b's lower end (the longest idle time b
// survived). Brackets that overlap are the same limit, within precision.
func Shorter(a, b plan.Result) bool {
	return a.Found && a.Upper <= b.Lower
}

// Judge compares entries, ordered nearest the backend first, and says
// which path introduces the shortest limit.
func Judge(entries []Entry) Verdict {
	v := Verdict{Owner: -1}
	var measured []int
	for i, e := range entries {
		if !Measured(e.Result) {
			v.Unmeasured = append(v.Unmeasured, i)
			continue
		}
		step := e.Result.Found
		for _, j := range measured {
			step = step && Shorter(e.Result, entries[j].Result)
		}
		if step {
			v.Steps = append(v.Steps, i)
			v.Owner = i
		}
		measured = append(measured, i)
	}
	v.Text = v.text(entries, measured)
	return v
}

// text words the verdict.
func (v Verdict) text(entries []Entry, measured []int) string {
	var skipped string
	if len(v.Unmeasured) > 0 {
		var names []string
		for _, i := range v.Unmeasured {
			names = append(names, entries[i].Name)
		}
		skipped = " (not measured, left out: " + strings.Join(names, ", ") + ")"
	}
	switch {
	case len(measured) == 0:
		return "no verdict: no path was measured" + skipped
	case v.Owner < 0:
		return "no path has a limit: every measured path survived its longest idle time" + skipped
	}
	owner := entries[v.Owner]
	limit := Short(owner.Result)
	if v.Owner == measured[0] {
		nearest := "the path nearest the backend"
		if v.Owner > 0 {
			nearest = "the nearest path measured"
		}
		return fmt.Sprintf("%s owns it: %s already on %s (the backend itself or the hops of that path)%s",
			owner.Name, limit, nearest, skipped)
	}
	prev := entries[previous(measured, v.Owner)]
	return fmt.Sprintf("the %s hop owns it: %s on %s, not on %s before it (%s)%s",
		owner.Name, limit, owner.Name, prev.Name, Short(prev.Result), skipped)
}

// previous is the measured index just before i.
func previous(measured []int, i int) int {
	p := measured[0]
	for _, j := range measured {
		if j >= i {
			break
		}
		p = j
	}
	return p
}

// Short says a result's limit in a few words: "reset at 900 s",
// "closed while idle at 60 s", "no limit up to 30m", or why there is no
// answer ("unusable: ...").
func Short(r plan.Result) string {
	if !Measured(r) {
		return advice.Ending(r)
	}
	if !r.Found {
		return "no limit up to " + advice.Dur(r.Settings.Max)
	}
	at := advice.Range(r.Lower, r.Upper)
	if r.Mode == plan.ClosedIdle && r.CloseAge > 0 {
		at = advice.Exact(r.CloseAge)
	}
	kind := ""
	if advice.KindOf(r) == plan.Lifetime {
		kind = " of connection age"
	}
	return advice.ModeWord(r.Mode) + " at " + at + kind
}
