// Package chart draws the pictures of a measurement as SVG: the trials of
// one measurement (idle age against when it was known, outcome by colour,
// the bracket shaded, the client idle timeout as a line) and the history of
// a path's limit. It is the one definition used by the landing page of
// `idleprobe serve` and by `idleprobe measure --output svg|html`.
//
// The SVG is self-contained (no script, no external reference, no fonts to
// load), every text in it is XML-escaped, and it scales with its viewBox,
// so it can be written to a file or put inline in an HTML page.
package chart

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Size of a chart in SVG user units, and its margins (room for the axes,
// their labels, the title and the legend).
const (
	width        = 720
	height       = 360
	marginLeft   = 64
	marginRight  = 24
	marginTop    = 66
	marginBottom = 44
	plotW        = width - marginLeft - marginRight
	plotH        = height - marginTop - marginBottom
)

// svg accumulates the elements of one chart; write errors are kept and
// returned at the end.
type svg struct {
	b strings.Builder
}

// esc returns s escaped for XML text and attribute values (also safe in
// HTML).
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (s *svg) open(kind, title string) {
	fmt.Fprintf(&s.b, `<svg xmlns="http://www.w3.org/2000/svg" class="idleprobe-chart" data-chart="%s" viewBox="0 0 %d %d" width="%d" height="%d" role="img" font-family="sans-serif" font-size="12">`,
		kind, width, height, width, height)
	fmt.Fprintf(&s.b, `<title>%s</title>`, esc(title))
	fmt.Fprintf(&s.b, `<rect class="background" x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`, width, height)
	fmt.Fprintf(&s.b, `<text class="title" x="%d" y="20" font-size="14" font-weight="bold">%s</text>`, marginLeft, esc(title))
}

func (s *svg) close(w io.Writer) error {
	s.b.WriteString("</svg>\n")
	_, err := io.WriteString(w, s.b.String())
	return err
}

func (s *svg) raw(format string, args ...any) { fmt.Fprintf(&s.b, format, args...) }

// text writes an escaped text element.
func (s *svg) text(class string, x, y float64, anchor, fill, t string) {
	s.raw(`<text class="%s" x="%.1f" y="%.1f" text-anchor="%s" fill="%s">%s</text>`, class, x, y, anchor, fill, esc(t))
}

// frame draws the plot area's border and the axis titles.
func (s *svg) frame(xTitle, yTitle string) {
	s.raw(`<rect class="plot" x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`, marginLeft, marginTop, plotW, plotH)
	s.text("axis-title", marginLeft+plotW/2, height-6, "middle", "#333", xTitle)
	s.raw(`<text class="axis-title" x="14" y="%d" text-anchor="middle" fill="#333" transform="rotate(-90 14 %d)">%s</text>`,
		marginTop+plotH/2, marginTop+plotH/2, esc(yTitle))
}

// scale maps [0, max] (seconds) onto a pixel range.
type scale struct {
	max      float64
	from, to float64
}

func (sc scale) at(v float64) float64 {
	if sc.max <= 0 {
		return sc.from
	}
	return sc.from + (sc.to-sc.from)*v/sc.max
}

// niceStep returns a step that cuts [0, max] (seconds) into about n
// intervals: 1, 2 or 5 times a power of ten below a minute, whole minutes
// and hours (1, 2, 5, 10, 15, 30 min; 1, 2, 3, 6, 12, 24 h) above.
func niceStep(max float64, n int) float64 {
	if max <= 0 || n <= 0 {
		return 1
	}
	raw := max / float64(n)
	if raw >= 30 {
		for _, s := range []float64{60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400} {
			if s >= raw {
				return s
			}
		}
		return math.Ceil(raw/86400) * 86400
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// niceMax rounds max up to a whole number of niceStep(max, n).
func niceMax(max float64, n int) (top, step float64) {
	if max <= 0 {
		max = 1
	}
	step = niceStep(max, n)
	return math.Ceil(max/step-1e-9) * step, step
}

// secs formats a tick value in seconds with the units people read.
func secs(v float64) string {
	d := time.Duration(v * float64(time.Second))
	switch {
	case v == 0:
		return "0"
	case d < time.Second:
		return fmt.Sprintf("%gms", math.Round(v*1e4)/10)
	case d < 2*time.Minute:
		return fmt.Sprintf("%gs", math.Round(v*100)/100)
	case d < 2*time.Hour:
		return fmt.Sprintf("%gm", math.Round(v/60*10)/10)
	default:
		return fmt.Sprintf("%gh", math.Round(v/3600*10)/10)
	}
}

// xTicks draws vertical grid lines and labels for a seconds axis.
func (s *svg) xTicks(sc scale, step float64) {
	for v := 0.0; v <= sc.max+step/1e6; v += step {
		x := sc.at(v)
		s.raw(`<line class="grid" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`, x, marginTop, x, marginTop+plotH)
		s.text("tick", x, marginTop+plotH+16, "middle", "#555", secs(v))
	}
}

// yTicks draws horizontal grid lines and labels for a seconds axis.
func (s *svg) yTicks(sc scale, step float64) {
	for v := 0.0; v <= sc.max+step/1e6; v += step {
		y := sc.at(v)
		s.raw(`<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`, marginLeft, y, marginLeft+plotW, y)
		s.text("tick", marginLeft-6, y+4, "end", "#555", secs(v))
	}
}

// legend draws coloured swatches with their names above the plot, in one
// row, or two when they do not fit in one.
func (s *svg) legend(items []legendItem) {
	x, y := float64(marginLeft), 42.0
	for _, it := range items {
		w := 18 + 6.6*float64(len(it.name)) + 14
		if x+w > width-marginRight && x > marginLeft {
			x, y = marginLeft, y+15
		}
		switch it.shape {
		case "line":
			s.raw(`<line class="legend-swatch" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="6 3"/>`, x, y-4, x+14, y-4, it.colour)
		case "band":
			s.raw(`<rect class="legend-swatch" x="%.1f" y="%.1f" width="14" height="10" fill="%s" stroke="#c9a227"/>`, x, y-9, it.colour)
		case "hollow":
			s.raw(`<circle class="legend-swatch" cx="%.1f" cy="%.1f" r="4" fill="#fff" stroke="%s" stroke-width="2"/>`, x+7, y-4, it.colour)
		default:
			s.raw(`<circle class="legend-swatch" cx="%.1f" cy="%.1f" r="5" fill="%s"/>`, x+7, y-4, it.colour)
		}
		s.text("legend", x+18, y, "start", "#333", it.name)
		x += w
	}
}

type legendItem struct {
	name, colour, shape string
}
