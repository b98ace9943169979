package prober

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// Early evidence of a black hole: while a reuse waits for its answer, the
// transports read the connection's TCP_INFO (judge) and put it to the one
// rule, plan.Evidence. When our bytes are retransmitted without an
// acknowledgement, the reuse is first suspected (the driver tells the
// planner, which acts on it at once), then decided: the judge ends the
// reuse as Dropped then and there, with the evidence as its detail. The
// trial timeout stays the outer bound; outside Linux (no TCP_INFO) it is
// the only one.

// suspectKey is the context key of the suspicion report.
type suspectKey struct{}

// withSuspect returns ctx carrying report: a reuse run with it calls
// report (at most once, before Reuse returns) when its connection looks
// like a black hole, with the moment the evidence was read.
func withSuspect(ctx context.Context, report func(at time.Time)) context.Context {
	return context.WithValue(ctx, suspectKey{}, report)
}

// blackHoleError ends a reuse that the evidence decided met a black hole
// (plan.Evidence.BlackHole); classify makes it Dropped.
type blackHoleError struct{ e plan.Evidence }

func (b *blackHoleError) Error() string { return b.e.Detail() }

// evidence is what the planner's rule reads from TCP_INFO, elapsed into a
// reuse that began when the connection had retransmitted base times.
func (s tcpState) evidence(base uint32, elapsed time.Duration) plan.Evidence {
	return plan.Evidence{Unacked: int(s.Unacked), Retransmits: int(s.Retransmits), Retransmitted: int(s.TotalRetrans - base),
		RTO: s.RTO >> min(s.Retransmits, 30), RTT: s.RTT, SinceSent: s.SinceSent, Elapsed: elapsed}
}

// judge samples the connection's TCP_INFO while a reuse waits for its
// answer, every plan.PollEvery(RTO). Once the evidence is suspicious it
// calls the report that ctx carries (withSuspect), once; once it decides a
// black hole, it cancels the returned context with a *blackHoleError as
// its cause (reuseErr reads it). The reuse's I/O runs under the returned
// context. stop ends the sampling and waits until it has ended, so no
// report comes after it. Without TCP_INFO (outside Linux) it does nothing.
func (c *watchedConn) judge(ctx context.Context) (context.Context, func()) {
	report, _ := ctx.Value(suspectKey{}).(func(time.Time))
	start := time.Now()
	before, err := readTCPInfo(c.rc)
	if err != nil {
		return ctx, func() {} // no evidence to be had
	}
	jctx, cancel := context.WithCancelCause(ctx)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		timer := time.NewTimer(plan.PollEvery(before.RTO))
		defer timer.Stop()
		suspected := false
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			st, err := readTCPInfo(c.rc)
			if err != nil {
				return // no evidence to be had
			}
			now := time.Now()
			e := st.evidence(before.TotalRetrans, now.Sub(start))
			if !suspected && report != nil && e.Suspicious() {
				report(now)
				suspected = true
			}
			if e.BlackHole() {
				cancel(&blackHoleError{e})
				return
			}
			timer.Reset(plan.PollEvery(st.RTO))
		}
	}()
	return jctx, func() {
		close(quit)
		<-done
		cancel(nil)
	}
}

// reuseErr is the error a reuse ends with when the context of its I/O
// ends: the black hole the judge decided, a timeout for a deadline, or the
// cancellation.
func reuseErr(ctx context.Context) error {
	var bh *blackHoleError
	if errors.As(context.Cause(ctx), &bh) {
		return bh
	}
	if ctx.Err() == context.DeadlineExceeded {
		return os.ErrDeadlineExceeded
	}
	return ctx.Err()
}
