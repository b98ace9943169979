package advice

import (
	"strings"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Fact is one labelled statement about a result or a path, as every view
// shows it: "Label: Text" on the pages, a padded row in the summary.
type Fact struct {
	Label, Text string
}

// Labels of the facts, shared by the summary, the pages and check-config.
const (
	LabelDirection = "Direction"
	LabelHint      = "Hint"
	LabelLifetime  = "Lifetime limit"
	LabelSpread    = "Spread"
	LabelServer    = "Server"
	LabelProxy     = "Proxy"
	LabelEndedBy   = "Ended by"
	LabelGroup     = "Group"
	LabelFamily    = "Family"
)

// Direction says who sent after the idle time when it was the server, or
// "" for the client (what most paths measure).
func Direction(r plan.Result) string {
	if r.Direction != prober.DirectionServer {
		return ""
	}
	return "server: after the idle time the server sent, and the bytes had to arrive"
}

// Hint says where a hinted search started and whether the limit was still
// there, or "" for a search that was not hinted.
func Hint(r plan.Result) string {
	if r.Hint.From <= 0 {
		return ""
	}
	from := "started from " + Dur(r.Hint.From) + " (the previous answer)"
	switch {
	case r.Hint.Held:
		return from + ": the limit has not moved"
	case StatusOf(r) == plan.Measured:
		return from + ": the trials contradicted it; the search went on from what they showed"
	}
	return from + ": the trials did not confirm it"
}

// Proxy is the line on the forward proxy a path went through (JudgeProxy's
// verdict): who closed, and why; "" for a path without proxy.
func Proxy(v *prober.ProxyVerdict) string {
	switch {
	case v == nil:
		return ""
	case v.ClosedBy == "":
		return v.Detail
	}
	return "closed by " + v.ClosedBy + ": " + v.Detail
}

// Setup is what a result says about how it was measured, before its
// findings: the direction (when the server sent) and the hint it started
// from.
func Setup(r plan.Result) []Fact {
	var out []Fact
	if d := Direction(r); d != "" {
		out = append(out, Fact{LabelDirection, d})
	}
	if h := Hint(r); h != "" {
		out = append(out, Fact{LabelHint, h})
	}
	return out
}

// Findings is what a result found, in the order every view shows it: the
// limit on its clock, a second (lifetime) limit, the spread of closes,
// what the server advertised (a database's own idle timeout), the proxy
// verdict (v nil: the path has no proxy) and who ended the connections.
func Findings(r plan.Result, v *prober.ProxyVerdict) []Fact {
	out := []Fact{{Heading(r), Limit(r)}}
	add := func(label, text string) {
		if text != "" {
			out = append(out, Fact{label, text})
		}
	}
	add(LabelLifetime, Lifetime(r))
	add(LabelSpread, join(Spread(r)))
	add(LabelServer, join(Server(r)))
	add(LabelProxy, Proxy(v))
	add(LabelEndedBy, EndedBy(r))
	return out
}

// join joins statements with "; ".
func join(s []string) string { return strings.Join(s, "; ") }

// Route is how a configured path reaches its target, beyond the target
// itself: for the views that list paths (check-config, the landing page).
type Route struct {
	// Direction is who sends after the idle time, as the path is
	// measured (prober.EffectiveDirection).
	Direction string
	// Proxy is the forward proxy, nil for none.
	Proxy *prober.Proxy
	// Group is the backend the path reaches ("" for none); Family the
	// address family ("4", "6", "" for the resolver's choice).
	Group, Family string
}

// DirectionName is the direction of a route as a table shows it: "server",
// or "" for the client (the default).
func (rt Route) DirectionName() string {
	if rt.Direction == prober.DirectionServer {
		return prober.DirectionServer
	}
	return ""
}

// ProxyName is the proxy's URL without credentials, or "".
func (rt Route) ProxyName() string { return rt.Proxy.String() }

// FamilyName is "IPv4", "IPv6", or "" for the resolver's choice
// (prober.FamilyName).
func (rt Route) FamilyName() string { return prober.FamilyName(rt.Family) }

// Facts are the route's settings that are not the default, one each.
func (rt Route) Facts() []Fact {
	var out []Fact
	add := func(label, text string) {
		if text != "" {
			out = append(out, Fact{label, text})
		}
	}
	add(LabelDirection, rt.DirectionName())
	add(LabelProxy, rt.ProxyName())
	add(LabelGroup, rt.Group)
	add(LabelFamily, rt.FamilyName())
	return out
}
