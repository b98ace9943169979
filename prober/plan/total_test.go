package plan

import (
	"container/heap"
	"encoding/binary"
	"hash/fnv"
	"math/rand/v2"
	"testing"
	"time"
)

// Totality: whatever the path answers, every strategy always has something
// to do (an action, a wake-up time, or a reuse or open under way), keeps
// its budget, and is done by its deadline with every connection closed.
// The adversary below answers opens and reuses with arbitrary outcomes, at
// arbitrary ages and durations, closes idle connections at random, retires
// connections, flaps, and reports suspicions of a black hole at random,
// true or false, for reuses under way and for connections that are not
// being reused; a fuzzer drives it (go test -fuzz
// FuzzPlannerTotal ./prober/plan) and TestPlannerTotal runs a few hundred
// seeds on every test run.

// adversary is a fake path and driver under a fake clock.
type adversary struct {
	rng     *rand.Rand
	timeout time.Duration
}

type advConn struct {
	opened, idleSince time.Time
	busy              bool
	reuses            int
}

type advEvent struct {
	at     time.Time
	seq    int
	id     ConnID
	kind   int // 0 opened, 1 open failed, 2 trial, 3 idle close, 4 suspicion
	trial  Trial
	opened time.Time
}

type advQueue []advEvent

func (q advQueue) Len() int { return len(q) }
func (q advQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q advQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *advQueue) Push(x any)   { *q = append(*q, x.(advEvent)) }
func (q *advQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// dur returns a duration in [0, d), biased towards short ones.
func (a *adversary) dur(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	if a.rng.IntN(3) == 0 {
		return time.Duration(a.rng.Int64N(int64(d)))
	}
	return time.Duration(a.rng.Int64N(int64(d)/50 + 1))
}

// settingsFrom draws search settings.
func (a *adversary) settings() Settings {
	s := Defaults()
	if a.rng.IntN(3) == 0 {
		s.Strategy = Sequential
	}
	s.Budget = 2 + a.rng.IntN(15)
	s.Confirm = a.rng.IntN(4)
	s.Min = time.Duration(50+a.rng.IntN(2000)) * time.Millisecond
	s.Max = s.Min * time.Duration(2+a.rng.IntN(40))
	s.Precision = []float64{0.01, 0.02, 0.1, 0.3}[a.rng.IntN(4)]
	s.PrecisionFloor = time.Duration(a.rng.IntN(500)) * time.Millisecond
	a.timeout = time.Duration(100+a.rng.IntN(5000)) * time.Millisecond
	s.Deadline = AutoDeadline(s, a.timeout)
	return s
}

// advHint draws, for half of the parallel searches, an arbitrary hint in
// [Min, Max] from its own generator (the adversary's draws stay as they
// were for every seed).
func advHint(seed uint64, s Settings) time.Duration {
	r := rand.New(rand.NewPCG(seed, 0x41e7))
	if s.Strategy != Parallel || r.IntN(2) == 0 {
		return 0
	}
	return s.Min + time.Duration(r.Int64N(int64(s.Max-s.Min)+1))
}

var advOutcomes = []Outcome{OK, OK, OK, Reset, ClosedIdle, ClosedOnReuse, Dropped, Slow, Error}

// runAdversary drives one planner against the adversary and checks the
// invariants. It returns the result and how many suspicions the outcomes
// refuted.
func runAdversary(t testing.TB, seed uint64) (Result, int) {
	a := &adversary{rng: rand.New(rand.NewPCG(seed, seed^0x5eed))}
	s := a.settings()
	s.Hint = advHint(seed, s)
	pl, err := New(s, simEpoch)
	if err != nil {
		t.Fatalf("settings %+v: %v", s, err)
	}
	// A path policy: mostly a limit with noise, sometimes pure chaos.
	limit := time.Duration(a.rng.Int64N(int64(2 * s.Max)))
	chaos := a.rng.Float64()
	conns := map[ConnID]*advConn{}
	opening := map[ConnID]bool{}
	suspected := map[ConnID]bool{} // reuses under way reported as suspect
	refutations := 0
	var q advQueue
	seq := 0
	push := func(e advEvent) {
		seq++
		e.seq = seq
		heap.Push(&q, e)
	}
	now := simEpoch
	deadline := simEpoch.Add(s.Deadline)
	for step := 0; ; step++ {
		if step > 2_000_000 {
			t.Fatalf("seed %d: no end after %d steps at %s (%+v)", seed, step, now.Sub(simEpoch), s)
		}
		acts, wake := pl.Next(now)
		for _, act := range acts {
			switch act.Kind {
			case Open:
				if opening[act.Conn] || conns[act.Conn] != nil {
					t.Fatalf("seed %d: conn %d opened twice", seed, act.Conn)
				}
				opening[act.Conn] = true
				at := now.Add(a.dur(a.timeout))
				if a.rng.Float64() < chaos*0.3 {
					push(advEvent{at: at, id: act.Conn, kind: 1})
				} else {
					push(advEvent{at: at, id: act.Conn, kind: 0, opened: at.Add(-a.dur(time.Millisecond))})
				}
			case Reuse:
				c := conns[act.Conn]
				if c == nil || c.busy {
					t.Fatalf("seed %d: reuse of conn %d that is not idle", seed, act.Conn)
				}
				c.busy = true
				c.reuses++
				age := now.Sub(c.idleSince)
				tr := Trial{Conn: act.Conn, Age: age, ConnAge: now.Sub(c.opened), Reuse: c.reuses,
					IdleSince: c.idleSince, Start: now, Confirm: act.Confirm, Outcome: OK}
				switch {
				case a.rng.Float64() < chaos:
					tr.Outcome = advOutcomes[a.rng.IntN(len(advOutcomes))]
				case age >= limit:
					tr.Outcome = Reset
				}
				tr.End = now.Add(a.dur(a.timeout))
				if tr.Outcome == OK && a.rng.Float64() < chaos*0.2 {
					tr.Retired = true
				}
				push(advEvent{at: tr.End, id: act.Conn, kind: 2, trial: tr})
				if a.rng.Float64() < 0.3 {
					push(advEvent{at: now.Add(a.dur(tr.End.Sub(now) + 1)), id: act.Conn, kind: 4})
				}
				if a.rng.Float64() < 0.05 { // about a connection not (or no longer) being reused
					push(advEvent{at: now.Add(a.dur(s.Max)), id: ConnID(1 + a.rng.IntN(int(act.Conn)+2)), kind: 4})
				}
			case Close:
				if conns[act.Conn] == nil && !opening[act.Conn] {
					t.Fatalf("seed %d: close of unknown conn %d", seed, act.Conn)
				}
				if c := conns[act.Conn]; c != nil && c.busy {
					t.Fatalf("seed %d: close of conn %d while its reuse runs", seed, act.Conn)
				}
				delete(conns, act.Conn)
				delete(opening, act.Conn) // an open under way is closed when it lands
			}
		}
		if n := len(conns) + len(opening); n > s.Budget || pl.Live() > s.Budget {
			t.Fatalf("seed %d: %d connections (planner: %d), budget %d", seed, n, pl.Live(), s.Budget)
		}
		if pl.Done() {
			break
		}
		busy := len(q) > 0
		if len(acts) == 0 && !wake.After(now) && !busy {
			t.Fatalf("seed %d: planner stalled at %s: no action, no wake-up, nothing under way", seed, now.Sub(simEpoch))
		}
		if !wake.IsZero() && wake.After(deadline) {
			t.Fatalf("seed %d: wake-up %s after the deadline %s", seed, wake.Sub(simEpoch), s.Deadline)
		}
		next := wake
		if len(q) > 0 && (next.IsZero() || q[0].at.Before(next)) {
			next = q[0].at
		}
		// Now and then an idle connection is closed under us.
		if a.rng.Float64() < chaos*0.05 {
			for id, c := range conns {
				if !c.busy {
					at := now.Add(a.dur(s.Max))
					if next.IsZero() || at.Before(next) {
						push(advEvent{at: at, id: id, kind: 3})
					}
					break
				}
			}
		}
		if next.After(now) && len(acts) == 0 {
			now = next
		}
		for len(q) > 0 && !q[0].at.After(now) {
			e := heap.Pop(&q).(advEvent)
			switch e.kind {
			case 0:
				if !opening[e.id] {
					continue // closed while opening: the driver closes it
				}
				delete(opening, e.id)
				conns[e.id] = &advConn{opened: e.opened, idleSince: e.at}
				pl.Opened(e.id, e.opened, e.at)
			case 1:
				if !opening[e.id] {
					continue
				}
				delete(opening, e.id)
				pl.OpenFailed(e.id, e.at, "refused")
			case 4:
				if c := conns[e.id]; c != nil && c.busy {
					suspected[e.id] = true
				}
				pl.Suspect(e.id, e.at)
			case 2:
				c := conns[e.id]
				if c == nil {
					continue
				}
				c.busy = false
				refuted := suspected[e.id] && !e.trial.Outcome.Failed()
				delete(suspected, e.id)
				if e.trial.Outcome == OK && !e.trial.Retired {
					c.idleSince = e.trial.End
				} else {
					delete(conns, e.id)
				}
				pl.Observe(e.trial)
				if refuted {
					refutations++
					checkHonest(t, seed, s, pl.Result())
				}
			case 3:
				c := conns[e.id]
				if c == nil || c.busy {
					continue
				}
				delete(conns, e.id)
				pl.Observe(Trial{Conn: e.id, Age: e.at.Sub(c.idleSince), ConnAge: e.at.Sub(c.opened),
					Reuse: c.reuses + 1, IdleSince: c.idleSince, Start: e.at, End: e.at, Outcome: ClosedIdle})
			}
		}
	}
	if now.After(deadline.Add(a.timeout)) {
		t.Fatalf("seed %d: done at %s, past the deadline %s plus a trial", seed, now.Sub(simEpoch), s.Deadline)
	}
	r := pl.Result()
	if !r.Status.valid() {
		t.Fatalf("seed %d: status %q", seed, r.Status)
	}
	if r.Status != Measured && r.Reason == "" {
		t.Fatalf("seed %d: status %s without a reason", seed, r.Status)
	}
	if r.Complete != (r.Status == Measured) {
		t.Fatalf("seed %d: complete %v with status %s", seed, r.Complete, r.Status)
	}
	for id, c := range conns {
		if !c.busy {
			t.Fatalf("seed %d: conn %d left open", seed, id)
		}
	}
	if r.Status == Measured && len(suspected) > 0 {
		t.Fatalf("seed %d: measured while %d suspected reuses were still out", seed, len(suspected))
	}
	checkHonest(t, seed, s, r)
	return r, refutations
}

// checkHonest asserts that r's bracket is what its trials alone say: no
// suspicion, standing or refuted, is part of a Result.
func checkHonest(t testing.TB, seed uint64, s Settings, r Result) {
	t.Helper()
	c := newCore(s, simEpoch)
	c.trials = r.Trials
	c.refresh()
	want := c.Result()
	if r.Found != want.Found || r.Lower != want.Lower || r.Upper != want.Upper || r.Mode != want.Mode || r.Kind != want.Kind {
		t.Fatalf("seed %d: result (%s, %s] found=%v mode=%s kind=%s, but its trials alone say (%s, %s] found=%v mode=%s kind=%s",
			seed, r.Lower, r.Upper, r.Found, r.Mode, r.Kind, want.Lower, want.Upper, want.Found, want.Mode, want.Kind)
	}
	for _, tr := range r.Trials {
		if tr.Detail == suspectedDetail {
			t.Fatalf("seed %d: a suspicion is among the trials: %+v", seed, tr)
		}
	}
}

func (s Status) valid() bool {
	switch s {
	case Measured, Inconclusive, Unusable:
		return true
	}
	return false
}

func TestPlannerTotal(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 50
	}
	statuses := map[Status]int{}
	refuted := 0
	for seed := uint64(1); seed <= uint64(n); seed++ {
		r, k := runAdversary(t, seed)
		statuses[r.Status]++
		refuted += k
	}
	t.Logf("%d suspicions refuted by the outcome", refuted)
	if refuted == 0 {
		t.Errorf("no suspicion was refuted: the adversary does not test the revert")
	}
	t.Logf("statuses over %d adversarial runs: %v", n, statuses)
	// The adversary is often kind enough for a clean answer, and often not.
	if statuses[Measured] == 0 || statuses[Measured] == n {
		t.Errorf("statuses %v: the adversary should produce both clean and unclean ends", statuses)
	}
}

