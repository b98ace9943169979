// Package advice words a measurement's result for people: the limit and the
// clock it runs on, a second (lifetime) limit, how far closes spread, what
// the server advertised, how the measurement ended, and what to configure.
// The one-shot summary of `idleprobe measure` and the landing page of
// `idleprobe serve` both use it, so they say the same things the same way.
package advice

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// Client knobs named by the advice.
const (
	// IdleKnobs are the client settings that bound how long a pooled
	// connection stays idle.
	IdleKnobs = "client idle timeouts (nginx upstream keepalive_timeout, Go IdleConnTimeout, pool max-idle)"
	// LifetimeKnobs are the client settings that bound how old a pooled
	// connection gets.
	LifetimeKnobs = "the pool's max lifetime (HikariCP maxLifetime, Go sql.DB SetConnMaxLifetime, nginx upstream keepalive_time, Envoy max_connection_duration)"
)

// StatusOf is how r ended: r.Status, or for results that do not carry one
// (written before statuses existed), Measured when complete and
// Interrupted otherwise.
func StatusOf(r plan.Result) plan.Status {
	switch {
	case r.Status != "":
		return r.Status
	case r.Complete:
		return plan.Measured
	default:
		return plan.Interrupted
	}
}

// KindOf is the clock r's limit runs on (Idle when the result does not say).
func KindOf(r plan.Result) plan.Kind {
	if r.Kind == "" {
		return plan.Idle
	}
	return r.Kind
}

// Heading names the limit line: "Idle limit" or "Lifetime limit".
func Heading(r plan.Result) string {
	if KindOf(r) == plan.Lifetime {
		return "Lifetime limit"
	}
	return "Idle limit"
}

// ModeWord is a short name for a failure mode ("retired" included).
func ModeWord(m plan.Outcome) string {
	switch m {
	case plan.Reset:
		return "reset"
	case plan.Dropped:
		return "black hole"
	case plan.ClosedIdle:
		return "closed while idle"
	case plan.ClosedOnReuse:
		return "closed on reuse"
	}
	return string(m)
}

// retired is the Lifetime.Mode of a server that answers, then closes.
const retired = "retired"

// scheme is the scheme of r's target ("" when it is not a URL).
func scheme(r plan.Result) string {
	u, err := url.Parse(r.Target)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Scheme)
}

// serverSetting names, for the schemes whose server idle timeout is read
// from the server itself rather than advertised in a Keep-Alive header,
// the server's setting.
var serverSetting = map[string]string{
	"postgres": "idle_session_timeout",
	"mysql":    "wait_timeout",
	"redis":    "timeout",
	"rediss":   "timeout",
}

// httpScheme reports whether the target speaks HTTP: its connections open
// with a request, and a server retires them with Connection: close or GOAWAY.
func httpScheme(s string) bool {
	switch s {
	case "http", "https", "h2", "h2c":
		return true
	}
	return false
}

// retireHow says how the server of scheme s ends a connection after
// answering.
func retireHow(s string) string {
	switch s {
	case "http", "https":
		return "Connection: close after the response"
	case "h2", "h2c":
		return "GOAWAY after the response"
	}
	return "it closes right after answering"
}

// Limit says in words what the measurement found on the limit's clock, or
// what it knew when it ended without a clean answer.
func Limit(r plan.Result) string {
	if StatusOf(r) == plan.Unusable {
		return "none: the target could not be measured (see Status)"
	}
	if StatusOf(r) != plan.Measured {
		age, clock := "", " idle"
		if KindOf(r) == plan.Lifetime {
			age, clock = " of connection age", " of age"
		}
		switch {
		case r.Found:
			return "limit in " + Bracket(r.Lower, r.Upper) + age + " so far (" + ModeWord(r.Mode) + ")"
		case r.Lower > 0:
			return "no limit seen yet: connections survived " + Dur(r.Lower) + clock + " so far"
		default:
			return "nothing known yet: no trial finished"
		}
	}
	if !r.Found {
		return "no limit up to " + Dur(r.Settings.Max) + " (lower bound)"
	}
	if KindOf(r) == plan.Lifetime {
		return lifetime(r.Lower, r.Upper, string(r.Mode), scheme(r))
	}
	if r.Mode == plan.ClosedIdle && r.CloseAge > 0 {
		if sp := r.Spread; sp.Survived > 0 || sp.Last-sp.First > r.Width() {
			return "server (or a proxy in front of it) closed idle connections from " + Exact(r.CloseAge) + " on (the shortest close seen)"
		}
		return "server (or a proxy in front of it) closed idle connections at exactly " + Exact(r.CloseAge)
	}
	span := Range(r.Lower, r.Upper) + " idle" + about(r.Upper)
	if r.Lower == 0 {
		span = "at most " + Exact(r.Upper) + " idle (even the shortest idle time tried failed)"
	}
	switch r.Mode {
	case plan.Reset:
		return "reset by a hop (RST) after " + span
	case plan.Dropped:
		return "black hole (dropped): packets silently vanish after " + span
	case plan.ClosedIdle:
		return "closed while idle (by the server or a proxy) after " + span
	case plan.ClosedOnReuse:
		return "closed on reuse (EOF: the server or a proxy had closed it) after " + span
	default:
		return string(r.Mode) + " after " + span
	}
}

