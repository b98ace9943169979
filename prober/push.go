package prober

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/idleprobe/idleprobe/internal/pushwire"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// pushTransport measures tcp:// targets in the server direction against
// the responder's push service (package pushwire). Open asks the responder
// to hold the new connection (HOLD, ID); after that the connection under
// test sends nothing, ever. A reuse opens a short control connection to
// the same address and asks the responder to write on the held one: the
// outcome is whether those bytes arrive (ok), nothing arrives within the
// trial timeout (dropped: the path dropped the server's segment, or
// answered it with a reset that only the server saw), or the held
// connection ends (reset, closed_on_reuse).
type pushTransport struct {
	d *dialer
}

// Open connects, asks the responder to hold the connection, and returns
// it idle and watched from the moment the responder's ID arrived.
func (t *pushTransport) Open(ctx context.Context) (Conn, error) {
	ctx, cancel := openDeadline(ctx, t.d.timeout)
	defer cancel()
	raw, rc, err := t.d.dial(ctx)
	if err != nil {
		return nil, err
	}
	fail := func(format string, args ...any) (Conn, error) {
		raw.Close()
		if ctx.Err() == context.Canceled {
			return nil, fmt.Errorf("push %s: %w", t.d.address, ctx.Err())
		}
		return nil, unusable(fmt.Sprintf("push %s: ", t.d.address)+fmt.Sprintf(format, args...)+
			" (is the idleprobe responder's push service listening there? idleprobe responder --push.listen-address)", nil)
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(aLongTimeAgo) })
	defer stop()
	if _, err := raw.Write(pushwire.Msg{Type: pushwire.Hold}.Line()); err != nil {
		return fail("sending HOLD: %s", oneLine(err.Error()))
	}
	// Read the ID line byte by byte: nothing after it may be consumed
	// here, the watcher reads the rest.
	var line []byte
	var b [1]byte
	for len(line) < pushwire.MaxLine && !bytes.HasSuffix(line, []byte("\n")) {
		if _, err := raw.Read(b[:]); err != nil {
			return fail("no ID answer to HOLD: %s", oneLine(err.Error()))
		}
		line = append(line, b[0])
	}
	m, err := pushwire.Parse(line)
	if err != nil || m.Type != pushwire.ID {
		return fail("answered %q to HOLD, not an ID", bytes.TrimSpace(line))
	}
	if !stop() {
		return fail("timeout")
	}
	_ = raw.SetDeadline(time.Time{})
	c := &pushConn{watchedConn: newWatchedConn(raw, rc, false), t: t, token: m.Token}
	c.setIdleSince(time.Now())
	c.watch()
	return c, nil
}

// pushConn is one held connection under test.
type pushConn struct {
	*watchedConn
	t     *pushTransport
	token string
	seq   uint64
}

// Reuse asks the responder, on a new control connection, to write on this
// one, and waits for the bytes. Nothing is written on this connection.
func (c *pushConn) Reuse(ctx context.Context) Reply {
	if r, ok := c.beginReuse(false); !ok {
		return r
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.t.d.timeout)
	defer cancel()
	c.seq++
	want := pushwire.Msg{Type: pushwire.Pushed, Seq: c.seq}.Line()

	answer := make(chan pushAnswer, 1)
	go func() { answer <- c.ask(ctx, c.seq) }()
	var ans *pushAnswer
	var got []byte
	for {
		c.mu.Lock()
		data := c.stash
		c.stash = nil
		ended, endAt, endErr, closing := c.ended, c.endAt, c.endErr, c.closing
		c.mu.Unlock()
		got = append(got, data...)
		switch {
		case closing:
			return c.end(start, time.Now(), plan.Error, "connection already closed", answer)
		case bytes.Contains(got, want):
			now := time.Now()
			if answer != nil {
				<-answer // bounded by the reuse's context
			}
			c.endReuse(true, now)
			return Reply{Outcome: plan.OK, Start: start, End: now, Detail: "the server's bytes arrived"}
		case ended:
			out, detail := classify(endErr, nil)
			if out == plan.ClosedOnReuse {
				detail = "EOF: the connection ended instead of the server's bytes"
			}
			return c.end(start, endAt, out, detail, answer)
		case len(got) > 2*pushwire.MaxLine:
			got = got[len(got)-pushwire.MaxLine:]
		}
		if ans != nil && ans.outcome != plan.OK {
			return c.end(start, time.Now(), ans.outcome, ans.detail, answer)
		}
		select {
		case <-ctx.Done():
			switch {
			case ctx.Err() == context.Canceled:
				return c.end(start, time.Now(), plan.Error, "canceled", answer)
			case ans == nil:
				return c.end(start, time.Now(), plan.Slow, "the responder did not answer the push request within the timeout", answer)
			}
			return c.end(start, time.Now(), plan.Dropped, "the server wrote, nothing arrived within the timeout: the path forgot the flow", answer)
		case a := <-answer:
			ans = &a
			answer = nil
		case <-c.events:
		}
	}
}