func FuzzPlannerTotal(f *testing.F) {
	for _, s := range []string{"", "a", "flap", "0123456789abcdef", "\x00\x00\x00\x00\x00\x00\x00\x01"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h := fnv.New64a()
		h.Write(data)
		seed := h.Sum64()
		if len(data) >= 8 {
			seed ^= binary.LittleEndian.Uint64(data)
		}
		runAdversary(t, seed)
	})
}

// A path that resets almost half of the healthy reuses ends by its
// deadline, and an unclean end says why; a clean one admits the
// disagreements it saw.
func TestFlappingPathEnds(t *testing.T) {
	for _, st := range []Strategy{Parallel, Sequential} {
		for seed := int64(1); seed <= 10; seed++ {
			s := shortSettings(st)
			s.Confirm = 2
			s.Deadline = 40 * time.Second
			r, err := Simulate(s, SimPath{Limit: 2 * time.Second, Flaky: 0.45, Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			withinBound(t, r, 5*time.Second)
			if r.Status != Measured && (r.Reason == "" || r.Complete) {
				t.Errorf("%s/%d: unclean end without a reason: %s", st, seed, describe(r))
			}
			if r.Status == Measured && len(r.Trials) > 10 && r.Disagree == 0 {
				t.Errorf("%s/%d: measured a flapping path without disagreement: %s", st, seed, describe(r))
			}
		}
	}
}
