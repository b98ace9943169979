package prober

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// idleMonitor decodes, while a framed connection (HTTP/2, WebSocket) is
// idle, what its watcher stashes, and records the first idle close (a
// GOAWAY or close frame, a TLS close_notify, a FIN or an RST) at the moment
// it arrived. scan decodes what is stashed and reports whether the
// connection is finished; it never writes.
//
// It has no goroutine of its own while idle: the watcher's notify hook
// starts one when bytes arrive (or the connection ends), and it ends once
// they are decoded. So an idle connection costs the watcher alone, and the
// deep stack of TLS, framing and HPACK lives only as long as a decode.
type idleMonitor struct {
	scan func() bool

	mu    sync.Mutex
	on    bool // started and not stopped
	over  bool // a decode found the connection finished: no more until restarted
	again bool // bytes arrived while a decode ran
	// scanning is closed when the running decode ends; nil when none runs.
	scanning chan struct{}

	// closed fires at the idle close; closedCh is its channel.
	closed   closeSignal
	closedCh chan struct{}

	closeMu   sync.Mutex
	closeSeen bool
	closeAt   time.Time
	closeWhy  string
}

// newIdleMonitor returns the monitor of wc's stream, decoding with scan. It
// hooks wc's watcher, so it must be made before the watcher starts.
func newIdleMonitor(wc *watchedConn, scan func() bool) *idleMonitor {
	m := &idleMonitor{scan: scan, closed: newCloseSignal()}
	m.closedCh = m.closed.ch
	wc.onNotify = m.kick
	return m
}

// signalClose records the idle close once.
func (m *idleMonitor) signalClose(at time.Time, detail string) {
	m.closeMu.Lock()
	defer m.closeMu.Unlock()
	if m.closeSeen {
		return
	}
	m.closeSeen, m.closeAt, m.closeWhy = true, at, detail
	m.closed.fire()
}

// idleClose returns the idle close, if one was seen.
func (m *idleMonitor) idleClose() (time.Time, string, bool) {
	m.closeMu.Lock()
	defer m.closeMu.Unlock()
	return m.closeAt, m.closeWhy, m.closeSeen
}

// start starts decoding what arrives while idle, beginning with what has
// arrived already.
func (m *idleMonitor) start() {
	m.mu.Lock()
	if m.on {
		m.mu.Unlock()
		return
	}
	m.on, m.over = true, false
	m.mu.Unlock()
	m.kick()
}

// kick is the watcher's notify hook: it starts a decode unless one runs
// (which then goes round again) or the monitor is stopped or over.
func (m *idleMonitor) kick() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.on || m.over {
		return
	}
	if m.scanning != nil {
		m.again = true
		return
	}
	m.scanning = make(chan struct{})
	go m.run(m.scanning)
}

// stop stops the idle decoder and waits for a decode that runs.
func (m *idleMonitor) stop() {
	m.mu.Lock()
	m.on = false
	done := m.scanning
	m.mu.Unlock()
	if done != nil {
		<-done
	}
}

// run decodes what the watcher has stashed, again while more arrives,
// until a close is seen or the monitor is stopped.
func (m *idleMonitor) run(done chan struct{}) {
	for {
		finished := m.scan()
		m.mu.Lock()
		if finished {
			m.over = true
		}
		if finished || !m.again || !m.on {
			m.again, m.scanning = false, nil
			m.mu.Unlock()
			close(done)
			return
		}
		m.again = false
		m.mu.Unlock()
	}
}

// decodeFailed ends a decode (begun at now) of what wc stashed that met
// err, other than running out of bytes, and reports that the connection
// is finished. The end of the decoded stream (io.EOF: a TLS close_notify)
// is the idle close: at the watcher's end when it saw one (its moment and
// cause), else at now. Any other error breaks the connection (*broken,
// unless broken already), described as what ("while idle") and err.
func (m *idleMonitor) decodeFailed(wc *watchedConn, now time.Time, err error, broken *error, what string) bool {
	if errors.Is(err, io.EOF) {
		at, detail := wc.watcherEnd()
		if at.IsZero() {
			at, detail = now, "EOF (TLS close_notify)"
		}
		m.signalClose(at, detail)
		return true
	}
	if *broken == nil {
		*broken = fmt.Errorf("%s: %s", what, oneLine(err.Error()))
	}
	return true
}

// scanned ends a decode that used up what wc's watcher stashed: the
// watcher's end, if it saw one, is the idle close; otherwise a stash that
// overflowed breaks the connection (*broken, unless broken already). It
// reports whether the connection is finished.
func (m *idleMonitor) scanned(wc *watchedConn, broken *error) bool {
	if at, detail := wc.watcherEnd(); !at.IsZero() {
		m.signalClose(at, detail)
		return true
	}
	wc.mu.Lock()
	overflow := wc.overflow
	wc.mu.Unlock()
	if overflow && *broken == nil {
		*broken = errIdleOverflow
	}
	return *broken != nil
}

// watcherEnd returns when and how the raw watcher saw the connection end,
// or a zero time.
func (c *watchedConn) watcherEnd() (time.Time, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		return time.Time{}, ""
	}
	return c.endAt, closeDetail(c.endErr)
}

// pinger sends a protocol ping every interval while a connection is idle.
// Only the ping check (KeepaliveCheck.Ping) starts one; trial connections
// never ping.
type pinger struct {
	stop, done chan struct{}
}

// startPinger pings every interval from idleSince on, until halted or a
// ping fails (the idle decoder sees why).
func startPinger(interval time.Duration, idleSince time.Time, ping func() error) *pinger {
	p := &pinger{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		next := idleSince.Add(interval)
		timer := time.NewTimer(time.Until(next))
		defer timer.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-timer.C:
			}
			if ping() != nil {
				return
			}
			next = next.Add(interval)
			timer.Reset(time.Until(next))
		}
	}()
	return p
}

// halt stops the pinger and waits for it; a nil pinger is fine.
func (p *pinger) halt() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
}