// lifetime words a limit on connection age (lo, hi] ended by mode.
func lifetime(lo, hi time.Duration, mode, sch string) string {
	age := Range(lo, hi)
	if lo == 0 {
		age = "at most " + Exact(hi)
	}
	if mode == retired {
		return "the server retires connections at " + age + " of age (" + retireHow(sch) + ")"
	}
	s := "connections are closed " + age + " after they open, whatever was sent since" + about(hi)
	if mode != "" {
		s += " (" + ModeWord(plan.Outcome(mode)) + ")"
	}
	return s
}

// Lifetime is the second limit line, for a connection-age limit found
// beside an idle limit (or beside "no idle limit"), or "".
func Lifetime(r plan.Result) string {
	l := r.Lifetime
	if KindOf(r) == plan.Lifetime || !l.Found {
		return ""
	}
	return lifetime(l.Lower, l.Upper, l.Mode, scheme(r))
}

// Spread says how far failures reach beyond the bracket (jitter, a server
// that checks its idle clients on a timer, several backends), one statement
// each, or nothing.
func Spread(r plan.Result) []string {
	if !r.Found {
		return nil
	}
	sp := r.Spread
	var out []string
	if sp.Last-sp.First > r.Width() {
		s := "closes " + between(sp.First, sp.Last)
		if KindOf(r) == plan.Lifetime {
			s += " of age"
		}
		out = append(out, s)
	}
	if sp.Survived > 0 {
		out = append(out, fmt.Sprintf("%d of %d connections lived past %s (the longest to %s): several backends with different limits, or a server that checks its clients on a coarse timer?",
			sp.Survived, sp.Beyond, approx(r.Upper), approx(sp.LongestSurvived)))
	}
	return out
}

// Server says what the server advertised and how it retired connections,
// next to what was measured, one statement each, or nothing.
func Server(r plan.Result) []string {
	sv := r.Server
	sch := scheme(r)
	var out []string
	if sv.KeepAliveTimeout > 0 {
		s := "advertises Keep-Alive timeout=" + wholeSecs(sv.KeepAliveTimeout)
		if setting := serverSetting[sch]; setting != "" {
			s = "its own idle timeout is " + setting + " " + wholeSecs(sv.KeepAliveTimeout)
		}
		if sv.KeepAliveMax > 0 {
			s += fmt.Sprintf(", max=%d", sv.KeepAliveMax)
		}
		s += " (measured: " + measured(r) + ")"
		if r.Found && KindOf(r) == plan.Idle && r.Upper < sv.KeepAliveTimeout*9/10 {
			s += "; something in front of the server closes sooner"
		}
		out = append(out, s)
	}
	if n := sv.RetiredAtReuse; n > 0 {
		if httpScheme(sch) {
			// The opening request counts.
			out = append(out, fmt.Sprintf("closes a connection after %d requests (keepalive_requests)", n+1))
		} else {
			out = append(out, fmt.Sprintf("closes a connection after %d reuses", n))
		}
	} else if sv.Retired > 0 && r.Lifetime.Mode != retired {
		out = append(out, fmt.Sprintf("ended %d connection(s) itself after answering (%s)", sv.Retired, retireHow(sch)))
	}
	return out
}

// measured is the measurement in a few words, for the server hints.
func measured(r plan.Result) string {
	prefix := ""
	if StatusOf(r) != plan.Measured {
		prefix = "so far "
	}
	switch {
	case !r.Found && StatusOf(r) == plan.Measured:
		return "no limit up to " + Dur(r.Settings.Max)
	case !r.Found:
		return prefix + "no limit seen"
	case KindOf(r) == plan.Lifetime:
		return prefix + "lifetime " + Range(r.Lower, r.Upper)
	case r.Mode == plan.ClosedIdle && r.CloseAge > 0 && prefix == "":
		return "closed at " + Exact(r.CloseAge)
	default:
		return prefix + "limit " + Range(r.Lower, r.Upper) + " idle"
	}
}

