package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/idleprobe/idleprobe/internal/durfmt"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// The keepalive check answers the optional second question about a path:
// with TCP keepalive at the client's settings (or, for ws and grpc, with the
// protocol's own ping every N seconds), does the path survive past its idle
// limit? Trials never send anything while idle; the check is the one place
// where a connection does.

// Defaults of a KeepaliveCheck's optional fields.
const (
	// DefaultKeepaliveCount is the number of unanswered probes before the
	// kernel gives up, when none is given (Linux's and Go's default).
	DefaultKeepaliveCount = 9
	// pingPolicyPings is how many ping intervals the ping check holds at
	// least, so that a server's ping policy can show: grpc-go ends the
	// connection (GOAWAY ENHANCE_YOUR_CALM "too_many_pings") at the fourth
	// ping that comes sooner than its minimum interval (the first after a
	// call does not count).
	pingPolicyPings = 4
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
	// Ping asks the question of the protocol's own ping instead of TCP
	// keepalive: a WebSocket ping (ws, wss) or an HTTP/2 PING (grpc, grpcs)
	// every Interval while the connection is idle, TCP keepalive off. What
	// clients of those protocols configure (gRPC keepalive.ClientParameters
	// Time, a WebSocket ping interval). Idle and Count do not apply: the
	// first ping comes one Interval into the idle period, and a gRPC
	// server's refusal of the interval (GOAWAY too_many_pings) is part of
	// the answer.
	Ping bool
}

// PingSchemes are the target schemes whose protocol has a ping of its own,
// for KeepaliveCheck.Ping.
var PingSchemes = []string{"ws", "wss", "grpc", "grpcs"}

// withDefaults fills in Interval and Count.
func (k KeepaliveCheck) withDefaults() KeepaliveCheck {
	if k.Interval == 0 {
		k.Interval = k.Idle
	}
	if k.Ping {
		k.Idle, k.Count = k.Interval, 0
		return k
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
	if k.Ping {
		switch {
		case k.Interval < 0 || k.Idle < 0 || (k.Interval == 0 && k.Idle == 0):
			errs = append(errs, fmt.Errorf("ping interval: %s must be positive (example: 10s)", max(k.Interval, k.Idle)))
		case k.Idle != 0 && k.Interval != 0 && k.Idle != k.Interval:
			errs = append(errs, fmt.Errorf("ping: idle %s and interval %s differ; a ping check has one interval", k.Idle, k.Interval))
		}
		if k.Count != 0 {
			errs = append(errs, fmt.Errorf("ping: count %d does not apply to pings (leave it unset)", k.Count))
		}
		if k.Hold < 0 {
			errs = append(errs, fmt.Errorf("ping hold: %s must not be negative (0 picks it from the limit)", k.Hold))
		}
		return errors.Join(errs...)
	}
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
// dies before any probe, and half the limit again is margin enough. A
// ping check with pings below the limit holds at least pingPolicyPings
// intervals and a half, so that a server that refuses the interval says
// so. It is capped at 2 x maxIdle.
func (k KeepaliveCheck) HoldFor(upper, maxIdle time.Duration) time.Duration {
	if k.Hold > 0 {
		return k.Hold
	}
	k = k.withDefaults()
	h := upper + upper/2
	if k.Idle < upper {
		h += k.Idle
	}
	if k.Ping && k.Interval < upper {
		h = max(h, pingPolicyPings*k.Interval+k.Interval/2)
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
	log := m.log.With("keepalive_idle", k.Idle, "keepalive_interval", k.Interval, "keepalive_count", k.Count,
		"ping", k.Ping, "hold", hold)
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
	with := "with keepalive on"
	if k.Ping {
		topts.ping = k.Interval
		with = "with a ping every " + shortDur(k.Interval)
	} else {
		topts.keepalive = k.config()
	}
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
			if k.Ping && refusesPings(detail) {
				verdict(true, false, held, fmt.Sprintf("the server refused a ping every %s: it closed the connection after %s idle (%s); a safe interval is above the server's minimum ping interval (grpc-go: keepalive.EnforcementPolicy MinTime, 5m by default, and PermitWithoutStream for pings between calls) and below the path's limit (it survived %s)",
					shortDur(k.Interval), shortDur(held), detail, shortDur(r.Lower.Round(time.Millisecond))))
				return
			}
			verdict(true, false, held, fmt.Sprintf("closed while idle after %s (%s), %s", shortDur(held), detail, with))
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
	case rep.Outcome == plan.OK && k.Ping:
		verdict(true, true, held, fmt.Sprintf("reuse after %s idle: ok (%s); the server accepts a ping every %s and it keeps the path alive: a safe ping interval is from %s up to below the path's limit (it survived %s)",
			shortDur(held), rep.Detail, shortDur(k.Interval), shortDur(k.Interval), shortDur(r.Lower.Round(time.Millisecond))))
	case rep.Outcome == plan.OK:
		verdict(true, true, held, fmt.Sprintf("reuse after %s idle: ok (%s)", shortDur(held), rep.Detail))
	case rep.Outcome.Failed():
		verdict(true, false, held, fmt.Sprintf("reuse after %s idle: %s (%s)", shortDur(held), rep.Outcome, rep.Detail))
	default: // slow, error: says nothing about the idle limit
		verdict(false, false, held, fmt.Sprintf("not checked: reuse after %s idle was inconclusive: %s (%s)", shortDur(held), rep.Outcome, rep.Detail))
	}
}

// refusesPings reports whether an idle close says the server refused our
// pings: HTTP/2 GOAWAY ENHANCE_YOUR_CALM (grpc-go: "too_many_pings").
func refusesPings(detail string) bool {
	return strings.Contains(detail, "ENHANCE_YOUR_CALM") || strings.Contains(detail, "too_many_pings")
}

// checkPingScheme refuses a ping check for a target whose protocol has no
// ping of its own.
func checkPingScheme(k *KeepaliveCheck, t Target) error {
	if k == nil || !k.Ping || slices.Contains(PingSchemes, t.Scheme) {
		return nil
	}
	return fmt.Errorf("ping check: %s:// has no protocol ping (only %s do; use TCP keepalive instead)", t.Scheme, strings.Join(PingSchemes, ", "))
}

// shortDur prints d for the check's outcome: milliseconds at most, no
// trailing zero units (1h, 1m30s, 5.612s).
func shortDur(d time.Duration) string {
	if d > time.Second {
		d = d.Round(time.Millisecond)
	}
	return durfmt.Short(d)
}
