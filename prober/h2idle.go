package prober

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// What an HTTP/2 connection sees while idle: the monitor decodes the
// frames the watcher stashes, and a GOAWAY, a TLS close_notify, a FIN or an
// RST is the idle close, at the moment it arrived.

// Closed is closed when the server or a hop ended the connection while it
// was idle: a GOAWAY, a TLS close_notify, a FIN or an RST.
func (c *h2Conn) Closed() <-chan struct{} { return c.closedSig.ch }

// afterIdleClose runs f once, in a goroutine of its own, when an idle close
// is seen (a GOAWAY too, not only the raw watcher's FIN or RST); stop
// cancels that and reports whether it did.
func (c *h2Conn) afterIdleClose(f func()) (stop func() bool) { return c.closedSig.after(f) }

// CloseInfo returns when the idle close was seen and how ("GOAWAY
// (NO_ERROR)", "EOF", "connection reset by peer").
func (c *h2Conn) CloseInfo() (time.Time, string) {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return c.closeAt, c.closeDetailed
}

// signalClose records the idle close once.
func (c *h2Conn) signalClose(at time.Time, detail string) {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closeSeen {
		return
	}
	c.closeSeen, c.closeAt, c.closeDetailed = true, at, detail
	c.closedSig.fire()
}

// idleClose returns the idle close, if one was seen.
func (c *h2Conn) idleClose() (time.Time, string, bool) {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return c.closeAt, c.closeDetailed, c.closeSeen
}

// idleMonitor decodes what arrives while the connection is idle. It has no
// goroutine of its own: the watcher's notify hook starts one when bytes
// arrive (or the connection ends), and it ends once they are decoded. So an
// idle h2 connection costs the watcher alone, and the deep stack of TLS,
// framing and HPACK lives only as long as a decode.
type idleMonitor struct {
	mu    sync.Mutex
	on    bool // started and not stopped
	over  bool // a decode found the connection finished: no more until restarted
	again bool // bytes arrived while a decode ran
	// scanning is closed when the running decode ends; nil when none runs.
	scanning chan struct{}
}

// startMonitor starts decoding what arrives while idle, beginning with
// what has arrived already.
func (c *h2Conn) startMonitor() {
	m := &c.mon
	m.mu.Lock()
	if m.on {
		m.mu.Unlock()
		return
	}
	m.on, m.over = true, false
	m.mu.Unlock()
	c.kickMonitor()
}

// kickMonitor is the watcher's notify hook: it starts a decode unless one
// runs (which then goes round again) or the monitor is stopped or over.
func (c *h2Conn) kickMonitor() {
	m := &c.mon
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
	go c.monitor(m.scanning)
}

// stopMonitor stops the idle decoder and waits for a decode that runs.
func (c *h2Conn) stopMonitor() {
	m := &c.mon
	m.mu.Lock()
	m.on = false
	done := m.scanning
	m.mu.Unlock()
	if done != nil {
		<-done
	}
}

// monitor decodes what the watcher has stashed, again while more arrives,
// until a close is seen or the monitor is stopped. It never writes.
func (c *h2Conn) monitor(done chan struct{}) {
	m := &c.mon
	for {
		finished := c.scanIdle()
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

// scanIdle decodes every whole frame stashed while idle and notices the
// watcher's end. It reports whether the connection is finished (closed or
// broken). The wire must not be live.
func (c *h2Conn) scanIdle() bool {
	now := time.Now()
	for {
		f, err := c.readFrame()
		if err != nil {
			if errors.Is(err, errNoData) {
				break
			}
			if errors.Is(err, io.EOF) {
				// A TLS close_notify: the server closed.
				at, detail := c.watcherEnd()
				if at.IsZero() {
					at, detail = now, "EOF (TLS close_notify)"
				}
				c.signalClose(at, detail)
				return true
			}
			if c.idleBroken == nil {
				c.idleBroken = fmt.Errorf("HTTP/2 protocol error while idle: %s", oneLine(err.Error()))
			}
			return true
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			g := goAwayOf(f)
			c.goneAway = g
			// With the close right behind it, the close is the moment.
			at, detail := c.watcherEnd()
			if at.IsZero() {
				at = now
			} else {
				detail = g.String() + ", then " + detail
			}
			if detail == "" {
				detail = g.String()
			}
			c.signalClose(at, detail)
			return true
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := c.applySettings(f); err != nil {
					c.idleBroken = err
					return true
				}
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				c.notePing(f)
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				c.connSend += int64(f.Increment)
			}
		case *http2.DataFrame:
			c.recvUnacked += int64(f.Length)
		case *http2.HeadersFrame:
			if _, err := c.headerBlock(f.HeaderBlockFragment(), f.HeadersEnded()); err != nil {
				c.idleBroken = err
				return true
			}
		case *http2.ContinuationFrame:
			if _, err := c.headerBlock(f.HeaderBlockFragment(), f.HeadersEnded()); err != nil {
				c.idleBroken = err
				return true
			}
		case *http2.PushPromiseFrame:
			if _, err := c.headerBlock(f.HeaderBlockFragment(), f.HeadersEnded()); err != nil {
				c.idleBroken = err
				return true
			}
		}
	}
	if at, detail := c.watcherEnd(); !at.IsZero() {
		c.signalClose(at, detail)
		return true
	}
	c.mu.Lock()
	overflow := c.overflow
	c.mu.Unlock()
	if overflow && c.idleBroken == nil {
		c.idleBroken = errIdleOverflow
	}
	return c.idleBroken != nil
}

// watcherEnd returns when and how the raw watcher saw the connection end,
// or a zero time.
func (c *h2Conn) watcherEnd() (time.Time, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		return time.Time{}, ""
	}
	return c.endAt, closeDetail(c.endErr)
}
