package plan

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// hinted returns the settings of a search for a limit near T, started from
// hint.
func hinted(T, hint time.Duration) Settings {
	s := settingsFor(Parallel, 2*T)
	s.Hint = hint
	return s
}

// When the limit has not moved, a hinted search brackets it with the usual
// precision and confirmation, with at most HintConnections connections, in
// at most 1.05 x T; the hint is the previous full search's upper edge.
func TestHintUnchanged(t *testing.T) {
	for _, mode := range []Outcome{Reset, ClosedIdle, ClosedOnReuse} {
		for _, T := range []time.Duration{5 * time.Second, 47 * time.Second, 350 * time.Second, time.Hour} {
			t.Run(fmt.Sprintf("%s/%s", mode, T), func(t *testing.T) {
				path := SimPath{Limit: T, Mode: mode}
				prev, err := Simulate(settingsFor(Parallel, 2*T), path)
				if err != nil || !prev.Found {
					t.Fatalf("previous search: %v %s", err, describe(prev))
				}
				r, err := Simulate(hinted(T, prev.Upper), path)
				if err != nil {
					t.Fatal(err)
				}
				checkBracket(t, r, T, 0)
				if r.Status != Measured || !r.Hint.Held || r.Hint.From != prev.Upper {
					t.Errorf("want measured and held from %s: %s hint=%+v", prev.Upper, describe(r), r.Hint)
				}
				if r.ConnectionsOpened > HintConnections {
					t.Errorf("%d connections opened, want <= %d", r.ConnectionsOpened, HintConnections)
				}
				if wall := r.Duration().Seconds() / T.Seconds(); wall > 1.05 {
					t.Errorf("took %.3f x T, want <= 1.05", wall)
				}
				if r.Kind != Idle {
					t.Errorf("kind %s, want idle", r.Kind)
				}
				// The progress estimate knows the hinted search is short.
				pl, err := New(hinted(T, prev.Upper), simEpoch)
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range firstActs(pl) {
					pl.Opened(a.Conn, simEpoch, simEpoch)
				}
				w := r.Settings.Width(prev.Upper)
				if left := pl.Remaining(simEpoch); left > prev.Upper+3*w || left < prev.Upper {
					t.Errorf("Remaining at the start %s, want the hint %s plus the window (< %s)", left, prev.Upper, 3*w)
				}
			})
		}
	}
}

// A lifetime (a login timeout: connections closed at an age since the
// handshake) that has not moved is found as one, from the hint, as cheaply
// as an idle limit: the kind comes from this run's closes and kind checks.
func TestHintLifetime(t *testing.T) {
	for _, L := range []time.Duration{5 * time.Second, time.Minute, 350 * time.Second} {
		t.Run(L.String(), func(t *testing.T) {
			r, err := Simulate(hinted(L, L), SimPath{Lifetime: L})
			if err != nil {
				t.Fatal(err)
			}
			checkBracket(t, r, L, 0)
			if r.Kind != Lifetime || !r.Hint.Held {
				t.Errorf("kind %s, hint %+v; want a lifetime, held: %s", r.Kind, r.Hint, describe(r))
			}
			if r.ConnectionsOpened > HintConnections || r.Duration() > L*105/100 {
				t.Errorf("%d connections in %s, want <= %d in <= 1.05 x L", r.ConnectionsOpened, r.Duration(), HintConnections)
			}
		})
	}
}

// When the limit moved by 20 % or more either way, the hinted search still
// finds the right bracket, within 2.5 x T (black holes: plus the trial
// timeouts they cost, as in a full search).
func TestHintMoved(t *testing.T) {
	for _, mode := range []Outcome{Reset, ClosedIdle, Dropped} {
		for _, T := range []time.Duration{5 * time.Second, 350 * time.Second} {
			for _, hc := range hintCases[1:] {
				t.Run(fmt.Sprintf("%s/%s/%s", mode, T, hc.name), func(t *testing.T) {
					path := SimPath{Limit: T, Mode: mode, Timeout: time.Second}
					r, err := Simulate(hinted(T, time.Duration(float64(T)/hc.factor)), path)
					if err != nil {
						t.Fatal(err)
					}
					checkBracket(t, r, T, 0)
					if r.Hint.Held {
						t.Errorf("a limit that moved %s is reported as held", hc.name)
					}
					bound := 5 * T / 2
					if mode == Dropped {
						bound += 4 * path.Timeout
					}
					if r.Duration() > bound {
						t.Errorf("took %s (%.2f x T), want <= %s", r.Duration(), r.Duration().Seconds()/T.Seconds(), bound)
					}
				})
			}
		}
	}
}

// truth is what a right answer about a simulated path says.
type truth struct {
	limit time.Duration // 0: none up to max
	kind  Kind
	slack time.Duration
}

// wrong says why r is a wrong answer about a path with truth tr, or "".
// Only a measured answer can be wrong: an inconclusive end is honest.
func (tr truth) wrong(r Result, s Settings) string {
	if r.Status != Measured {
		return ""
	}
	switch {
	case tr.limit == 0 || tr.limit > s.Max:
		if r.Found {
			return "a limit on a path without one"
		}
		if r.Lower < s.Max {
			return "no limit, but max not proven"
		}
	case !r.Found:
		return "no limit found"
	case r.Lower >= tr.limit+tr.slack || r.Upper < tr.limit-tr.slack:
		return "bracket misses the limit"
	case r.Upper-r.Lower > s.Width(r.Lower)+2*tr.slack:
		return "bracket too wide"
	case r.Kind != tr.kind:
		return "wrong kind " + string(r.Kind)
	}
	return ""
}

