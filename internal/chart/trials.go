package chart

import (
	"fmt"
	"io"
	"time"

	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Colours of the outcomes (one definition, also used by the legend).
var outcomeColours = map[plan.Outcome]string{
	plan.OK:            "#2a9d3a",
	plan.Reset:         "#d62828",
	plan.ClosedIdle:    "#f77f00",
	plan.ClosedOnReuse: "#7b2cbf",
	plan.Dropped:       "#222222",
	plan.Slow:          "#3a86ff",
	plan.Error:         "#999999",
}

// Colours of the bracket band and the client idle timeout line.
const (
	bracketFill = "#fff1b8"
	clientLine  = "#c1121f"
)

// OutcomeColour is the colour of a trial outcome in the charts.
func OutcomeColour(o plan.Outcome) string {
	if c, ok := outcomeColours[o]; ok {
		return c
	}
	return outcomeColours[plan.Error]
}

// Trials writes the SVG chart of one measurement: every trial as a dot at
// its age on the limit's clock (idle time, or connection age for a lifetime
// limit) across, and the time since the measurement began at which its
// outcome was known down; the colour is the outcome. The bracket (Lower,
// Upper] is shaded; clientIdle, when above 0, is drawn as a line. title
// names the path (escaped).
func Trials(w io.Writer, title string, r plan.Result, clientIdle time.Duration) error {
	var s svg
	s.open("trials", title)
	lifetime := advice.KindOf(r) == plan.Lifetime
	age := func(t plan.Trial) time.Duration {
		if lifetime {
			return t.ConnAge
		}
		return t.Age
	}
	// The axes hold every trial, the bracket and the client's timeout.
	maxAge, maxWhen := r.Lower, time.Duration(0)
	if r.Found {
		maxAge = max(maxAge, r.Upper)
	}
	maxAge = max(maxAge, clientIdle)
	for _, t := range r.Trials {
		maxAge = max(maxAge, age(t))
		maxWhen = max(maxWhen, when(r, t))
	}
	xTop, xStep := niceMax(maxAge.Seconds()*1.05, 8)
	yTop, yStep := niceMax(maxWhen.Seconds()*1.05, 5)
	xs := scale{max: xTop, from: marginLeft, to: marginLeft + plotW}
	ys := scale{max: yTop, from: marginTop, to: marginTop + plotH}

	xTitle := "idle time before reuse"
	if lifetime {
		xTitle = "connection age (lifetime limit)"
	}
	s.frame(xTitle, "time into the measurement")
	s.xTicks(xs, xStep)
	s.yTicks(ys, yStep)

	items := []legendItem{}
	if r.Found {
		x0, x1 := xs.at(r.Lower.Seconds()), xs.at(r.Upper.Seconds())
		s.raw(`<rect class="bracket" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" fill-opacity="0.8" stroke="#c9a227"><title>%s</title></rect>`,
			x0, marginTop, max(x1-x0, 2), plotH, bracketFill, esc("limit "+advice.Bracket(r.Lower, r.Upper)))
		items = append(items, legendItem{"limit " + advice.Bracket(r.Lower, r.Upper), bracketFill, "band"})
	} else if r.Lower > 0 {
		x := xs.at(r.Lower.Seconds())
		s.raw(`<line class="lower-bound" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#2a9d3a" stroke-width="2"/>`, x, marginTop, x, marginTop+plotH)
		items = append(items, legendItem{"no limit up to " + advice.Dur(r.Lower), "#2a9d3a", "line"})
	}
	if clientIdle > 0 {
		x := xs.at(clientIdle.Seconds())
		s.raw(`<line class="client-idle" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2" stroke-dasharray="6 3"><title>%s</title></line>`,
			x, marginTop, x, marginTop+plotH, clientLine, esc("client idle timeout "+advice.Dur(clientIdle)))
		items = append(items, legendItem{"client idle timeout " + advice.Dur(clientIdle), clientLine, "line"})
	}
	seen := map[plan.Outcome]bool{}
	for _, t := range r.Trials {
		seen[t.Outcome] = true
		stroke := ""
		if t.Confirm {
			stroke = ` stroke="#000" stroke-width="1.5"`
		}
		s.raw(`<circle class="trial outcome-%s" cx="%.1f" cy="%.1f" r="4" fill="%s" fill-opacity="0.85"%s><title>%s</title></circle>`,
			t.Outcome, xs.at(age(t).Seconds()), ys.at(when(r, t).Seconds()), OutcomeColour(t.Outcome), stroke, esc(trialTip(t)))
	}
	for _, o := range plan.Outcomes {
		if seen[o] {
			items = append(items, legendItem{string(o), OutcomeColour(o), "dot"})
		}
	}
	if len(r.Trials) == 0 {
		s.text("empty", marginLeft+plotW/2, marginTop+plotH/2, "middle", "#777", "the trials of this measurement are not kept")
	}
	s.legend(items)
	return s.close(w)
}

// when is how far into the measurement a trial's outcome was known.
func when(r plan.Result, t plan.Trial) time.Duration {
	if t.End.IsZero() || r.Started.IsZero() || t.End.Before(r.Started) {
		return 0
	}
	return t.End.Sub(r.Started)
}

// trialTip is the tooltip of one trial.
func trialTip(t plan.Trial) string {
	s := fmt.Sprintf("conn %d: %s after %s idle (connection age %s)", t.Conn, t.Outcome, advice.Dur(t.Age), advice.Dur(t.ConnAge))
	if t.Confirm {
		s += ", confirmation"
	}
	if t.Detail != "" {
		s += ": " + t.Detail
	}
	return s
}
