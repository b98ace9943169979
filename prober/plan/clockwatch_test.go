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
	pass := start.Add(ms(10) + ms(5018) + livedMargin)

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
