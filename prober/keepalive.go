package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/idleprobe/idleprobe/internal/durfmt"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// The keepalive check answers the optional second question about a path:
// with TCP keepalive at the client's settings, does the path survive past
// its idle limit? Trials never send anything while idle; the check is the
// one place where a connection does.

// Defaults of a KeepaliveCheck's optional fields.
const (
	// DefaultKeepaliveCount is the number of unanswered probes before the
	// kernel gives up, when none is given (Linux's and Go's default).
	DefaultKeepaliveCount = 9
)

// KeepaliveCheck asks Measure to test, after the search has found a limit,
// whether TCP keepalive at these settings keeps the path alive past it.
// The settings mirror net.KeepAliveConfig (TCP_KEEPIDLE, TCP_KEEPINTVL,
// TCP_KEEPCNT); the kernel counts them in whole seconds.
type KeepaliveCheck struct {
	// Idle is the idle time before the first probe. Required.
	Idle time.Duration
	// Interval is the time between probes; 0 means Idle (as Go's
	// net.Dialer.KeepAlive sets both).
	Interval time.Duration
	// Count is how many unanswered probes end the connection; 0 means
	// DefaultKeepaliveCount.
	Count int
	// Hold is how long the connection is held idle before it is reused; 0
	// picks it from the limit found (see HoldFor).
	Hold time.Duration
}

// withDefaults fills in Interval and Count.
func (k KeepaliveCheck) withDefaults() KeepaliveCheck {
	if k.Interval == 0 {
		k.Interval = k.Idle
	}
	if k.Count == 0 {
		k.Count = DefaultKeepaliveCount
	}
	return k
}

// Validate reports every problem with k, one per line, naming the setting
// and what would be valid.
func (k KeepaliveCheck) Validate() error {
	var errs []error
	whole := func(name string, d time.Duration, required bool) {
		switch {
		case d == 0 && !required:
		case d <= 0:
			errs = append(errs, fmt.Errorf("keepalive %s: %s must be positive (example: 30s)", name, d))
		case d%time.Second != 0:
			errs = append(errs, fmt.Errorf("keepalive %s: %s is not a whole number of seconds (the kernel counts keepalive times in seconds; example: 30s)", name, d))
		}
	}
	whole("idle", k.Idle, true)
	whole("interval", k.Interval, false)
	if k.Count < 0 {
		errs = append(errs, fmt.Errorf("keepalive count: %d must be at least 1 (default %d)", k.Count, DefaultKeepaliveCount))
	}
	if k.Hold < 0 {
		errs = append(errs, fmt.Errorf("keepalive hold: %s must not be negative (0 picks it from the limit)", k.Hold))
	}
	return errors.Join(errs...)
}

// HoldFor is how long the check holds its connection idle when the search
// bracketed the limit below upper and tested idle ages up to maxIdle:
// Hold when set, else 1.5 x upper, plus Idle when the first probe comes
// before the limit. A flow refreshed by the first probe (at Idle) expires
// at Idle + limit unless the next probes refresh it too, so holding past
// that shows whether they do; when Idle is at or above the limit the flow
// dies before any probe, and half the limit again is margin enough. It is
// capped at 2 x maxIdle.
func (k KeepaliveCheck) HoldFor(upper, maxIdle time.Duration) time.Duration {
	if k.Hold > 0 {
		return k.Hold
	}
	h := upper + upper/2
	if k.Idle < upper {
		h += k.Idle
	}
	if maxIdle > 0 && h > 2*maxIdle {
		h = 2 * maxIdle
	}
	return h
}

// config is the socket configuration of the check's connection.
func (k KeepaliveCheck) config() *net.KeepAliveConfig {
	k = k.withDefaults()
	return &net.KeepAliveConfig{Enable: true, Idle: k.Idle, Interval: k.Interval, Count: k.Count}
}

// checkable reports whether the check applies to r and, if not, why. Every
// failure mode is checked, closed_idle included: a server's idle timer is
// usually not refreshed by keepalive probes, but that is a fact about the
// path worth measuring rather than assuming.
func checkable(r Result) (bool, string) {
	switch {
	case !r.Complete:
		return false, "not checked: the search did not finish"
	case !r.Found:
		return false, fmt.Sprintf("not needed: no idle limit up to %s, so there is nothing for keepalive to rescue", shortDur(r.Settings.Max))
	case r.Kind == plan.Lifetime:
		return false, "not checked: the limit is on connection age (a lifetime), which no keepalive can extend"
	}
	return true, ""
}

