package chart

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/idleprobe/idleprobe/internal/advice"
)

// Point is one published result in a path's history: when it was
// measured and its bracket (Lower, Upper], or "no limit up to Lower" when
// not Found.
type Point struct {
	At           time.Time
	Lower, Upper time.Duration
	Found        bool
}

// History writes the SVG chart of a path's limit over time: the bracket of
// every published result as a shaded band between its lower and upper
// bounds (a result without limit is drawn at its lower bound, hollow), and
// clientIdle, when above 0, as a line. points must be in time order.
func History(w io.Writer, title string, points []Point, clientIdle time.Duration) error {
	var s svg
	s.open("history", title)
	top := clientIdle
	for _, p := range points {
		top = max(top, p.Lower)
		if p.Found {
			top = max(top, p.Upper)
		}
	}
	yTop, yStep := niceMax(top.Seconds()*1.1, 5)
	ys := scale{max: yTop, from: marginTop + plotH, to: marginTop}
	s.frame("measured at (UTC)", "idle limit")
	s.yTicks(ys, yStep)

	var t0, t1 time.Time
	if len(points) > 0 {
		t0, t1 = points[0].At, points[len(points)-1].At
	}
	span := t1.Sub(t0)
	xAt := func(t time.Time) float64 {
		if span <= 0 {
			return marginLeft + plotW/2
		}
		return marginLeft + 12 + (plotW-24)*t.Sub(t0).Seconds()/span.Seconds()
	}
	s.timeTicks(t0, t1, xAt)

	items := []legendItem{{"limit (lower, upper]", bracketFill, "band"}}
	// The band between the bounds of consecutive found results.
	var upper, lower []string
	flush := func() {
		if len(upper) == 0 {
			return
		}
		for i := len(lower) - 1; i >= 0; i-- {
			upper = append(upper, lower[i])
		}
		s.raw(`<polygon class="history-band" points="%s" fill="%s" stroke="#c9a227" fill-opacity="0.8"/>`, strings.Join(upper, " "), bracketFill)
		upper, lower = nil, nil
	}
	noLimit := false
	for _, p := range points {
		if !p.Found {
			noLimit = true
			flush()
			continue
		}
		x := xAt(p.At)
		upper = append(upper, fmt.Sprintf("%.1f,%.1f", x, ys.at(p.Upper.Seconds())))
		lower = append(lower, fmt.Sprintf("%.1f,%.1f", x, ys.at(p.Lower.Seconds())))
	}
	flush()
	for _, p := range points {
		x := xAt(p.At)
		tip := p.At.UTC().Format(time.RFC3339) + ": "
		if p.Found {
			tip += "limit " + advice.Bracket(p.Lower, p.Upper)
			s.raw(`<line class="history-bracket" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#8a6d00" stroke-width="3"/>`,
				x, ys.at(p.Lower.Seconds()), x, ys.at(p.Upper.Seconds()))
			s.raw(`<circle class="history-point" cx="%.1f" cy="%.1f" r="3.5" fill="#8a6d00"><title>%s</title></circle>`,
				x, ys.at(p.Lower.Seconds()), esc(tip))
			continue
		}
		tip += "no limit up to " + advice.Dur(p.Lower)
		s.raw(`<circle class="history-point no-limit" cx="%.1f" cy="%.1f" r="4" fill="#fff" stroke="#2a9d3a" stroke-width="2"><title>%s</title></circle>`,
			x, ys.at(p.Lower.Seconds()), esc(tip))
	}
	if noLimit {
		items = append(items, legendItem{"no limit up to max", "#2a9d3a", "hollow"})
	}
	if clientIdle > 0 {
		y := ys.at(clientIdle.Seconds())
		s.raw(`<line class="client-idle" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="6 3"><title>%s</title></line>`,
			marginLeft, y, marginLeft+plotW, y, clientLine, esc("client idle timeout "+advice.Dur(clientIdle)))
		items = append(items, legendItem{"client idle timeout " + advice.Dur(clientIdle), clientLine, "line"})
	}
	if len(points) == 0 {
		s.text("empty", marginLeft+plotW/2, marginTop+plotH/2, "middle", "#777", "no published result yet")
	}
	s.legend(items)
	return s.close(w)
}

// timeTicks labels the time axis at its two ends and, when they differ,
// in between.
func (s *svg) timeTicks(t0, t1 time.Time, xAt func(time.Time) float64) {
	if t0.IsZero() {
		return
	}
	n := 4
	if !t1.After(t0) {
		n = 0
	}
	for i := 0; i <= n; i++ {
		t := t0
		if n > 0 {
			t = t0.Add(time.Duration(float64(t1.Sub(t0)) * float64(i) / float64(n)))
		}
		x := xAt(t)
		s.raw(`<line class="grid" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`, x, marginTop, x, marginTop+plotH)
		s.text("tick", x, marginTop+plotH+16, "middle", "#555", t.UTC().Format("01-02 15:04"))
	}
}
