package prober

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

const (
	// watchBufSize is the size of each read the idle watcher makes. It is
	// small on purpose: an idle connection rarely receives anything (a TLS
	// session ticket, an HTTP/2 SETTINGS or GOAWAY), and the buffer lives
	// as long as the connection. More data takes more reads, at once.
	watchBufSize = 128
	// maxStash caps the bytes kept from the watcher's reads.
	maxStash = 1 << 20
)

// aLongTimeAgo is a deadline in the past: it makes a pending read return at once.
var aLongTimeAgo = time.Unix(1, 0)

// ioDeadline is when an exchange begun at start must end: timeout later,
// or at ctx's deadline when that is earlier.
func ioDeadline(ctx context.Context, start time.Time, timeout time.Duration) time.Time {
	deadline := start.Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return deadline
}

// watchedConn is a TCP connection that keeps exactly one pending read on
// the raw socket (below any TLS) while it is idle. Bytes that arrive while
// idle (TLS 1.3 session tickets, an echo) go to a stash that replayConn
// hands to the next reader; an EOF or error is a close, recorded with the
// moment the read returned. Nothing is ever written by the watcher.
//
// The pending read costs little: the watcher is one goroutine parked in
// the runtime's poller (syscall.RawConn.Read) with a shallow stack, and it
// reads into watchBuf, a few bytes inside the struct, only once the socket
// is readable. Bigger buffers (bufio, TLS records, HTTP/2 frames) are the
// reuse's business.
type watchedConn struct {
	raw *net.TCPConn
	// opened is when the handshake completed (when the conn was wrapped).
	opened time.Time
	rc     syscall.RawConn
	// keepStash keeps every byte read while watching, for replay (http,
	// https). Without it the stash is only a window the caller drains.
	keepStash bool

	closed closeSignal   // fired when a close was seen while idle
	events chan struct{} // capacity 1: the watcher read data or ended
	// onNotify, when set (before the watcher starts), is called too when
	// the watcher read data or ended (HTTP/2 decodes then).
	onNotify func()

	// watchBuf receives the watcher's reads. Only the watcher touches it.
	watchBuf [watchBufSize]byte

	mu        sync.Mutex
	idleSince time.Time
	stash     []byte
	busy      bool // a reuse is running: a close goes to it, not to closed
	watching  bool
	exited    chan struct{} // closed when the current watcher returns
	ended     bool          // the watcher saw EOF or an error
	endAt     time.Time
	endErr    error
	overflow  bool
	closing   bool

	closeOnce sync.Once
	closeErr  error
}

func newWatchedConn(raw *net.TCPConn, rc syscall.RawConn, keepStash bool) *watchedConn {
	return &watchedConn{
		opened:    time.Now(),
		raw:       raw,
		rc:        rc,
		keepStash: keepStash,
		closed:    newCloseSignal(),
		events:    make(chan struct{}, 1),
	}
}

// Hints returns nothing: protocols that carry hints override it.
func (c *watchedConn) Hints() Hints { return Hints{} }

// Opened is when the connection was handed over after its TCP handshake.
func (c *watchedConn) Opened() time.Time { return c.opened }

// IdleSince is when the last exchange on the connection ended.
func (c *watchedConn) IdleSince() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.idleSince
}

func (c *watchedConn) setIdleSince(t time.Time) {
	c.mu.Lock()
	c.idleSince = t
	c.mu.Unlock()
}

// Closed is closed when the peer or a hop ended the connection while idle.
func (c *watchedConn) Closed() <-chan struct{} { return c.closed.ch }

// afterIdleClose runs f once, in a goroutine of its own, when a close is
// seen while idle; stop cancels that and reports whether it did.
func (c *watchedConn) afterIdleClose(f func()) (stop func() bool) { return c.closed.after(f) }

// CloseInfo returns when the idle close was seen and how.
func (c *watchedConn) CloseInfo() (time.Time, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		return time.Time{}, ""
	}
	return c.endAt, closeDetail(c.endErr)
}

// signalClosedLocked closes the public Closed channel once. c.mu is held.
func (c *watchedConn) signalClosedLocked() { c.closed.fire() }

func (c *watchedConn) notify() {
	select {
	case c.events <- struct{}{}:
	default:
	}
	if c.onNotify != nil {
		c.onNotify()
	}
}

// watch starts the watcher goroutine unless it runs already or the
// connection is finished.
func (c *watchedConn) watch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watching || c.ended || c.closing || c.overflow {
		return
	}
	c.watching = true
	c.exited = make(chan struct{})
	go c.run(c.exited)
}