// keepalive runs the check on a completed search result r and records the
// answer in r. It always returns: a cancelled ctx, a failed open or an
// inconclusive reuse leave KeepaliveChecked false with the reason in
// KeepaliveDetail. The search's result is never changed otherwise.
func (m *measurement) keepalive(ctx context.Context, r *Result) {
	k := m.opts.Keepalive.withDefaults()
	r.KeepaliveIdle, r.KeepaliveInterval, r.KeepaliveCount = k.Idle, k.Interval, k.Count
	ok, why := checkable(*r)
	if !ok {
		r.KeepaliveDetail = why
		return
	}
	hold := k.HoldFor(r.Upper, r.Settings.Max)
	log := m.log.With("keepalive_idle", k.Idle, "keepalive_interval", k.Interval, "keepalive_count", k.Count, "hold", hold)
	log.Debug("keepalive check started")
	checkStart := time.Now()
	// progress reports the check; the partial result is the search's, not
	// yet final.
	progress := func(now time.Time, left time.Duration) {
		if m.opts.Progress == nil {
			return
		}
		p := *r
		p.Complete = false
		m.opts.Progress(Progress{Now: now, Started: m.start, Partial: p, Live: 1, Remaining: left, Keepalive: true})
	}
	progress(checkStart, hold+m.timeout())

	verdict := func(checked, rescues bool, held time.Duration, detail string) {
		r.KeepaliveChecked, r.KeepaliveRescues, r.KeepaliveHeld, r.KeepaliveDetail = checked, rescues, held, detail
		log.Debug("keepalive check done", "checked", checked, "rescues", rescues, "held", held, "outcome", detail)
	}
	interrupted := func(held time.Duration) {
		verdict(false, false, held, fmt.Sprintf("not checked: interrupted after %s of %s idle", shortDur(held), shortDur(hold)))
	}

	if m.opts.Limiter != nil {
		if err := m.opts.Limiter.Acquire(ctx); err != nil {
			interrupted(0)
			return
		}
		defer m.opts.Limiter.Release()
	}
	topts := m.opts.Transport
	topts.keepalive = k.config()
	tr, err := m.newTransport(m.target, topts)
	if err != nil {
		verdict(false, false, 0, "not checked: "+oneLine(err.Error()))
		return
	}
	c, err := tr.Open(ctx)
	if err != nil {
		if ctx.Err() != nil {
			interrupted(0)
			return
		}
		verdict(false, false, 0, "not checked: could not open a connection: "+oneLine(err.Error()))
		return
	}
	defer c.Close()
	r.ConnectionsOpened++

	idleSince := c.IdleSince()
	timer := time.NewTimer(time.Until(idleSince.Add(hold)))
	defer timer.Stop()
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			interrupted(time.Since(idleSince))
			return
		case <-c.Closed():
			at, detail := c.CloseInfo()
			held := at.Sub(idleSince)
			verdict(true, false, held, fmt.Sprintf("closed while idle after %s (%s), with keepalive on", shortDur(held), detail))
			return
		case now := <-tick.C:
			progress(now, time.Until(idleSince.Add(hold))+m.timeout())
		case <-timer.C:
			waiting = false
		}
	}
	rep := c.Reuse(ctx)
	held := rep.Start.Sub(idleSince)
	switch {
	case ctx.Err() != nil:
		interrupted(held)
	case rep.Outcome == plan.OK:
		verdict(true, true, held, fmt.Sprintf("reuse after %s idle: ok (%s)", shortDur(held), rep.Detail))
	case rep.Outcome.Failed():
		verdict(true, false, held, fmt.Sprintf("reuse after %s idle: %s (%s)", shortDur(held), rep.Outcome, rep.Detail))
	default: // slow, error: says nothing about the idle limit
		verdict(false, false, held, fmt.Sprintf("not checked: reuse after %s idle was inconclusive: %s (%s)", shortDur(held), rep.Outcome, rep.Detail))
	}
}

// shortDur prints d for the check's outcome: milliseconds at most, no
// trailing zero units (1h, 1m30s, 5.612s).
func shortDur(d time.Duration) string {
	if d > time.Second {
		d = d.Round(time.Millisecond)
	}
	return durfmt.Short(d)
}
