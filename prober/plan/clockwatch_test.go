package plan

import (
	"testing"
	"time"
)

// Closes at one instant on recycled connections of one connection age look
// like a lifetime and like a sweeping idle timer alike: the search waits
// for a connection of that age used more recently, and no longer.
func TestWatchClock(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	start := time.Unix(1000, 0)
	at := start.Add(ms(5028))
	closes := []Trial{
		{Conn: 1, Age: ms(4772), ConnAge: ms(5022), Reuse: 2, Outcome: ClosedIdle, End: at},
		{Conn: 2, Age: ms(4477), ConnAge: ms(5018), Reuse: 2, Outcome: ClosedIdle, End: at},
	}
	setup := func(trials []Trial) core {
		c := newCore(Defaults(), start)
		c.b.kind, c.b.found, c.b.mode = Idle, true, ClosedIdle
		c.trials = trials
		// Opened with the others, reused 0.2 s ago: young on the idle clock.
		c.conns[3] = &pconn{id: 3, state: idle, opened: start.Add(ms(10)), idleSince: at.Add(-ms(200))}
		return c
	}
	pass := start.Add(ms(10) + ms(5018) + watchMargin)

	c := setup(closes)
	if w := c.watchClock(at); !w.Equal(pass) {
		t.Fatalf("watchClock at the closes = %v, want to look again at %v, when conn 3 passes 5.018 s of age", w.Sub(start), pass.Sub(start))
	}
	if w := c.watchClock(pass); !w.IsZero() {
		t.Errorf("watchClock once conn 3 lived past that age = %v, want done", w.Sub(start))
	}

	// Closes at two instants: the clocks read them, no watch.
	later := append(closes[:2:2], Trial{Conn: 4, Age: ms(300), ConnAge: ms(5020), Reuse: 2, Outcome: ClosedIdle, End: at.Add(ms(40))})
	if c := setup(later); !c.watchClock(at).IsZero() {
		t.Error("closes at two instants: watchClock waits, want done")
	}
	// Fresh connections closing together (idle and connection ages agree)
	// say nothing about the clock: no watch.
	fresh := []Trial{
		{Conn: 1, Age: ms(5003), ConnAge: ms(5003), Reuse: 1, Outcome: ClosedIdle, End: at},
		{Conn: 2, Age: ms(5001), ConnAge: ms(5001), Reuse: 1, Outcome: ClosedIdle, End: at},
	}
	if c := setup(fresh); !c.watchClock(at).IsZero() {
		t.Error("fresh closes: watchClock waits, want done")
	}
	// No connection will pass that age within a width: no watch.
	c = setup(closes)
	c.conns[3].opened = at
	if w := c.watchClock(at); !w.IsZero() {
		t.Errorf("no connection near that age: watchClock = %v, want done", w.Sub(start))
	}
}

// Redis (timeout 3) keeps last-interaction times in whole seconds and
// sweeps its clients ten times a second: connections opened and used
// within one second close together over a few sweeps, 3.4-4.2 s idle and
// 3.9-4.2 s old. Their connection ages are tighter than their idle ages,
// but far looser than one timer per connection: an idle limit. (A record
// from a CI run that read it as a lifetime.)
func TestCoarseSweepIsNoLifetime(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	start := time.Unix(1000, 0)
	var ts []Trial
	ok := func(conn, idle, age int) {
		ts = append(ts, Trial{Conn: ConnID(conn), Age: ms(idle), ConnAge: ms(age), Reuse: 1, Outcome: OK})
	}
	for i, a := range []int{251, 409, 622, 882, 1166, 1543, 2042, 2518, 2897, 3107, 3332, 3574, 3833} {
		ok(i+1, a, a)
	}
	ts = append(ts, Trial{Conn: 10, Age: ms(3534), ConnAge: ms(4004), Reuse: 2, Outcome: OK, Confirm: true})
	closes := []closeRow{
		{11, 3498, 4002, 4011}, {45, 3921, 3921, 4011}, {46, 3915, 3915, 4011}, {14, 3378, 4001, 4011}, {13, 3420, 4001, 4011},
		{12, 3562, 4102, 4112}, {7, 3724, 4106, 4112}, {8, 3695, 4105, 4112}, {9, 3666, 4105, 4112},
		{5, 3880, 4211, 4218}, {4, 3903, 4212, 4218}, {2, 3944, 4213, 4218}, {6, 3856, 4211, 4218}, {3, 3925, 4214, 4218},
		{44, 4230, 4230, 4313},
	}
	ts = append(ts, closeRecord(start, closes)...)
	s := Defaults()
	s.Min, s.Max, s.PrecisionFloor = ms(250), 8*time.Second, ms(100)
	if k := closeClock(oneClosePerInstant(ts), s.Width); k == Lifetime {
		t.Errorf("closeClock = %s: a coarse sweep read as one timer per connection", k)
	}
	c := newCore(s, start)
	c.trials = ts
	if rd := c.read(); rd.kind != Idle || !rd.fit.found || rd.fit.upper > ms(3378) {
		t.Errorf("read kind %s, found %v, (%s, %s]; want an idle limit holding the shortest close, 3.378 s", rd.kind, rd.fit.found, rd.fit.lower, rd.fit.upper)
	}
}

