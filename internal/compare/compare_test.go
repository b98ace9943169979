package compare

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

func limit(lo, hi time.Duration, mode plan.Outcome) plan.Result {
	return plan.Result{Status: plan.Measured, Complete: true, Found: true, Lower: lo, Upper: hi, Mode: mode}
}

func none(max time.Duration) plan.Result {
	return plan.Result{Status: plan.Measured, Complete: true, Lower: max, Settings: plan.Settings{Max: max}}
}

func TestJudge(t *testing.T) {
	s := time.Second
	unusable := plan.Result{Status: plan.Unusable, Reason: "connect: refused"}
	for _, tc := range []struct {
		name      string
		results   []plan.Result
		owner     int
		steps     []int
		textParts []string
	}{
		{"nodeport owns it", []plan.Result{none(30 * time.Minute), limit(895*s, 900*s, plan.Reset)},
			1, []int{1}, []string{"the b hop owns it: reset at 895.0-900.0 s on b, not on a before it (no limit up to 30m)"}},
		{"backend owns it", []plan.Result{limit(59*s, 60*s, plan.ClosedIdle), limit(59*s, 60*s, plan.ClosedIdle)},
			0, []int{0}, []string{"a owns it: closed while idle at 59.0-60.0 s already on the path nearest the backend"}},
		{"nlb under ipvs", []plan.Result{none(time.Hour), limit(890*s, 900*s, plan.Reset), limit(340*s, 350*s, plan.Dropped)},
			2, []int{1, 2}, []string{"the c hop owns it: black hole at 340.0-350.0 s on c, not on b before it (reset at 890.0-900.0 s)"}},
		{"longer later", []plan.Result{limit(5*s, 6*s, plan.Reset), limit(9*s, 10*s, plan.Reset)},
			0, []int{0}, []string{"a owns it"}},
		{"overlap is the same limit", []plan.Result{limit(5*s, 6*s, plan.Reset), limit(5500*time.Millisecond, 5600*time.Millisecond, plan.Reset)},
			0, []int{0}, []string{"a owns it"}},
		{"max too short to tell", []plan.Result{none(5 * s), limit(9*s, 10*s, plan.Reset)},
			-1, nil, []string{"no path has a limit"}},
		{"no limits", []plan.Result{none(time.Minute), none(time.Minute)}, -1, nil, []string{"no path has a limit"}},
		{"unmeasured left out", []plan.Result{unusable, none(time.Minute), limit(9*s, 10*s, plan.Reset)},
			2, []int{2}, []string{"the c hop owns it", "not on b before it", "(not measured, left out: a)"}},
		{"first measured owns it", []plan.Result{unusable, limit(9*s, 10*s, plan.Reset), none(time.Minute)},
			1, []int{1}, []string{"b owns it: reset at 9.0-10.0 s already on the nearest path measured (the backend itself or the hops of that path) (not measured, left out: a)"}},
		{"nothing measured", []plan.Result{unusable}, -1, nil, []string{"no verdict: no path was measured"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var es []Entry
			for i, r := range tc.results {
				es = append(es, Entry{Name: string(rune('a' + i)), Result: r})
			}
			v := Judge(es)
			if v.Owner != tc.owner || !reflect.DeepEqual(v.Steps, tc.steps) {
				t.Errorf("owner %d steps %v, want %d %v", v.Owner, v.Steps, tc.owner, tc.steps)
			}
			for _, p := range tc.textParts {
				if !strings.Contains(v.Text, p) {
					t.Errorf("text %q lacks %q", v.Text, p)
				}
			}
		})
	}
}
