package plan

import (
	"fmt"
	"testing"
	"time"
)

// shortSettings are the settings of the real-server tests: a short range,
// a fine floor.
func shortSettings(st Strategy) Settings {
	s := Defaults()
	s.Strategy, s.Min, s.Max, s.PrecisionFloor = st, 250*time.Millisecond, 15*time.Second, 100*time.Millisecond
	return s
}

// withinBound fails t when r ran past its deadline (plus one trial timeout
// for a reuse under way when it came).
func withinBound(t *testing.T, r Result, timeout time.Duration) {
	t.Helper()
	if r.Settings.Deadline <= 0 {
		t.Fatalf("result has no deadline: %+v", r.Settings)
	}
	if r.Duration() > r.Settings.Deadline+timeout {
		t.Errorf("took %s, past the deadline %s", r.Duration(), r.Settings.Deadline)
	}
}

func describe(r Result) string {
	return fmt.Sprintf("status=%s reason=%q found=%v kind=%s (%s, %s] mode=%s lifetime=%+v spread=%+v server=%+v agree=%d disagree=%d trials=%d took=%s",
		r.Status, r.Reason, r.Found, r.Kind, r.Lower, r.Upper, r.Mode, r.Lifetime, r.Spread, r.Server,
		r.Agree, r.Disagree, len(r.Trials), r.Duration())
}

// Real paths that are not one sharp idle threshold: each ends, within its
// bound, with the right kind, bracket and mode.
func TestRealWorldPaths(t *testing.T) {
	type want struct {
		status   Status
		found    bool
		kind     Kind
		mode     Outcome
		limit    time.Duration // held by (Lower, Upper] when found
		lifetime time.Duration // held by the Lifetime bracket when set
		lifeMode string
		retired  int // Server.RetiredAtReuse
		spread   bool
		// ifSeen is a lifetime the search may or may not live long enough to see.
		ifSeen time.Duration
	}
	cases := []struct {
		name   string
		path   SimPath
		strats []Strategy
		want   want
	}{
		{"postgres login timeout (lifetime, closed while idle)", SimPath{Lifetime: 5 * time.Second},
			[]Strategy{Parallel, Sequential},
			want{status: Measured, found: true, kind: Lifetime, mode: ClosedIdle, limit: 5 * time.Second, lifetime: 5 * time.Second, lifeMode: "closed_idle"}},
		{"postgres with a payload it rejects on the 2nd reuse", SimPath{Lifetime: 5 * time.Second, RejectAfter: 2},
			[]Strategy{Parallel, Sequential},
			want{status: Measured, found: true, mode: ClosedIdle, limit: 5 * time.Second}},
		{"nginx keepalive_time (retired at an age)", SimPath{Lifetime: 4 * time.Second, Retire: true},
			[]Strategy{Parallel, Sequential},
			want{status: Measured, kind: Idle, lifetime: 4 * time.Second, lifeMode: "retired"}},
		{"nginx keepalive_requests (retired on a reuse)", SimPath{RetireAfter: 2},
			[]Strategy{Sequential},
			want{status: Measured, kind: Idle, retired: 2}},
		{"server that closes on the first byte", SimPath{RejectAfter: 1},
			[]Strategy{Parallel, Sequential},
			want{status: Unusable, found: true}},
		{"two backends, 3s and 7s, closing while idle", SimPath{Backends: []time.Duration{3 * time.Second, 7 * time.Second}, Mode: ClosedIdle},
			[]Strategy{Parallel, Sequential},
			want{status: Measured, found: true, kind: Idle, mode: ClosedIdle, limit: 3 * time.Second}},
		{"redis: closes spread over 100ms", SimPath{Limit: 3050 * time.Millisecond, Jitter: 50 * time.Millisecond, Mode: ClosedIdle},
			[]Strategy{Parallel, Sequential},
			want{status: Measured, found: true, kind: Idle, mode: ClosedIdle, limit: 3 * time.Second, spread: true}},
		{"idle limit below min", SimPath{Limit: 300 * time.Millisecond, Mode: Reset},
			[]Strategy{Parallel, Sequential},
			want{status: Measured, found: true, kind: Idle, mode: Reset, limit: 300 * time.Millisecond}},
		// The sequential baseline reuses one connection at every step and
		// reads this path's resets on the connection-age clock: parallel
		// only (see the README's design notes).
		{"idle limit and a longer lifetime", SimPath{Limit: 3 * time.Second, Lifetime: 8 * time.Second},
			[]Strategy{Parallel},
			want{status: Measured, found: true, kind: Idle, mode: Reset, limit: 3 * time.Second, ifSeen: 8 * time.Second}},
	}
	for _, tc := range cases {
		for _, st := range tc.strats {
			for seed := int64(1); seed <= 3; seed++ {
				t.Run(fmt.Sprintf("%s/%s/%d", tc.name, st, seed), func(t *testing.T) {
					p := tc.path
					p.Seed = seed
					r, err := Simulate(shortSettings(st), p)
					if err != nil {
						t.Fatal(err)
					}
					t.Log(describe(r))
					withinBound(t, r, 5*time.Second)
					w := tc.want
					if r.Status != w.status {
						t.Errorf("status %s (%s), want %s", r.Status, r.Reason, w.status)
					}
					if r.Found != w.found {
						t.Errorf("found %v, want %v", r.Found, w.found)
					}
					if w.kind != "" && r.Kind != w.kind {
						t.Errorf("kind %s, want %s", r.Kind, w.kind)
					}
					if w.found && w.mode != "" && r.Mode != w.mode {
						t.Errorf("mode %s, want %s", r.Mode, w.mode)
					}
					if w.found && w.limit > 0 {
						// Spread paths: the bracket holds the shortest limit a
						// client can hit, within one width.
						slack := r.Settings.Width(w.limit)
						if r.Lower >= w.limit || r.Upper < w.limit-slack/4 || r.Upper > w.limit+slack {
							t.Errorf("bracket (%s, %s] does not hold %s", r.Lower, r.Upper, w.limit)
						}
					}
					if w.lifetime > 0 {
						// A reuse that starts just before the lifetime races
						// the server's close and fails: within a quarter width.
						l, slack := r.Lifetime, r.Settings.Width(w.lifetime)
						if !l.Found || l.Lower >= w.lifetime || l.Upper < w.lifetime-slack/4 {
							t.Errorf("lifetime %+v does not hold %s", l, w.lifetime)
						}
						if l.Mode != w.lifeMode {
							t.Errorf("lifetime mode %q, want %q", l.Mode, w.lifeMode)
						}
					} else if l := r.Lifetime; w.ifSeen > 0 && l.Found {
						if l.Lower >= w.ifSeen || l.Upper < w.ifSeen {
							t.Errorf("lifetime %+v does not hold %s", l, w.ifSeen)
						}
					} else if r.Kind == Idle && r.Lifetime.Found {
						t.Errorf("a lifetime %+v on a path without one", r.Lifetime)
					}
					if r.Server.RetiredAtReuse != w.retired {
						t.Errorf("retired at reuse %d, want %d", r.Server.RetiredAtReuse, w.retired)
					}
					if w.status == Measured && r.Disagree != 0 {
						t.Errorf("%d trials disagree: spread and lifetimes are not flakiness", r.Disagree)
					}
					if w.spread && r.Spread.First > r.Spread.Last {
						t.Errorf("spread %+v: first after last", r.Spread)
					}
					if w.status == Unusable && len(r.Trials) > 60 {
						t.Errorf("%d trials to see that every reuse fails", len(r.Trials))
					}
				})
			}
		}
	}
}

