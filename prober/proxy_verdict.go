package prober

import (
	"fmt"
	"strings"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// Who ended the connections of a path through a proxy, as far as the
// evidence tells (ProxyVerdict.ClosedBy).
const (
	// ClosedByProxy: the limit matches the proxy's own idle timeout.
	ClosedByProxy = "proxy"
	// ClosedByOther: not the proxy: the limit is below its idle timeout, or
	// connections outlived that timeout. Another hop or the server.
	ClosedByOther = "other"
	// ClosedByUnknown: the evidence cannot tell (the proxy's idle timeout
	// is unknown, or the limit is on connection age).
	ClosedByUnknown = "unknown"
)

// ProxyVerdict says what a result tells about the forward proxy its path
// went through.
type ProxyVerdict struct {
	// URL is the proxy (never with credentials).
	URL string
	// IdleTimeout is the proxy's idle timeout as configured, 0 when unknown.
	IdleTimeout time.Duration
	// ClosedBy is ClosedByProxy, ClosedByOther or ClosedByUnknown when a
	// limit was found, "" when none was.
	ClosedBy string
	// Detail says why, in one line, and which side of the proxy the
	// failure mode points to.
	Detail string
}

// proxyTolerance is how far a close may be from a proxy's configured idle
// timeout and still be its doing: Squid and Dante check their timeouts on
// whole-second timers, so closes land up to about a second either side.
func proxyTolerance(t time.Duration) time.Duration { return max(time.Second, t/20) }

// JudgeProxy says whether the proxy p is the hop that ended the idle
// connections of the measurement r (nil for a path without proxy). The
// evidence is timing: the TCP connection is to the proxy, so every close
// or reset reaches idleprobe from the proxy or from a hop before it, and
// proxies (Squid, Dante) do not advertise their tunnel timeouts. A limit
// that matches the configured IdleTimeout is the proxy's; one well below
// it, or connections that outlive it, are another hop's or the server's.
// The failure mode says on which side of the proxy it happened.
func JudgeProxy(r Result, p *Proxy) *ProxyVerdict {
	if p == nil {
		return nil
	}
	v := &ProxyVerdict{URL: p.String(), IdleTimeout: p.IdleTimeout}
	t, tol := p.IdleTimeout, proxyTolerance(p.IdleTimeout)
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	var parts []string
	switch {
	case !r.Found:
		parts = append(parts, fmt.Sprintf("the path goes through proxy %s", v.URL))
		if r.Lower > 0 {
			parts[0] += fmt.Sprintf("; connections survived %s idle", ms(r.Lower))
		}
		if t > 0 && r.Lower > t+tol {
			parts = append(parts, fmt.Sprintf("longer than its idle timeout %s: that timeout does not end idle tunnels, or it is not %s", ms(t), ms(t)))
		}
		return withDetail(v, parts)
	case t == 0:
		v.ClosedBy = ClosedByUnknown
		parts = append(parts, fmt.Sprintf("the path goes through proxy %s, whose idle timeout is unknown (give it as the proxy's idle timeout to tell whether the proxy is the hop that closes)", v.URL))
	case r.Lower <= t+tol && r.Upper >= t-tol:
		v.ClosedBy = ClosedByProxy
		parts = append(parts, fmt.Sprintf("the limit (%s, %s] matches the idle timeout %s of proxy %s: the proxy ended the idle connections", ms(r.Lower), ms(r.Upper), ms(t), v.URL))
		if r.Kind == plan.Lifetime {
			// Squid and Dante check their timers once a second: connections
			// whose last exchange fell in the same second close together,
			// which the search can read as a limit on connection age.
			parts = append(parts, "the search read it as a limit on connection age, as a proxy that checks its timers once a second can make it look")
		}
	case r.Kind == plan.Lifetime:
		v.ClosedBy = ClosedByUnknown
		parts = append(parts, fmt.Sprintf("the path goes through proxy %s; the limit is on connection age, which its idle timeout %s does not explain", v.URL, ms(t)))
	case r.Upper < t-tol:
		v.ClosedBy = ClosedByOther
		parts = append(parts, fmt.Sprintf("the limit (%s, %s] is below the idle timeout %s of proxy %s: another hop or the server ended the connections first", ms(r.Lower), ms(r.Upper), ms(t), v.URL))
	default:
		v.ClosedBy = ClosedByOther
		parts = append(parts, fmt.Sprintf("connections through proxy %s outlived its idle timeout %s (they survived %s): the limit (%s, %s] is another hop's or the server's", v.URL, ms(t), ms(r.Lower), ms(r.Lower), ms(r.Upper)))
	}
	if h := proxySide(r.Mode); h != "" && v.ClosedBy != ClosedByProxy {
		parts = append(parts, h)
	}
	return withDetail(v, parts)
}

func withDetail(v *ProxyVerdict, parts []string) *ProxyVerdict {
	v.Detail = strings.Join(parts, "; ")
	return v
}

// proxySide says what a failure mode means on a connection to a proxy:
// on which side of the proxy the connection died.
func proxySide(m plan.Outcome) string {
	switch m {
	case plan.Reset:
		return "the reset came on the connection to the proxy: a hop between here and the proxy (or the proxy itself) forgot the flow"
	case plan.Dropped:
		return "our bytes to the proxy were never acknowledged: a hop between here and the proxy drops the flow"
	case plan.ClosedIdle:
		return "the proxy closed the tunnel while it was idle: on a timeout of its own, or passing on the target's close"
	case plan.ClosedOnReuse:
		return "the proxy closed the tunnel when it was reused: its own connection to the target had failed (a hop between the proxy and the target forgot the flow, or the target closed)"
	case plan.Slow:
		return "the proxy took the reuse but no answer came: its connection to the target may be dead without its knowing (a black hole beyond the proxy)"
	}
	return ""
}
