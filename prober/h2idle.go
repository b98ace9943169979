package prober

import (
	"errors"
	"time"

	"golang.org/x/net/http2"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// What an HTTP/2 connection sees while idle: the monitor decodes the
// frames the watcher stashes, and a GOAWAY, a TLS close_notify, a FIN or an
// RST is the idle close, at the moment it arrived.

// Closed is closed when the server or a hop ended the connection while it
// was idle: a GOAWAY, a TLS close_notify, a FIN or an RST.
func (c *h2Conn) Closed() <-chan struct{} { return c.mon.closedCh }

// afterIdleClose runs f once, in a goroutine of its own, when an idle close
// is seen (a GOAWAY too, not only the raw watcher's FIN or RST); stop
// cancels that and reports whether it did.
func (c *h2Conn) afterIdleClose(f func()) (stop func() bool) { return c.mon.closed.after(f) }

// CloseInfo returns when the idle close was seen and how ("GOAWAY
// (NO_ERROR)", "EOF", "connection reset by peer").
func (c *h2Conn) CloseInfo() (time.Time, string) {
	at, detail, _ := c.mon.idleClose()
	return at, detail
}

// Hints says which clock a GOAWAY seen while idle named (gRPC servers
// put "max_age" or "max_idle" in its debug data).
func (c *h2Conn) Hints() Hints {
	if _, _, closed := c.idleClose(); !closed || c.goneAway == nil {
		return Hints{}
	}
	switch c.goneAway.debug {
	case "max_age":
		return Hints{CloseClock: plan.Lifetime}
	case "max_idle":
		return Hints{CloseClock: plan.Idle}
	}
	return Hints{}
}

// signalClose records the idle close once.
func (c *h2Conn) signalClose(at time.Time, detail string) { c.mon.signalClose(at, detail) }

// idleClose returns the idle close, if one was seen.
func (c *h2Conn) idleClose() (time.Time, string, bool) { return c.mon.idleClose() }

// startMonitor starts the idle decoder (scanIdle, on every watcher event).
func (c *h2Conn) startMonitor() { c.mon.start() }

// stopMonitor stops the idle decoder and waits for it.
func (c *h2Conn) stopMonitor() { c.mon.stop() }

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
			// io.EOF is a TLS close_notify: the server closed.
			return c.mon.decodeFailed(c.watchedConn, now, err, &c.idleBroken, "HTTP/2 protocol error while idle")
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
	return c.mon.scanned(c.watchedConn, &c.idleBroken)
}
