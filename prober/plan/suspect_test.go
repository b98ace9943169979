package plan

import (
	"fmt"
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

// On a black hole the suspicion comes a few retransmission timeouts after
// the first black-holed reuse began, and the planner narrows the bracket
// at once: the search ends as soon as the reuses it needed have timed out
// (about T + one trial timeout), sooner than without the early evidence,
// with the same honest outcomes.
func TestBlackHoleSuspectedEarly(t *testing.T) {
	for _, rtt := range []time.Duration{time.Millisecond, 300 * time.Millisecond} {
		for _, T := range []time.Duration{5 * time.Second, time.Minute, 15 * time.Minute} {
			t.Run(fmt.Sprintf("rtt=%s/T=%s", rtt, T), func(t *testing.T) {
				s := settingsFor(Parallel, T)
				p := SimPath{Limit: T, Mode: Dropped, Latency: rtt}
				r, j := simJudged(t, s, p, false)
				old, _ := simJudged(t, s, p, true)
				checkBracket(t, r, T, 0)
				if r.Mode != Dropped || j.suspects == 0 || j.refuted != 0 {
					t.Errorf("mode %s, %d suspicions, %d refuted", r.Mode, j.suspects, j.refuted)
				}
				checkHonest(t, 0, s, r)
				// The first black-holed reuse begins before 1.1 x T; the
				// search then waits for one trial timeout, plus the
				// judge's delay and the fine step's round trips.
				rto := SimRTO(rtt)
				bound := T*11/10 + 5*time.Second + 2*(3*rto+PollEvery(rto)) + time.Second
				if r.Duration() > bound || r.Duration() >= old.Duration() {
					t.Errorf("took %s (without the early evidence %s), want <= %s and faster", r.Duration(), old.Duration(), bound)
				}
			})
		}
	}
}