// Ending says why a measurement did not end measured, in one line:
// "inconclusive: ...", "unusable: ...", "interrupted: ...", or "" for a
// measured result. An inconclusive ending carries its evidence: why (the
// deadline, contradictions), the bracket so far and how many trials
// contradict it.
func Ending(r plan.Result) string {
	switch StatusOf(r) {
	case plan.Inconclusive:
		why := r.Reason
		if why == "" {
			why = "no clean answer within the deadline"
			if d := r.Settings.Deadline; d > 0 {
				why += " of " + Dur(d)
			}
		}
		s := "inconclusive: " + why
		switch {
		case r.Found:
			s += "; limit in " + Bracket(r.Lower, r.Upper) + " so far"
		case r.Lower > 0:
			s += "; no limit seen so far (survived " + Dur(r.Lower) + ")"
		}
		if !strings.Contains(why, "disagree") && !strings.Contains(why, "contradict") {
			s += fmt.Sprintf("; %d of %d trials contradict it", r.Disagree, r.Agree+r.Disagree)
		}
		return s
	case plan.Unusable:
		if r.Reason == "" {
			return "unusable: the target could not be measured"
		}
		return "unusable: " + r.Reason
	case plan.Interrupted:
		return "interrupted: the bracket is not final"
	}
	return ""
}

// Warning is the flaky-path warning when trials contradict a measured
// bracket, or "".
func Warning(r plan.Result) string {
	if r.Disagree <= 0 || StatusOf(r) != plan.Measured {
		return ""
	}
	return fmt.Sprintf("Warning: %d trial(s) disagree with this bracket: the path may be flaky (restarts, several backends or hops with different limits). Rerun to check.", r.Disagree)
}

// Advice is what an operator should configure, one line each, every line
// starting with "Advice:".
func Advice(r plan.Result) []string {
	switch StatusOf(r) {
	case plan.Interrupted:
		return []string{"Advice: none yet: the measurement did not finish. Run it to the end for a limit you can rely on."}
	case plan.Inconclusive:
		return []string{"Advice: none: the evidence did not settle, so there is no limit to rely on. Rerun to check; allow a longer deadline (--deadline, or deadline: in the config) if the bracket was still narrowing, and look for restarts or backends with different limits."}
	case plan.Unusable:
		if !reused(r) {
			return []string{"Advice: check that the target is reachable from here and that its address, port and scheme are right."}
		}
		return []string{"Advice: make the reuse something the target accepts (tcp://: --send and --expect; a TLS port needs https:// or h2://), or measure the path itself with `idleprobe responder` deployed behind the same hop."}
	}
	var out []string
	if KindOf(r) == plan.Lifetime && r.Found {
		out = append(out, lifetimeAdvice(r.Lower, string(r.Mode), scheme(r)))
	} else {
		out = append(out, idleAdvice(r))
	}
	if l := r.Lifetime; l.Found && KindOf(r) != plan.Lifetime {
		out = append(out, lifetimeAdvice(l.Lower, l.Mode, scheme(r)))
	}
	return out
}

// reused reports whether any connection of r was opened and reused: a
// trial with an outcome other than Error.
func reused(r plan.Result) bool {
	for _, t := range r.Trials {
		if t.Outcome != plan.Error {
			return true
		}
	}
	return false
}

// idleAdvice is the advice for an idle limit (or no limit).
func idleAdvice(r plan.Result) string {
	if !r.Found {
		return fmt.Sprintf("Advice: nothing to change for idle times up to %s: this path kept every idle connection that long. Raise --max to look further.", Dur(r.Settings.Max))
	}
	limit := r.Lower
	if r.Mode == plan.ClosedIdle && r.CloseAge > 0 {
		limit = r.CloseAge
	}
	if limit <= 0 {
		return fmt.Sprintf("Advice: connections failed even after the shortest idle time tried (%s): rerun with a smaller --min, and check that the target keeps connections alive at all.", Dur(r.Settings.Min))
	}
	safe := Safe(SafeLimit(limit))
	if ka, ok := keepaliveAdvice(r); ok {
		// The keepalive check answered: say what it found, not a guess.
		return fmt.Sprintf("Advice: keep %s below %s%s", IdleKnobs, safe, ka)
	}
	switch r.Mode {
	case plan.ClosedIdle, plan.ClosedOnReuse:
		// A close (FIN) comes from an application-level idle timer; TCP
		// keepalive probes carry no data and do not reset it.
		return fmt.Sprintf("Advice: keep %s below %s. TCP keepalive does not help here: the server or a proxy closes idle connections itself.", IdleKnobs, safe)
	case plan.Dropped:
		return fmt.Sprintf("Advice: keep %s below %s, or enable TCP keepalive with an idle time below that. Past the limit, requests on stale connections hang until a timeout instead of failing fast.", IdleKnobs, safe)
	default:
		return fmt.Sprintf("Advice: keep %s below %s, or enable TCP keepalive with an idle time below that.", IdleKnobs, safe)
	}
}

