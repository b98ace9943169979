package advice

// How durations, ages and brackets are printed for people.

import (
	"fmt"
	"time"
)

// Dur prints a duration for people: 250ms, 3.05s, 12.3s, 15m 12s, 1h 2m.
func Dur(d time.Duration) string {
	if d < 0 {
		return "-" + Dur(-d)
	}
	switch {
	case d == 0:
		return "0s"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Round(time.Millisecond)/time.Millisecond)
	case d < 10*time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		d = d.Round(time.Second)
		m, s := d/time.Minute, (d%time.Minute)/time.Second
		if s == 0 {
			return fmt.Sprintf("%dm", m)
		}
		return fmt.Sprintf("%dm %ds", m, s)
	default:
		d = d.Round(time.Minute)
		h, m := d/time.Hour, (d%time.Hour)/time.Minute
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh %dm", h, m)
	}
}

// decimalsFor returns how many decimals make a bracket of width w readable:
// enough to tell its ends apart, no more.
func decimalsFor(w time.Duration) int {
	switch {
	case w >= 100*time.Second:
		return 0
	case w >= time.Second:
		return 1
	case w >= 100*time.Millisecond:
		return 2
	default:
		return 3
	}
}

// secs prints d in seconds with the given decimals, without a unit.
func secs(d time.Duration, decimals int) string {
	return fmt.Sprintf("%.*f", decimals, d.Seconds())
}

// Range prints a bracket as "900.0-917.5 s", with as many decimals as its
// width needs.
func Range(lo, hi time.Duration) string {
	dec := decimalsFor(hi - lo)
	return secs(lo, dec) + "-" + secs(hi, dec) + " s"
}

// Bracket prints a bracket compactly, for progress lines, tables and the
// landing page: "(12.0s, 12.3s]".
func Bracket(lo, hi time.Duration) string {
	dec := decimalsFor(hi - lo)
	return "(" + secs(lo, dec) + "s, " + secs(hi, dec) + "s]"
}

// about gives the size of a long duration in words: " (about 15m 18s)", or
// nothing below two minutes.
func about(d time.Duration) string {
	if d < 2*time.Minute {
		return ""
	}
	return " (about " + Dur(d) + ")"
}

// Exact prints an exactly known age: "5.00 s", "900.0 s (15m)".
func Exact(d time.Duration) string {
	dec := 2
	if d >= 100*time.Second {
		dec = 1
	}
	s := secs(d, dec) + " s"
	if d >= 2*time.Minute {
		s += " (" + Dur(d) + ")"
	}
	return s
}

// approx prints an age known to about a tenth of a second: "6.0 s",
// "912 s (about 15m 12s)".
func approx(d time.Duration) string {
	dec := 1
	if d >= 100*time.Second {
		dec = 0
	}
	return secs(d, dec) + " s" + about(d)
}

// between prints two ages a spread apart: "between 3.00 and 3.10 s".
func between(lo, hi time.Duration) string {
	dec := decimalsFor(hi - lo)
	return "between " + secs(lo, dec) + " and " + secs(hi, dec) + " s"
}

// safetyMargin is the fraction of the measured limit the advice keeps in
// reserve: clocks differ, limits drift, and timers fire late.
const safetyMargin = 0.10

// SafeLimit is the limit minus the safety margin, rounded down to a unit a
// person would put in a config file.
func SafeLimit(limit time.Duration) time.Duration {
	v := time.Duration(float64(limit) * (1 - safetyMargin))
	var unit time.Duration
	switch {
	case v >= 10*time.Second:
		unit = time.Second
	case v >= time.Second:
		unit = 100 * time.Millisecond
	default:
		unit = 10 * time.Millisecond
	}
	return v.Truncate(unit)
}

// Safe prints an advice value: "58 s", "810 s (13m 30s)" for long ones,
// "2.7 s", "450 ms".
func Safe(d time.Duration) string {
	switch {
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d s (%s)", int64(d/time.Second), Dur(d))
	case d >= 10*time.Second:
		return fmt.Sprintf("%d s", int64(d/time.Second))
	case d >= time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	default:
		return fmt.Sprintf("%d ms", int64(d/time.Millisecond))
	}
}

// wholeSecs prints a duration the kernel counts in seconds: "75s".
func wholeSecs(d time.Duration) string {
	if d%time.Second != 0 {
		return Dur(d)
	}
	return fmt.Sprintf("%ds", int64(d/time.Second))
}
