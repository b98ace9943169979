package prober

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// The driver's side of early evidence, under synctest's fake clock: a
// fake path whose reuses report suspicions through the context as the
// transports' judge does, and Measure handing them to the planner.

// judgedPath is a fake path. A reuse at an idle age of limit or more (0:
// never) meets a black hole: it hangs for the trial timeout and ends
// Dropped. With suspect, a hanging reuse is reported after judgeAfter;
// with liar, every reuse is, and then answers OK after answerAfter.
type judgedPath struct {
	limit, judgeAfter, answerAfter time.Duration
	suspect, liar                  bool
}

func (p *judgedPath) Open(ctx context.Context) (Conn, error) {
	now := time.Now()
	return &judgedConn{p: p, opened: now, idleSince: now, closed: make(chan struct{})}, nil
}

type judgedConn struct {
	p         *judgedPath
	opened    time.Time
	closed    chan struct{}
	mu        sync.Mutex
	idleSince time.Time
}

func (c *judgedConn) Opened() time.Time { return c.opened }
func (c *judgedConn) IdleSince() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.idleSince
}
func (c *judgedConn) Closed() <-chan struct{}                  { return c.closed }
func (c *judgedConn) CloseInfo() (at time.Time, detail string) { return time.Time{}, "" }
func (c *judgedConn) Close() error                             { return nil }
func (c *judgedConn) Hints() Hints                             { return Hints{} }

// wait waits d or until ctx ends, and reports whether d passed.
func wait(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *judgedConn) Reuse(ctx context.Context) Reply {
	start := time.Now()
	report, _ := ctx.Value(suspectKey{}).(func(time.Time))
	hole := c.p.limit > 0 && start.Sub(c.IdleSince()) >= c.p.limit
	if report != nil && (c.p.liar || (hole && c.p.suspect)) {
		if !wait(ctx, c.p.judgeAfter) {
			return Reply{Outcome: plan.Error, Start: start, End: time.Now(), Detail: "canceled"}
		}
		report(time.Now())
	}
	if hole {
		if !wait(ctx, DefaultTimeout-time.Since(start)) {
			return Reply{Outcome: plan.Error, Start: start, End: time.Now(), Detail: "canceled"}
		}
		return Reply{Outcome: plan.Dropped, Start: start, End: time.Now(), Detail: "timeout"}
	}
	if !wait(ctx, max(c.p.answerAfter-time.Since(start), time.Millisecond)) {
		return Reply{Outcome: plan.Error, Start: start, End: time.Now(), Detail: "canceled"}
	}
	end := time.Now()
	c.mu.Lock()
	c.idleSince = end
	c.mu.Unlock()
	return Reply{Outcome: plan.OK, Start: start, End: end}
}

// measureFake runs Measure against p with short settings under the fake clock.
func measureFake(t *testing.T, p *judgedPath) Result {
	t.Helper()
	var r Result
	synctest.Test(t, func(t *testing.T) {
		s := plan.Defaults()
		s.Max = 20 * time.Second
		tg, err := ParseTarget("tcp://192.0.2.1:9")
		if err != nil {
			t.Fatal(err)
		}
		r, err = Measure(context.Background(), tg, Options{Plan: s,
			NewTransport: func(Target, TransportOptions) (Transport, error) { return p, nil }})
		if err != nil {
			t.Fatalf("measure: %v", err)
		}
	})
	return r
}

// Suspicions reach the planner: on a black hole at T = 5 s the search
// ends about one trial timeout after the first black-holed reuse, not two,
// with honest outcomes.
func TestMeasureActsOnSuspicion(t *testing.T) {
	const T = 5 * time.Second
	with := measureFake(t, &judgedPath{limit: T, suspect: true, judgeAfter: 700 * time.Millisecond})
	without := measureFake(t, &judgedPath{limit: T})
	for _, r := range []Result{with, without} {
		if !r.Found || r.Mode != plan.Dropped || r.Lower >= T || r.Upper < T || r.Status != plan.Measured {
			t.Fatalf("black hole at %s: found=%v (%s, %s] mode %s status %s", T, r.Found, r.Lower, r.Upper, r.Mode, r.Status)
		}
		for _, tr := range r.Trials {
			if tr.Outcome == plan.Dropped && tr.End.Sub(tr.Start) < DefaultTimeout {
				t.Errorf("trial dropped after %s, before its timeout: %+v", tr.End.Sub(tr.Start), tr)
			}
		}
	}
	t.Logf("wall/T: %.2f with suspicions, %.2f without", with.Duration().Seconds()/T.Seconds(), without.Duration().Seconds()/T.Seconds())
	if bound := T*11/10 + DefaultTimeout + 2*time.Second; with.Duration() > bound || with.Duration() >= without.Duration() {
		t.Errorf("took %s with suspicions (%s without), want <= %s and faster", with.Duration(), without.Duration(), bound)
	}
}

// False suspicions, one on every reuse of a healthy path, are refuted by
// the outcomes: no limit is reported and no trial is dropped.
func TestMeasureRevertsFalseSuspicions(t *testing.T) {
	r := measureFake(t, &judgedPath{liar: true, judgeAfter: 700 * time.Millisecond, answerAfter: 900 * time.Millisecond})
	if r.Found || r.Status != plan.Measured || r.Lower < r.Settings.Max {
		t.Fatalf("healthy path, false suspicions: found=%v (%s, %s] mode %s status %s (%s)", r.Found, r.Lower, r.Upper, r.Mode, r.Status, r.Reason)
	}
	for _, tr := range r.Trials {
		if tr.Outcome != plan.OK {
			t.Errorf("trial %+v on a healthy path", tr)
		}
	}
}