// lifetimeAdvice is the advice for a limit on connection age whose lower
// bound is lower.
func lifetimeAdvice(lower time.Duration, mode, sch string) string {
	if lower <= 0 {
		return "Advice: connections end right after they open, whatever is sent: check that the target keeps connections alive at all (a login timeout? a protocol mismatch?)."
	}
	safe := Safe(SafeLimit(lower))
	if mode == retired {
		return fmt.Sprintf("Advice: the server answers, then closes connections of that age, so no request is lost; to avoid reconnecting in the middle of a burst, keep %s below %s.", LifetimeKnobs, safe)
	}
	s := fmt.Sprintf("Advice: keep %s below %s: connections end at that age whatever their idle time, so idle timeouts and TCP keepalive do not help.", LifetimeKnobs, safe)
	if !httpScheme(sch) {
		s += " Against a database this is its login timeout (PostgreSQL authentication_timeout), not the path: measure the path with `idleprobe responder` behind the same hop."
	}
	return s
}

// KeepaliveSettings names the keepalive check's settings:
// "idle 30s, interval 75s", or "every 20s" for a ping check.
func KeepaliveSettings(r plan.Result) string {
	if pingCheck(r) {
		return "every " + wholeSecs(r.KeepaliveInterval)
	}
	return "idle " + wholeSecs(r.KeepaliveIdle) + ", interval " + wholeSecs(r.KeepaliveInterval)
}

// pingCheck reports whether r's keepalive check was the protocol's ping
// (prober.KeepaliveCheck.Ping): it records no probe count, which TCP
// keepalive always has.
func pingCheck(r plan.Result) bool { return r.KeepaliveIdle > 0 && r.KeepaliveCount == 0 }

// RescueName names what the keepalive check tried: "TCP keepalive",
// "WebSocket ping" or "HTTP/2 PING".
func RescueName(r plan.Result) string {
	if !pingCheck(r) {
		return "TCP keepalive"
	}
	switch scheme(r) {
	case "ws", "wss":
		return "WebSocket ping"
	}
	return "HTTP/2 PING"
}

// Keepalive says what the keepalive check found, or "" when it was not
// asked for.
func Keepalive(r plan.Result) string {
	if r.KeepaliveIdle <= 0 {
		return ""
	}
	switch {
	case r.KeepaliveChecked && r.KeepaliveRescues:
		return "keeps the path alive past its limit (held " + Dur(r.KeepaliveHeld) + ")"
	case r.KeepaliveChecked:
		return "does NOT keep it alive past its limit (" + r.KeepaliveDetail + ")"
	default:
		return r.KeepaliveDetail
	}
}

// keepaliveAdvice is what the advice says about TCP keepalive for a
// measured idle limit: the check's answer when there is one. ok is false
// when there is none and the generic advice applies.
func keepaliveAdvice(r plan.Result) (text string, ok bool) {
	if !r.KeepaliveChecked {
		return "", false
	}
	if r.KeepaliveRescues && pingCheck(r) {
		return ", or keep the " + RescueName(r) + " " + KeepaliveSettings(r) + ": the server accepts it and it keeps this path alive.", true
	}
	if r.KeepaliveRescues {
		return ", or keep TCP keepalive as it is (idle " + wholeSecs(r.KeepaliveIdle) + "): it keeps this path alive.", true
	}
	if pingCheck(r) {
		return ". A " + RescueName(r) + " " + KeepaliveSettings(r) + " does not help on this path (see the check's outcome).", true
	}
	tail := ". TCP keepalive at " + KeepaliveSettings(r) + " does not help on this path"
	if r.Mode == plan.Reset || r.Mode == plan.Dropped {
		tail += " (a shorter keepalive idle and interval, below the limit, might)"
	}
	return tail + ".", true
}