// run is the watcher: one pending read at a time until an error.
func (c *watchedConn) run(exited chan struct{}) {
	defer close(exited)
	for {
		n, err := c.read()
		now := time.Now() // the moment the read returned
		c.mu.Lock()
		if n > 0 {
			c.stash = append(c.stash, c.watchBuf[:n]...)
			if len(c.stash) > maxStash {
				if c.keepStash {
					c.overflow = true
					c.watching = false
					c.mu.Unlock()
					c.notify()
					return
				}
				c.stash = c.stash[:0]
			}
		}
		if err != nil {
			if c.closing || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) {
				// Stopped by pause or Close: not a close by the peer.
				c.watching = false
				c.mu.Unlock()
				return
			}
			c.ended, c.endAt, c.endErr = true, now, err
			c.watching = false
			if !c.busy {
				c.signalClosedLocked()
			}
			c.mu.Unlock()
			c.notify()
			return
		}
		c.mu.Unlock()
		if n > 0 {
			c.notify()
		}
	}
}

// pause stops the watcher and waits until it has returned, leaving the
// socket without a deadline.
func (c *watchedConn) pause() {
	c.mu.Lock()
	watching, exited := c.watching, c.exited
	c.mu.Unlock()
	if exited == nil {
		return
	}
	if watching {
		_ = c.raw.SetReadDeadline(aLongTimeAgo)
	}
	<-exited
	_ = c.raw.SetReadDeadline(time.Time{})
}

// beginReuse marks the connection busy. With stopWatcher it also stops the
// watcher (the reuse will read itself); without, the watcher reads on and
// what it stashed while idle is dropped (it is not an answer). It returns
// false and the reply to give when the connection cannot be reused: a
// close seen while idle (ClosedIdle, at the moment it was seen, nothing
// sent) or an earlier problem (Error).
func (c *watchedConn) beginReuse(stopWatcher bool) (Reply, bool) {
	c.mu.Lock()
	if r, ok := c.unusableLocked(); !ok {
		c.mu.Unlock()
		return r, false
	}
	c.busy = true
	if !stopWatcher {
		c.stash = nil
	}
	c.mu.Unlock()
	if stopWatcher {
		c.pause()
		c.mu.Lock()
		defer c.mu.Unlock()
		// A close that the watcher saw before it stopped happened while
		// idle: nothing has been sent yet.
		if r, ok := c.unusableLocked(); !ok {
			if c.ended {
				c.signalClosedLocked()
			}
			c.busy = false
			return r, false
		}
	}
	return Reply{}, true
}

// unusableLocked returns the reply for a connection that cannot be reused.
func (c *watchedConn) unusableLocked() (Reply, bool) {
	switch {
	case c.ended:
		return Reply{Outcome: plan.ClosedIdle, Start: c.endAt, End: c.endAt, Detail: closeDetail(c.endErr)}, false
	case c.closing:
		now := time.Now()
		return Reply{Outcome: plan.Error, Start: now, End: now, Detail: "connection already closed"}, false
	case c.overflow:
		now := time.Now()
		return Reply{Outcome: plan.Error, Start: now, End: now, Detail: errIdleOverflow.Error()}, false
	}
	return Reply{}, true
}

// endReuse clears the busy mark. After an OK reply the connection is idle
// again from idleSince and the watcher is (re)started.
func (c *watchedConn) endReuse(ok bool, idleSince time.Time) {
	c.mu.Lock()
	c.busy = false
	if ok {
		c.idleSince = idleSince
	}
	c.mu.Unlock()
	if ok {
		c.watch()
	}
}

// acked reads the connection's TCP_INFO (for classify).
func (c *watchedConn) acked() (tcpState, error) { return readTCPInfo(c.rc) }

// Close closes the socket and waits for the watcher to return.
func (c *watchedConn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closing = true
		exited := c.exited
		c.mu.Unlock()
		c.closeErr = c.raw.Close()
		if exited != nil {
			<-exited
		}
	})
	return c.closeErr
}

// replayConn is the net.Conn that TLS and the HTTP reader use: it first
// returns the bytes the watcher stashed while idle, then reads the socket.
type replayConn struct{ *watchedConn }

// readStash copies bytes the watcher stashed while idle into p. It
// reports false when there were none.
func (c *watchedConn) readStash(p []byte) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.stash) == 0 {
		return 0, false
	}
	n := copy(p, c.stash)
	c.stash = c.stash[n:]
	if len(c.stash) == 0 {
		c.stash = nil
	}
	return n, true
}

// Read returns stashed bytes first.
func (r replayConn) Read(p []byte) (int, error) {
	if n, ok := r.readStash(p); ok {
		return n, nil
	}
	return r.raw.Read(p)
}

func (r replayConn) Write(p []byte) (int, error)        { return r.raw.Write(p) }
func (r replayConn) LocalAddr() net.Addr                { return r.raw.LocalAddr() }
func (r replayConn) RemoteAddr() net.Addr               { return r.raw.RemoteAddr() }
func (r replayConn) SetDeadline(t time.Time) error      { return r.raw.SetDeadline(t) }
func (r replayConn) SetReadDeadline(t time.Time) error  { return r.raw.SetReadDeadline(t) }
func (r replayConn) SetWriteDeadline(t time.Time) error { return r.raw.SetWriteDeadline(t) }