// end finishes a failed reuse, after the control exchange returned.
func (c *pushConn) end(start, end time.Time, out plan.Outcome, detail string, answer chan pushAnswer) Reply {
	if answer != nil {
		<-answer // bounded by the reuse's context
	}
	c.endReuse(false, time.Time{})
	return Reply{Outcome: out, Start: start, End: end, Detail: detail}
}

// pushAnswer is what the control exchange learned: OK when the responder
// wrote, else the outcome it stands for.
type pushAnswer struct {
	outcome plan.Outcome
	detail  string
}

// ask opens a control connection and asks the responder to write PUSHED
// seq on the held connection. It returns within ctx.
func (c *pushConn) ask(ctx context.Context, seq uint64) pushAnswer {
	cc, _, err := c.t.d.dial(ctx)
	if err != nil {
		return pushAnswer{plan.Error, "control connection: " + oneLine(err.Error())}
	}
	defer cc.Close()
	stop := context.AfterFunc(ctx, func() { _ = cc.SetDeadline(aLongTimeAgo) })
	defer stop()
	if _, err := cc.Write(pushwire.Msg{Type: pushwire.Push, Token: c.token, Seq: seq}.Line()); err != nil {
		return pushAnswer{plan.Error, "control connection: " + oneLine(err.Error())}
	}
	line, err := bufio.NewReaderSize(cc, 2*pushwire.MaxLine).ReadSlice('\n')
	if err != nil {
		if ctx.Err() != nil || os.IsTimeout(err) {
			return pushAnswer{plan.Slow, "the responder did not answer the push request"}
		}
		return pushAnswer{plan.Error, "control connection: " + oneLine(err.Error())}
	}
	m, err := pushwire.Parse(line)
	switch {
	case err != nil:
		return pushAnswer{plan.Error, fmt.Sprintf("control connection: bad answer %q", bytes.TrimSpace(line))}
	case m.Type == pushwire.Sent && m.Seq == seq:
		return pushAnswer{outcome: plan.OK}
	case m.Type == pushwire.Gone:
		return pushAnswer{plan.Reset, fmt.Sprintf("the responder's side of the connection was already %s while idle; the client was never told", m.Reason)}
	case m.Type == pushwire.Unknown:
		return pushAnswer{plan.Error, "the responder does not know this connection (was it restarted?)"}
	}
	return pushAnswer{plan.Error, fmt.Sprintf("control connection: unexpected answer %q", bytes.TrimSpace(line))}
}

// ServerDirectionSchemes are the schemes that can be measured in the
// server direction: tcp (against the responder's push service) and udp
// (against its UDP service).
var ServerDirectionSchemes = []string{"tcp", "udp"}

// EffectiveDirection is the direction a measurement of scheme runs in
// when asked for direction ("" is the scheme's default: server for udp,
// client for the others).
func EffectiveDirection(scheme, direction string) string {
	switch {
	case direction != "":
		return direction
	case scheme == "udp":
		return DirectionServer
	}
	return DirectionClient
}

// ValidateDirection checks a direction for a scheme: "" (the scheme's
// default), DirectionClient, or DirectionServer for ServerDirectionSchemes.
// The error is one line saying what would be valid; it starts with the
// value, for the caller to prefix with the setting's name.
func ValidateDirection(scheme, direction string) error {
	switch direction {
	case "", DirectionClient:
		return nil
	case DirectionServer:
		if slices.Contains(ServerDirectionSchemes, scheme) {
			return nil
		}
		return fmt.Errorf("%q: %s targets are measured in the client direction only (the server direction needs %s)", direction, scheme, strings.Join(ServerDirectionSchemes, " or "))
	}
	return fmt.Errorf("%q is not valid (valid: %s, %s)", direction, DirectionClient, DirectionServer)
}