// The spread of a several-backends path is reported and the search is as
// fast as on one backend: closes seen while idle are exact.
func TestSeveralBackendsFast(t *testing.T) {
	r, err := Simulate(shortSettings(Parallel), SimPath{Backends: []time.Duration{7 * time.Second, 3 * time.Second}, Mode: ClosedIdle})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(describe(r))
	if got := r.Duration().Seconds() / 3; got > 1.3 {
		t.Errorf("took %.2f x the shortest limit, want <= 1.3", got)
	}
	if r.Disagree != 0 || r.Upper != 3*time.Second {
		t.Errorf("want the 3s limit exactly and no disagreement")
	}
}

// A lifetime measured on real-looking evidence: the bracket is on the
// connection-age clock.
func TestLifetimeBracketOnConnectionAge(t *testing.T) {
	r, err := Simulate(shortSettings(Parallel), SimPath{Lifetime: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range r.Trials {
		if tr.Outcome == ClosedIdle && tr.ConnAge != 5*time.Second {
			t.Errorf("close at connection age %s, want 5s", tr.ConnAge)
		}
	}
	// The upper edge is the close, or a reuse that raced it a moment
	// before (the server closed while the request was on its way).
	race := r.Settings.Width(5*time.Second) / 4
	if r.Kind != Lifetime || r.Upper > 5*time.Second || r.Upper < 5*time.Second-race || r.Lower >= r.Upper {
		t.Errorf("%s", describe(r))
	}
}
