package prober

import (
	"context"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// Early evidence of a black hole: while a reuse waits for its answer, the
// transports read the connection's TCP_INFO and tell the driver as soon as
// the kernel retransmits our bytes without an acknowledgement
// (plan.Evidence.BlackHole). The driver hands that to the planner as a
// suspicion; the reuse's outcome is still whatever finally happens.

// suspectKey is the context key of the suspicion report.
type suspectKey struct{}

// withSuspect returns ctx carrying report: a reuse run with it calls
// report (at most once, before Reuse returns) when its connection looks
// like a black hole, with the moment the evidence was read.
func withSuspect(ctx context.Context, report func(at time.Time)) context.Context {
	return context.WithValue(ctx, suspectKey{}, report)
}

// evidence is what the planner's rule reads from TCP_INFO.
func (s tcpState) evidence() plan.Evidence {
	return plan.Evidence{Unacked: int(s.Unacked), Retransmits: int(s.Retransmits), RTO: s.RTO, RTT: s.RTT}
}

// judge samples the connection's TCP_INFO while a reuse waits for its
// answer, every plan.PollEvery(RTO), and calls the report that ctx carries
// (withSuspect) once the evidence says black hole. The returned stop ends
// the sampling and waits until it has ended, so no report comes after it.
// Without a report, or without TCP_INFO (outside Linux), it does nothing:
// the reuse is then only known at its outcome, as before.
func (c *watchedConn) judge(ctx context.Context) (stop func()) {
	report, _ := ctx.Value(suspectKey{}).(func(time.Time))
	if report == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		timer := time.NewTimer(0)
		defer timer.Stop()
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
			if st.evidence().BlackHole() {
				report(time.Now())
				return
			}
			timer.Reset(plan.PollEvery(st.RTO))
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}