// Squid checks its tunnels' timers once a second and closes a whole batch
// in one sweep that takes a few milliseconds to be seen: closes 1 ms
// apart over 3 ms are one instant, not two that agree on a connection
// age. (A record from a real Squid run that read it as a lifetime.)
func TestSweepOverMillisecondsIsOneInstant(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	start := time.Unix(1000, 0)
	var ts []Trial
	for i, a := range []int{250, 500, 750, 1000, 1250, 1439, 1655} {
		ts = append(ts, Trial{Conn: ConnID(100 + i), Age: ms(a), ConnAge: ms(a), Reuse: 1, Outcome: OK})
	}
	ts = append(ts, closeRecord(start, []closeRow{
		{1, 1681, 1931, 1936}, {59, 1709, 1709, 1937}, {58, 1725, 1725, 1937}, {51, 1807, 1807, 1938},
		{31, 1904, 1904, 1938}, {10, 1459, 1929, 1938}, {9, 1492, 1931, 1938}, {5, 1600, 1932, 1939}, {2, 1665, 1933, 1939},
	})...)
	if n := len(instants(ts)); n != 1 {
		t.Errorf("%d instants, want one sweep", n)
	}
	s := Defaults()
	s.Min, s.Max, s.PrecisionFloor = ms(250), 6*time.Second, ms(100)
	c := newCore(s, start)
	c.trials = ts
	if rd := c.read(); rd.kind != Idle {
		t.Errorf("read kind %s, want idle: one sweep cannot tell the clocks apart", rd.kind)
	}
}

// Dante checks its timers once a second too, and the closes of one sweep
// were seen over 6 ms (recycled connections first, fresh ones 4 ms later):
// one instant, whose connection ages spread too far for one timer per
// connection. (A record from a CI run that read it as a lifetime.)
func TestDanteSweepIsNoLifetime(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	start := time.Unix(1000, 0)
	var ts []Trial
	for i, a := range []int{250, 750, 1250, 1750, 2250, 2700, 3117} {
		ts = append(ts, Trial{Conn: ConnID(100 + i), Age: ms(a), ConnAge: ms(a), Reuse: 1, Outcome: OK})
	}
	ts = append(ts, closeRecord(start, []closeRow{
		{2, 2953, 3223, 3229}, {4, 2911, 3220, 3231}, {5, 2889, 3221, 3231}, {3, 2936, 3224, 3231},
		{7, 2838, 3220, 3230}, {9, 2777, 3216, 3230}, {10, 2747, 3217, 3230}, {6, 2864, 3220, 3230},
		{41, 3167, 3167, 3235}, {40, 3171, 3171, 3235},
	})...)
	if n := len(instants(ts)); n != 1 {
		t.Errorf("%d instants, want one sweep", n)
	}
	s := Defaults()
	s.Min, s.Max, s.PrecisionFloor = ms(250), 6*time.Second, ms(100)
	c := newCore(s, start)
	c.trials = ts
	if rd := c.read(); rd.kind != Idle {
		t.Errorf("read kind %s, want idle", rd.kind)
	}
}

// closeRow is a close seen while idle in a recorded run: the connection,
// its idle and connection ages and when the close was seen, in ms.
type closeRow struct{ conn, idle, age, end int }

// closeRecord turns rows into trials; a connection whose two ages agree
// was never reused (its close would have been its first reuse).
func closeRecord(start time.Time, rows []closeRow) []Trial {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	ts := make([]Trial, 0, len(rows))
	for _, c := range rows {
		reuse := 2
		if c.idle == c.age {
			reuse = 1
		}
		ts = append(ts, Trial{Conn: ConnID(c.conn), Age: ms(c.idle), ConnAge: ms(c.age), Reuse: reuse,
			Outcome: ClosedIdle, End: start.Add(ms(c.end))})
	}
	return ts
}

// The same Dante sweep seen in two steps 7 ms apart (two instants): the
// recycled connections' and the fresh ones' ages on the connection clock
// differ by 57 ms, far looser than one timer per connection.
func TestDanteSweepInTwoStepsIsNoLifetime(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	start := time.Unix(1000, 0)
	ts := closeRecord(start, []closeRow{
		{3, 2931, 3220, 3229}, {8, 2810, 3220, 3229}, {1, 2969, 3220, 3229}, {10, 2749, 3219, 3230},
		{42, 3163, 3163, 3236},
	})
	s := Defaults()
	s.Min, s.Max, s.PrecisionFloor = ms(250), 6*time.Second, ms(100)
	if k := closeClock(oneClosePerInstant(ts), s.Width); k == Lifetime {
		t.Errorf("closeClock = %s: two steps of one sweep read as one timer per connection", k)
	}
}
