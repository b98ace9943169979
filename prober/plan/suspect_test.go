package plan

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// judged wraps a planner and counts the suspicions the simulated judge
// raised and how many of them the outcome refuted. With ignore, the
// planner never hears of them (the behaviour before early evidence).
type judged struct {
	Planner
	ignore            bool
	suspects, refuted int
	pending           map[ConnID]bool
}

func (j *judged) Suspect(id ConnID, at time.Time) {
	j.suspects++
	j.pending[id] = true
	if !j.ignore {
		j.Planner.Suspect(id, at)
	}
}

func (j *judged) Observe(t Trial) {
	if j.pending[t.Conn] {
		delete(j.pending, t.Conn)
		if !t.Outcome.Failed() {
			j.refuted++
		}
	}
	j.Planner.Observe(t)
}

func simJudged(t testing.TB, s Settings, p SimPath, ignore bool) (Result, *judged) {
	t.Helper()
	j := &judged{ignore: ignore, pending: map[ConnID]bool{}}
	r, err := simulate(s, p, func(s Settings) (Planner, error) {
		pl, err := New(s, simEpoch)
		j.Planner = pl
		return j, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return r, j
}

// slowSettings are the defaults with a shorter range, for paths with no
// limit (the search then proves Max).
func slowSettings() Settings {
	s := Defaults()
	s.Max = 2 * time.Minute
	return s
}

// A healthy path with a long round trip, a lost segment on every reuse
// and delayed ACKs is never suspected: no trial is dropped, and the result
// is the one the path deserves (no limit; the reset limit where it is).
func TestSlowPathNotSuspected(t *testing.T) {
	const T = 40 * time.Second
	for _, rtt := range []time.Duration{time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond} {
		for _, lim := range []time.Duration{0, T} {
			for _, hop := range []struct {
				name      string
				loseFirst bool
				ackDelay  time.Duration
			}{{"clean", false, 0}, {"lost-segment", true, 0}, {"delayed-ack", false, 200 * time.Millisecond},
				{"both", true, 200 * time.Millisecond}} {
				t.Run(fmt.Sprintf("rtt=%s/limit=%s/%s", rtt, lim, hop.name), func(t *testing.T) {
					p := SimPath{Limit: lim, Latency: rtt, LoseFirst: hop.loseFirst, AckDelay: hop.ackDelay}
					r, j := simJudged(t, slowSettings(), p, false)
					if j.suspects != 0 {
						t.Errorf("%d suspicions on a healthy path", j.suspects)
					}
					for _, tr := range r.Trials {
						if tr.Outcome == Dropped {
							t.Errorf("trial dropped on a healthy path: %+v", tr)
						}
					}
					checkSlowResult(t, r, lim)
				})
			}
		}
	}
}

// checkSlowResult asserts the result a healthy path deserves: no limit up
// to Max, or the reset limit lim in a bracket of the wanted width.
func checkSlowResult(t *testing.T, r Result, lim time.Duration) {
	t.Helper()
	if r.Status != Measured {
		t.Fatalf("status %s (%s)", r.Status, r.Reason)
	}
	if lim == 0 {
		if r.Found || r.Lower < r.Settings.Max {
			t.Errorf("no limit on the path, yet the result is (%s, %s] found=%v", r.Lower, r.Upper, r.Found)
		}
		return
	}
	// Trials on a lossy path take longer, so ages land a little later
	// than planned: allow a round trip and a retransmission timeout.
	slack := SimRTO(r.Settings.Min) + time.Second
	if !r.Found || r.Mode != Reset || r.Lower >= lim || r.Upper < lim || r.Upper-r.Lower > wantWidth(lim)+slack {
		t.Errorf("limit %s reset, yet the result is (%s, %s] found=%v mode=%s", lim, r.Lower, r.Upper, r.Found, r.Mode)
	}
}

// Random loss of a tenth of all transmissions on a 300 ms path loses a
// request twice in a row now and then: the judge suspects a black hole,
// the retransmission gets through, the outcome refutes the suspicion, and
// the bracket is what it would have been without it. (Past a reset
// limit, a suspected reuse may also end in the reset the path gives.)
// Three in a row, a false verdict, come once in a thousand reuses at this
// loss; not with these seeds (TestOneFalseDropNeverWrongLimit injects one).
func TestFalseSuspicionsRefuted(t *testing.T) {
	const T = 30 * time.Second
	refuted := 0
	for seed := int64(1); seed <= 12; seed++ {
		for _, lim := range []time.Duration{0, T} {
			p := SimPath{Limit: lim, Latency: 300 * time.Millisecond, Loss: 0.1, Seed: seed}
			r, j := simJudged(t, slowSettings(), p, false)
			refuted += j.refuted
			for _, tr := range r.Trials {
				if tr.Outcome == Dropped {
					t.Errorf("seed %d limit %s: dropped trial: %+v", seed, lim, tr)
				}
			}
			if lim == 0 && j.suspects != j.refuted {
				t.Errorf("seed %d: %d suspicions, %d refuted: on a healthy path every one is refuted", seed, j.suspects, j.refuted)
			}
			checkSlowResult(t, r, lim)
			checkHonest(t, uint64(seed), r.Settings, r)
		}
	}
	if refuted == 0 {
		t.Fatal("no suspicion was raised and refuted: the test does not test the revert")
	}
	t.Logf("%d false suspicions, all refuted", refuted)
}

// On a black hole the suspicion comes two lost transmissions into the
// first black-holed reuse, and the planner narrows the bracket at once;
// the early verdict ends each black-holed reuse as dropped three lost
// transmissions in (when that is before the trial timeout), with the
// evidence as its detail. The search ends about T + two verdicts, no
// later than with the timeouts alone, with the same honest outcomes.
func TestBlackHoleDecidedEarly(t *testing.T) {
	const timeout = 5 * time.Second
	for _, rtt := range []time.Duration{time.Millisecond, 300 * time.Millisecond} {
		for _, T := range []time.Duration{5 * time.Second, time.Minute, 15 * time.Minute} {
			t.Run(fmt.Sprintf("rtt=%s/T=%s", rtt, T), func(t *testing.T) {
				s := settingsFor(Parallel, T)
				p := SimPath{Limit: T, Mode: Dropped, Latency: rtt, Timeout: timeout}
				r, j := simJudged(t, s, p, false)
				p.NoEarlyVerdict = true
				old, _ := simJudged(t, s, p, true)
				checkBracket(t, r, T, 0)
				if r.Mode != Dropped || j.suspects == 0 || j.refuted != 0 {
					t.Errorf("mode %s, %d suspicions, %d refuted", r.Mode, j.suspects, j.refuted)
				}
				checkHonest(t, 0, s, r)
				_, decide := simJudge(SimRTO(rtt), rtt, never, never)
				took := min(decide, timeout)
				var first time.Time
				for _, tr := range r.Trials {
					if tr.Outcome != Dropped {
						continue
					}
					first = minTime(first, tr.Start)
					early := strings.HasPrefix(tr.Detail, "no acknowledgement after 2 retransmissions")
					if tr.End.Sub(tr.Start) != took || early != (decide < timeout) {
						t.Errorf("dropped after %s (%q), want after %s, early %v", tr.End.Sub(tr.Start), tr.Detail, took, decide < timeout)
					}
				}
				// Once the first black-holed reuse began, the search waits
				// for its suspicion and the upper edge's re-test: on a fast
				// path within the 1.3 x T.
				if r.Duration() > old.Duration() || (rtt < 10*time.Millisecond && r.Duration() > T*13/10) {
					t.Errorf("took %s (with the timeouts alone %s), first dropped reuse at %s: want <= 1.3 x T on a fast path, and no later",
						r.Duration(), old.Duration(), first.Sub(r.Started))
				}
				t.Logf("%s x T (timeouts alone %s x T)", fmt.Sprintf("%.2f", r.Duration().Seconds()/T.Seconds()), fmt.Sprintf("%.2f", old.Duration().Seconds()/T.Seconds()))
			})
		}
	}
}

// One false verdict: a reuse that would have worked loses three
// transmissions in a row and is decided dropped (probability q^3 per
// reuse, see Evidence). Injected at every reuse of a search in turn, on a
// path with a reset limit, a black hole and no limit, it never makes a
// wrong limit: the robust reading outvotes it or the upper edge's re-test
// refutes it (the right bracket), or the search ends inconclusive. The
// one blind spot is a false drop in the last gap below the limit, after
// which no reuse is younger than the limit: it moves the upper edge down
// by less than that gap, within the wanted width (counted as "short").
func TestOneFalseDropNeverWrongLimit(t *testing.T) {
	for _, tc := range []struct {
		T    time.Duration
		mode Outcome
	}{{5 * time.Second, Dropped}, {time.Minute, Reset}, {time.Minute, Dropped}, {0, Reset}} {
		t.Run(fmt.Sprintf("%s/T=%s", tc.mode, tc.T), func(t *testing.T) {
			t.Parallel()
			s := settingsFor(Parallel, tc.T)
			if tc.T == 0 {
				s = slowSettings()
			}
			p := SimPath{Limit: tc.T, Mode: tc.mode}
			clean, err := Simulate(s, p)
			if err != nil {
				t.Fatal(err)
			}
			right, inconclusive, short := 0, 0, 0
			for n := 1; n <= len(clean.Trials); n++ {
				p.falseDrops = map[int]bool{n: true}
				r, err := Simulate(s, p)
				if err != nil {
					t.Fatal(err)
				}
				checkHonest(t, uint64(n), s, r)
				falsely := 0
				for _, tr := range r.Trials {
					if tr.Outcome == Dropped && (tc.mode != Dropped || tr.Age < tc.T) {
						falsely++
					}
				}
				if falsely == 0 {
					continue // the reuse would have failed anyway: nothing to inject
				}
				if falsely > 1 {
					t.Fatalf("reuse %d: %d false drops among the trials, want the one injected", n, falsely)
				}
				switch {
				case r.Status == Inconclusive:
					inconclusive++
				case r.Status != Measured:
					t.Errorf("reuse %d: status %s (%s)", n, r.Status, r.Reason)
				case tc.T == 0 && r.Found:
					t.Errorf("reuse %d falsely dropped: a limit on a path without one: %s", n, describe(r))
				case tc.T > 0 && r.Found && r.Lower < tc.T && r.Upper < tc.T && tc.T-r.Upper < s.Width(r.Lower):
					short++
					t.Logf("reuse %d falsely dropped at the edge: (%s, %s], %s short of the limit", n, r.Lower, r.Upper, tc.T-r.Upper)
				case tc.T > 0 && (!r.Found || r.Lower >= tc.T || r.Upper < tc.T || r.Mode != tc.mode):
					t.Errorf("reuse %d falsely dropped: a wrong limit: %s", n, describe(r))
				default:
					right++
				}
			}
			if right == 0 {
				t.Errorf("no search survived a false drop with the right answer")
			}
			t.Logf("one false drop, at each reuse in turn: %d right, %d inconclusive, %d short by less than the width", right, inconclusive, short)
		})
	}
}
