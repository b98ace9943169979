package report

// The live progress line of a measurement on a terminal.

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/prober"
)

// display redraws one progress line on a terminal, at most four times a
// second, from the latest snapshot. The line never reaches the terminal's
// last column (so it never wraps into a second line that the next redraw
// would leave behind), and each redraw clears the rest of the line.
type display struct {
	w    io.Writer
	mu   sync.Mutex
	snap progressSnap
	// width returns the terminal's columns now (0: unknown); open, when
	// set, the connections open now (counted as they are opened and
	// closed, so that the line is right before the first snapshot).
	width func() int
	open  func() int
	quit  chan struct{}
	done  chan struct{}
}

func startDisplay(w io.Writer, started time.Time, width, open func() int) *display {
	if width == nil {
		width = func() int { return 0 }
	}
	d := &display{w: w, snap: progressSnap{at: started, started: started, live: -1}, width: width, open: open,
		quit: make(chan struct{}), done: make(chan struct{})}
	go d.loop()
	return d
}

// update records a progress snapshot; called from the measuring goroutine.
func (d *display) update(p prober.Progress) {
	s := snapOf(p)
	d.mu.Lock()
	if s.started.IsZero() {
		s.started = d.snap.started
	}
	if s.at.IsZero() {
		s.at = time.Now()
	}
	d.snap = s
	d.mu.Unlock()
}

func (d *display) loop() {
	defer close(d.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	d.draw(time.Now())
	for {
		select {
		case <-d.quit:
			fmt.Fprint(d.w, "\r\x1b[K")
			return
		case now := <-t.C:
			d.draw(now)
		}
	}
}

func (d *display) draw(now time.Time) {
	d.mu.Lock()
	s := d.snap
	d.mu.Unlock()
	if d.open != nil {
		s.live = d.open()
	}
	fmt.Fprint(d.w, "\r"+progressLine(s, now, d.width())+"\x1b[K")
}

// stop clears the progress line and waits for the redraw loop to end.
func (d *display) stop() {
	close(d.quit)
	<-d.done
}

// progressSnap is what the live display needs from a prober.Progress.
type progressSnap struct {
	at, started  time.Time
	lower, upper time.Duration
	found        bool
	live, trials int // live < 0: not known yet
	remaining    time.Duration
	keepalive    bool   // the search is done; the TCP keepalive check runs
	rescue       string // what the check tries: "TCP keepalive", "HTTP/2 PING"...
}

func snapOf(p prober.Progress) progressSnap {
	return progressSnap{
		at: p.Now, started: p.Started,
		lower: p.Partial.Lower, upper: p.Partial.Upper, found: p.Partial.Found,
		live: p.Live, trials: len(p.Partial.Trials), remaining: p.Remaining,
		keepalive: p.Keepalive, rescue: advice.RescueName(p.Partial),
	}
}

// progressLine renders the live status at now, shorter than width columns
// (any length when width is 0): the parts that matter least (trials, then
// connections, then the word "elapsed") are left out first, then the line
// is cut.
//
// The time left is what is known: once a failure bracketed the limit, the
// planner's estimate of the search still to run; before that, the search
// ends early at the first failure, so the line says how far it got without
// one and when it ends if none comes ("no failure yet up to 2.90s; ends by
// 1h 1m if none"), not a countdown to --max.
func progressLine(s progressSnap, now time.Time, width int) string {
	el := now.Sub(s.started)
	elapsed := advice.Dur(el) + " elapsed"
	if el < time.Minute {
		elapsed = fmt.Sprintf("%.1fs elapsed", el.Seconds())
	}
	var state string
	switch {
	case s.found:
		state = "limit in " + advice.Bracket(s.lower, s.upper)
		if s.keepalive {
			rescue := s.rescue
			if rescue == "" {
				rescue = "TCP keepalive"
			}
			state += " | checking " + rescue + "..."
		}
		if s.remaining > 0 {
			if left := max(s.remaining-now.Sub(s.at), 0); left > 0 {
				state += " | about " + approxLeft(left) + " left"
			} else {
				state += " | finishing"
			}
		}
	default:
		if s.trials == 0 && s.lower == 0 {
			state = "no trial done yet"
		} else {
			state = "no failure yet up to " + advice.Dur(s.lower)
		}
		if s.remaining > 0 {
			state += "; ends by " + advice.Dur(s.at.Sub(s.started)+s.remaining) + " if none"
		}
	}
	parts := []string{elapsed, state}
	var conns, trials string
	if s.live >= 0 {
		conns = plural(s.live, "conn") + " open"
	}
	trials = plural(s.trials, "trial")
	// Drop the least useful parts until the line fits; then say the
	// elapsed time without its word; then cut.
	for _, extra := range [][]string{{conns, trials}, {conns}, nil} {
		line := join(append(parts[:2:2], extra...))
		if width <= 0 || runeLen(line) < width {
			return line
		}
	}
	return cut(join([]string{strings.TrimSuffix(elapsed, " elapsed"), state}), width-1)
}

// approxLeft is a time left, in whole seconds below a minute.
func approxLeft(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%ds", int64(d.Round(time.Second)/time.Second))
	}
	return advice.Dur(d)
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func join(parts []string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " | ")
}

func runeLen(s string) int { return len([]rune(s)) }

// cut shortens s to at most n runes.
func cut(s string, n int) string {
	r := []rune(s)
	if n < 0 {
		n = 0
	}
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// connCounter counts the trial connections open now: Measure asks its
// Limiter before each connection and releases it once closed. It wraps the
// caller's Limiter, if any.
type connCounter struct {
	inner prober.Limiter
	n     atomic.Int64
}

// Acquire implements prober.Limiter.
func (c *connCounter) Acquire(ctx context.Context) error {
	if c.inner != nil {
		if err := c.inner.Acquire(ctx); err != nil {
			return err
		}
	}
	c.n.Add(1)
	return nil
}

// Release implements prober.Limiter.
func (c *connCounter) Release() {
	c.n.Add(-1)
	if c.inner != nil {
		c.inner.Release()
	}
}

func (c *connCounter) open() int { return int(max(c.n.Load(), 0)) }
