package prober

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

const (
	// defaultSend is the tcp reuse payload when none is configured.
	defaultSend = "\r\n"
	// pollMin and pollMax bound the interval between TCP_INFO polls.
	pollMin = time.Millisecond
	pollMax = 10 * time.Millisecond
	// settleMin is the least time a tcp reuse keeps listening after its
	// bytes were acknowledged, to catch a peer that resets on receipt.
	settleMin = 20 * time.Millisecond
)

// tcpTransport opens raw TCP connections. Reuse writes a payload and
// decides from TCP_INFO (were the bytes acknowledged?), the pending read
// (RST, EOF, an answer) and, with Expect, the answer's content.
type tcpTransport struct {
	d      *dialer
	send   []byte
	expect []byte
}

func newTCPTransport(d *dialer, o TransportOptions) *tcpTransport {
	send := o.Send
	if len(send) == 0 {
		send = []byte(defaultSend)
	}
	return &tcpTransport{
		d:      d,
		send:   bytes.Clone(send),
		expect: bytes.Clone(o.Expect),
	}
}

// Open connects; the connection is idle from the end of the handshake.
func (t *tcpTransport) Open(ctx context.Context) (Conn, error) {
	ctx, cancel := openDeadline(ctx, t.d.timeout)
	defer cancel()
	raw, rc, err := t.d.dial(ctx)
	if err != nil {
		return nil, err
	}
	c := &tcpConn{watchedConn: newWatchedConn(raw, rc, false), t: t}
	c.setIdleSince(time.Now())
	c.watch()
	return c, nil
}

// tcpConn is one raw TCP connection under test. Its watcher keeps running
// during a reuse: it is how RST, EOF and answers are seen.
type tcpConn struct {
	*watchedConn
	t *tcpTransport
}

// Reuse writes the payload and waits for the path's verdict.
func (c *tcpConn) Reuse(ctx context.Context) Reply {
	if r, ok := c.beginReuse(false); !ok {
		return r
	}

	// The timeout runs from the first byte of the reuse.
	start := time.Now()
	deadline := ioDeadline(ctx, start, c.t.d.timeout)
	_ = c.raw.SetWriteDeadline(deadline)
	defer func() { _ = c.raw.SetWriteDeadline(time.Time{}) }()

	ctx, stop := c.judge(ctx)
	defer stop()
	if _, err := c.raw.Write(c.t.send); err != nil {
		return c.fail(start, time.Now(), err)
	}

	var (
		got         []byte // answer so far (Expect)
		ackedAt     time.Time
		settleUntil time.Time
		interval    = pollMin
	)
	poll := time.NewTimer(0)
	defer poll.Stop()
	limit := time.NewTimer(time.Until(deadline))
	defer limit.Stop()
	for {
		c.mu.Lock()
		data := c.stash
		c.stash = nil
		ended, endAt, endErr, closing := c.ended, c.endAt, c.endErr, c.closing
		c.mu.Unlock()

		if closing {
			return c.fail(start, time.Now(), net.ErrClosed)
		}
		if len(data) > 0 {
			if len(c.t.expect) == 0 {
				now := time.Now()
				return c.ok(start, now, now, fmt.Sprintf("answered %d bytes", len(data)))
			}
			got = append(got, data...)
			if bytes.Contains(got, c.t.expect) {
				now := time.Now()
				return c.ok(start, now, now, fmt.Sprintf("answer contains %q", c.t.expect))
			}
			if keep := len(c.t.expect) - 1; len(got) > keep {
				got = append(got[:0], got[len(got)-keep:]...)
			}
		}
		if ended {
			return c.fail(start, endAt, endErr)
		}
		now := time.Now()
		if len(c.t.expect) == 0 && ackedAt.IsZero() {
			st, err := readTCPInfo(c.rc)
			if err != nil || (st.Unacked == 0 && st.NotSent == 0) {
				// All acknowledged (or no TCP_INFO: rely on RST/EOF alone).
				// Keep listening a little: a peer that resets on receipt
				// does so right after its ACK.
				ackedAt = now
				settle := max(settleMin, 2*st.RTT)
				settleUntil = now.Add(settle)
			}
		}
		if !settleUntil.IsZero() && !now.Before(settleUntil) {
			return c.ok(start, now, ackedAt, "acknowledged")
		}

		select {
		case <-ctx.Done():
			return c.fail(start, time.Now(), reuseErr(ctx))
		case <-limit.C:
			return c.fail(start, time.Now(), os.ErrDeadlineExceeded)
		case <-c.events:
		case <-poll.C:
			interval = min(2*interval, pollMax)
			poll.Reset(interval)
		}
	}
}

// ok ends a successful reuse. A close seen meanwhile turns it into a failure.
func (c *tcpConn) ok(start, end, idleSince time.Time, detail string) Reply {
	c.mu.Lock()
	ended, endAt, endErr := c.ended, c.endAt, c.endErr
	c.mu.Unlock()
	if ended {
		return c.fail(start, endAt, endErr)
	}
	c.endReuse(true, idleSince)
	return Reply{Outcome: plan.OK, Start: start, End: end, Detail: detail}
}

// fail ends a reuse with the outcome err stands for.
func (c *tcpConn) fail(start, end time.Time, err error) Reply {
	out, detail := classify(err, c.acked)
	c.endReuse(false, time.Time{})
	return Reply{Outcome: out, Start: start, End: end, Detail: detail}
}