// The hint never turns a wrong previous answer into a wrong new one: over
// random paths (limits, modes, none up to max, lifetimes, jitter, flaky
// hops) and random hints (mostly wrong), a hinted search ends by its
// deadline and is wrong no more often than the full search on the same
// path. On clean paths it is never wrong at all.
func TestHintNeverWrong(t *testing.T) {
	n := 250
	if testing.Short() {
		n = 60
	}
	rng := rand.New(rand.NewPCG(9, 2))
	var wrongHinted, wrongFull, flakyRuns, held int
	for i := range n {
		s := Defaults()
		s.Min = 500 * time.Millisecond
		s.Max = time.Duration(5+rng.IntN(600)) * time.Second
		s.PrecisionFloor = 100 * time.Millisecond
		s.Confirm = rng.IntN(3)
		s.Budget = []int{8, 16, 64}[rng.IntN(3)]
		path := SimPath{Mode: SimModes[rng.IntN(len(SimModes))], Seed: int64(i), Timeout: time.Second}
		tr := truth{kind: Idle}
		switch rng.IntN(10) {
		case 0: // no limit up to max
		case 1: // a lifetime (a login timeout): closed while idle at that age
			path.Mode = Reset
			path.Lifetime = s.Min + time.Duration(rng.Int64N(int64(s.Max-s.Min)))
			tr.limit, tr.kind = path.Lifetime, Lifetime
		default:
			tr.limit = s.Min + time.Duration(rng.Int64N(int64(s.Max-s.Min)))
			path.Limit = tr.limit
		}
		flaky := rng.IntN(4) == 0
		if flaky {
			path.Flaky = 0.02
			flakyRuns++
		}
		if rng.IntN(4) == 0 && tr.kind == Idle {
			path.Jitter = tr.limit / 400
			tr.slack = path.Jitter
		}
		// The hint: anywhere in range, or near the truth.
		s.Hint = s.Min + time.Duration(rng.Int64N(int64(s.Max-s.Min)))
		if tr.limit > 0 && rng.IntN(3) == 0 {
			s.Hint = min(max(time.Duration(float64(tr.limit)*(0.9+0.2*rng.Float64())), s.Min), s.Max)
		}
		r, err := Simulate(s, path)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		s.Deadline = AutoDeadline(s, path.Timeout)
		if r.Duration() > r.Settings.Deadline+path.Timeout {
			t.Errorf("run %d: took %s, past the deadline %s", i, r.Duration(), r.Settings.Deadline)
		}
		if r.PeakConnections > s.Budget {
			t.Errorf("run %d: %d connections open, budget %d", i, r.PeakConnections, s.Budget)
		}
		if r.Hint.Held {
			held++
		}
		full := s
		full.Hint = 0
		rf, err := Simulate(full, path)
		if err != nil {
			t.Fatalf("run %d (full): %v", i, err)
		}
		why, whyFull := tr.wrong(r, s), tr.wrong(rf, full)
		if why != "" {
			wrongHinted++
		}
		if whyFull != "" {
			wrongFull++
		}
		if why != "" {
			t.Logf("run %d: hint %s (max %s, budget %d, confirm %d), path %+v: %s: %s (full search: %s)", i, s.Hint, s.Max, s.Budget, s.Confirm, path, why, describe(r), whyFull)
		}
		if why != "" && !flaky {
			t.Errorf("run %d: a wrong answer on a clean path", i)
		}
	}
	t.Logf("%d runs (%d flaky), %d held: wrong answers hinted %d, full %d", n, flakyRuns, held, wrongHinted, wrongFull)
	if wrongHinted > wrongFull+max(1, wrongFull/2) {
		t.Errorf("hinted searches were wrong %d times, full searches %d", wrongHinted, wrongFull)
	}
}

// The hint is a setting like any other: validated with the others, and
// reported in the result's JSON.
func TestHintSettingsAndJSON(t *testing.T) {
	s := Defaults()
	for _, tc := range []struct {
		hint time.Duration
		st   Strategy
		want string
	}{
		{-time.Second, Parallel, "hint: -1s must be positive"},
		{2 * time.Hour, Parallel, "hint: 2h0m0s must be within min (1s) and max (1h0m0s)"},
		{time.Minute, Sequential, "hint: 1m0s cannot be used with the sequential strategy"},
	} {
		s.Hint, s.Strategy = tc.hint, tc.st
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("hint %s/%s: error %v, want %q", tc.hint, tc.st, err, tc.want)
		}
	}
	r, err := Simulate(hinted(time.Minute, time.Minute), SimPath{Limit: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"hint":{"from_seconds":60,"held":true}`) {
		t.Errorf("JSON lacks the hint: %s", b)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Hint != r.Hint || back.Settings.Hint != time.Minute {
		t.Errorf("round trip: hint %+v (settings %s), want %+v", back.Hint, back.Settings.Hint, r.Hint)
	}
	full, err := Simulate(settingsFor(Parallel, time.Minute), SimPath{Limit: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(full); strings.Contains(string(b), `"hint"`) {
		t.Errorf("an unhinted result mentions a hint: %s", b)
	}
}

// firstActs returns the actions of pl's first calls of Next, until it
// waits for something: the connections it opens at the start.
func firstActs(pl Planner) []Action {
	var all []Action
	now := simEpoch
	for range 100 {
		acts, wake := pl.Next(now)
		all = append(all, acts...)
		if wake.IsZero() || wake.Sub(simEpoch) > time.Second {
			break
		}
		now = wake
	}
	return all
}
