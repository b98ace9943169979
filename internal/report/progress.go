package report

// The live progress line of a measurement on a terminal.

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/prober"
)

// display redraws one progress line on a terminal, at most four times a
// second, from the latest snapshot.
type display struct {
	w    io.Writer
	mu   sync.Mutex
	snap progressSnap
	quit chan struct{}
	done chan struct{}
}

func startDisplay(w io.Writer, started time.Time) *display {
	d := &display{w: w, snap: progressSnap{at: started, started: started}, quit: make(chan struct{}), done: make(chan struct{})}
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
	for {
		select {
		case <-d.quit:
			fmt.Fprint(d.w, "\r\x1b[K")
			return
		case now := <-t.C:
			d.mu.Lock()
			s := d.snap
			d.mu.Unlock()
			fmt.Fprint(d.w, "\r"+progressLine(s, now)+"\x1b[K")
		}
	}
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
	live, trials int
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

// progressLine renders the live status at now.
func progressLine(s progressSnap, now time.Time) string {
	var b strings.Builder
	if el := now.Sub(s.started); el < time.Minute {
		fmt.Fprintf(&b, "%.1fs elapsed | ", el.Seconds())
	} else {
		fmt.Fprintf(&b, "%s elapsed | ", advice.Dur(el))
	}
	switch {
	case s.found:
		b.WriteString("limit in " + advice.Bracket(s.lower, s.upper))
	case s.lower > 0:
		b.WriteString("> " + advice.Dur(s.lower) + " so far")
	default:
		b.WriteString("no trial done yet")
	}
	if s.keepalive {
		rescue := s.rescue
		if rescue == "" {
			rescue = "TCP keepalive"
		}
		b.WriteString(" | checking " + rescue + "...")
	}
	fmt.Fprintf(&b, " | %d live conn", s.live)
	if s.live != 1 {
		b.WriteString("s")
	}
	fmt.Fprintf(&b, " | %d trial", s.trials)
	if s.trials != 1 {
		b.WriteString("s")
	}
	if s.remaining > 0 {
		left := s.remaining - now.Sub(s.at)
		if left < 0 {
			left = 0
		}
		if left < time.Minute {
			fmt.Fprintf(&b, " | about %ds left", int64(left.Round(time.Second)/time.Second))
		} else {
			b.WriteString(" | about " + advice.Dur(left) + " left")
		}
	}
	return b.String()
}
