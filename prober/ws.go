package prober

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 6455 names SHA-1 for Sec-WebSocket-Accept
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// WebSocket (RFC 6455) on connections idleprobe owns. The upgrade is the
// first exchange; a reuse sends one data message and waits for one that
// contains the expected answer (by default the message itself: an echo).
// Nothing is sent while idle: no ping, no pong (a server's ping is
// answered with the next message), no close. What the server sends while
// idle is decoded as it arrives: a close frame is the server's idle close,
// at that moment. Only the ping check (KeepaliveCheck.Ping) sends pings.

// wsGUID is the fixed suffix of the Sec-WebSocket-Accept digest.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wsMaxPendingPongs caps the server pings kept to answer at the next reuse.
const wsMaxPendingPongs = 4

// wsTransport opens WebSocket connections: ws (plain) or wss (TLS).
type wsTransport struct {
	target Target
	d      *dialer
	tls    *tls.Config // nil for ws; never modified
	header []byte      // the upgrade request's extra header lines
	host   string
	send   []byte // the reuse message, or nil for "idleprobe N"
	expect []byte
	ping   time.Duration // the ping check's interval; 0 for trials
}

func newWSTransport(t Target, d *dialer, o TransportOptions, cfg *tls.Config) (*wsTransport, error) {
	_, host, err := requestLine(t, o)
	if err != nil {
		return nil, err
	}
	var h bytes.Buffer
	hasUA := false
	for _, k := range sortedNames(o.Header) {
		ck := http.CanonicalHeaderKey(k)
		switch ck {
		case "Host", "Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions":
			return nil, fmt.Errorf("header %s: set by the WebSocket handshake itself; remove it", ck)
		}
		for _, v := range o.Header[k] {
			fmt.Fprintf(&h, "%s: %s\r\n", ck, v)
		}
		hasUA = hasUA || ck == "User-Agent"
	}
	if !hasUA {
		fmt.Fprintf(&h, "User-Agent: %s\r\n", userAgent)
	}
	if cfg != nil {
		cfg = cfg.Clone()
		cfg.NextProtos = []string{"http/1.1"}
	}
	return &wsTransport{target: t, d: d, tls: cfg, header: h.Bytes(), host: host,
		send: bytes.Clone(o.Send), expect: bytes.Clone(o.Expect), ping: o.ping}, nil
}

// wsConn is one WebSocket connection under test.
type wsConn struct {
	*watchedConn
	t    *wsTransport
	wire *h2Wire // the stash first; the socket only while live
	rw   io.ReadWriter
	mon  *idleMonitor
	ping *pinger

	in     []byte // plaintext not yet parsed into frames
	asm    wsAssembler
	pongs  [][]byte // server pings to answer with the next message
	seq    int
	broken error // a protocol error in what arrived while idle
	pushed int   // data messages the server sent while idle
	out    []byte
}

// Open connects, completes TLS (wss) and the upgrade handshake.
func (t *wsTransport) Open(ctx context.Context) (Conn, error) {
	octx, cancel := openDeadline(ctx, t.d.timeout)
	defer cancel()
	raw, rc, err := t.d.dial(octx)
	if err != nil {
		return nil, err
	}
	wc := newWatchedConn(raw, rc, true)
	c := &wsConn{watchedConn: wc, t: t, wire: &h2Wire{watchedConn: wc}}
	c.rw = c.wire
	c.mon = newIdleMonitor(wc, c.scanIdle)
	c.wire.live.Store(true)
	if t.tls != nil {
		tc := tls.Client(c.wire, t.tls.Clone())
		if err := tc.HandshakeContext(octx); err != nil {
			raw.Close()
			return nil, handshakeError(octx, ctx, t.d.address, t.d.timeout, err)
		}
		c.rw = tc
	}
	end, err := c.upgrade(octx)
	if err != nil {
		raw.Close()
		if ctx.Err() == context.Canceled {
			return nil, fmt.Errorf("WebSocket upgrade to %s: %w", t.target, ctx.Err())
		}
		var ue *upgradeError
		if errors.As(err, &ue) {
			return nil, unusable(fmt.Sprintf("WebSocket upgrade to %s refused: %s", t.target, ue.why), err)
		}
		_, detail := classify(err, c.acked)
		return nil, unusable(fmt.Sprintf("WebSocket upgrade to %s failed: %s", t.target, detail), err)
	}
	c.wire.live.Store(false)
	c.setIdleSince(end)
	c.watch()
	c.mon.start()
	c.startPing(end)
	return c, nil
}

// upgradeError: the server answered the upgrade request, but not with a
// WebSocket.
type upgradeError struct{ why string }

func (e *upgradeError) Error() string { return e.why }

// upgrade sends the upgrade request and reads the server's 101. Bytes that
// follow the response are kept for the frame reader.
func (c *wsConn) upgrade(ctx context.Context) (end time.Time, err error) {
	done := c.withDeadline(ctx, ioDeadline(ctx, time.Now(), c.t.d.timeout))
	defer done(&err)

	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", c.t.target.URL.RequestURI(), c.t.host, key)
	b.Write(c.t.header)
	b.WriteString("\r\n")
	if _, err := c.rw.Write(b.Bytes()); err != nil {
		return end, err
	}
	br := bufio.NewReader(&budgetReader{r: c.rw, n: maxResponseBytes})
	if _, err := br.Peek(1); err != nil {
		return end, err
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return end, responseError(err)
	}
	resp.Body.Close()
	end = time.Now()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		why := resp.Status
		if why == "" {
			why = strconv.Itoa(resp.StatusCode)
		}
		return end, &upgradeError{fmt.Sprintf("%s, not 101 Switching Protocols (is this a WebSocket endpoint? try http://)", oneLine(why))}
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !headerHasToken(resp.Header, "Connection", "upgrade") {
		return end, &upgradeError{"101 without Upgrade: websocket and Connection: Upgrade"}
	}
	sum := sha1.Sum([]byte(key + wsGUID)) //nolint:gosec // the protocol's digest
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return end, &upgradeError{"wrong Sec-WebSocket-Accept in the 101 response"}
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		return end, &upgradeError{fmt.Sprintf("the server chose extension %q, which was not offered", oneLine(ext))}
	}
	// Frames sent right behind the 101 are the connection's, not the response's.
	if n := br.Buffered(); n > 0 {
		p, _ := br.Peek(n)
		c.in = append(c.in, p...)
	}
	return end, nil
}

// headerHasToken reports whether a comma-separated header has token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}

// Closed is closed when the server or a hop ended the connection while it
// was idle: a close frame, a TLS close_notify, a FIN or an RST.
func (c *wsConn) Closed() <-chan struct{} { return c.mon.closedCh }

// afterIdleClose runs f once, in a goroutine of its own, when an idle close
// is seen (a close frame too); stop cancels that and reports whether it did.
func (c *wsConn) afterIdleClose(f func()) (stop func() bool) { return c.mon.closed.after(f) }

// CloseInfo returns when the idle close was seen and how.
func (c *wsConn) CloseInfo() (time.Time, string) {
	at, detail, _ := c.mon.idleClose()
	return at, detail
}

// next returns the next message or control frame. Outside a reuse it
// returns errNoData once the stash is used up.
func (c *wsConn) next() (byte, []byte, error) {
	for {
		f, n, err := parseWSFrame(c.in, maxResponseBytes)
		if err != nil {
			return 0, nil, err
		}
		if n == 0 {
			chunk := h2Chunks.Get().(*[]byte) // a read buffer only while reading
			m, err := c.rw.Read(*chunk)
			if m > 0 {
				c.in = append(c.in, (*chunk)[:m]...)
			}
			h2Chunks.Put(chunk)
			if m > 0 {
				continue
			}
			if err == nil {
				err = io.ErrNoProgress
			}
			return 0, nil, err
		}
		op, payload, done, err := c.asm.add(f)
		// The payload is copied out before the buffer moves on.
		payload = bytes.Clone(payload)
		c.in = append(c.in[:0], c.in[n:]...)
		if err != nil {
			return 0, nil, err
		}
		if done {
			return op, payload, nil
		}
	}
}

// notePing remembers a server ping to answer with the next message.
func (c *wsConn) notePing(p []byte) {
	if len(c.pongs) < wsMaxPendingPongs {
		c.pongs = append(c.pongs, p)
	}
}

// scanIdle decodes what was stashed while idle. It reports whether the
// connection is finished (closed or broken). The wire must not be live.
func (c *wsConn) scanIdle() bool {
	now := time.Now()
	for {
		op, payload, err := c.next()
		if err != nil {
			if errors.Is(err, errNoData) {
				break
			}
			return c.mon.decodeFailed(c.watchedConn, now, err, &c.broken, "while idle")
		}
		switch op {
		case wsClose:
			at, detail := c.watcherEnd()
			if at.IsZero() {
				at, detail = now, closeText(payload)
			} else {
				detail = closeText(payload) + ", then " + detail
			}
			c.mon.signalClose(at, detail)
			return true
		case wsPing:
			c.notePing(payload)
		case wsText, wsBinary:
			c.pushed++
		}
	}
	return c.mon.scanned(c.watchedConn, &c.broken)
}

// message returns the reuse message and what its answer must contain.
func (c *wsConn) message() (op byte, msg, expect []byte) {
	c.seq++
	msg = c.t.send
	if msg == nil {
		msg = []byte("idleprobe " + strconv.Itoa(c.seq))
	}
	expect = c.t.expect
	if expect == nil {
		expect = msg
	}
	op = wsText
	if !utf8.Valid(msg) {
		op = wsBinary
	}
	return op, msg, expect
}

// Reuse sends one data message and reads until a message that contains
// the expected answer arrives. Pings from the server are answered on the
// way; a close frame is the server ending the connection (closed_on_reuse).
func (c *wsConn) Reuse(ctx context.Context) Reply {
	c.stopPing()
	c.mon.stop()
	_, ok := c.beginReuse(true)
	c.scanIdle() // what arrived before the watcher stopped arrived while idle
	if at, detail, seen := c.mon.idleClose(); seen {
		if ok {
			c.endReuse(false, time.Time{})
		}
		return Reply{Outcome: plan.ClosedIdle, Start: at, End: at, Detail: detail}
	}
	if !ok || c.broken != nil {
		if ok {
			c.endReuse(false, time.Time{})
		}
		now := time.Now()
		detail := "connection already closed"
		if c.broken != nil {
			detail = c.broken.Error()
		} else {
			c.mu.Lock()
			if r, usable := c.unusableLocked(); !usable {
				detail = r.Detail
			}
			c.mu.Unlock()
		}
		return Reply{Outcome: plan.Error, Start: now, End: now, Detail: detail}
	}
	// TCP_INFO decides a black hole sooner than the timeout (suspect.go).
	jctx, stop := c.judge(ctx)
	start, end, detail, err := c.exchange(jctx)
	stop()
	if err != nil {
		out, d := classify(err, c.acked)
		var closed *wsClosedError
		if errors.As(err, &closed) {
			out, d = plan.ClosedOnReuse, closed.why
		}
		c.endReuse(false, time.Time{})
		return Reply{Outcome: out, Start: start, End: end, Detail: d}
	}
	c.wire.live.Store(false)
	c.endReuse(true, end)
	c.mon.start()
	c.startPing(end)
	return Reply{Outcome: plan.OK, Start: start, End: end, Detail: detail}
}

// wsClosedError: the server sent a close frame instead of the answer.
type wsClosedError struct{ why string }

func (e *wsClosedError) Error() string { return e.why }

// exchange sends the message (after the pongs owed) and reads the answer,
// bounded by the timeout (from its first byte) and ctx.
func (c *wsConn) exchange(ctx context.Context) (start, end time.Time, detail string, err error) {
	start = time.Now()
	done := c.withDeadline(ctx, ioDeadline(ctx, start, c.t.d.timeout))
	defer func() {
		done(&err)
		if err != nil {
			end = time.Now()
		}
	}()
	c.wire.live.Store(true)
	op, msg, expect := c.message()
	c.out = c.out[:0]
	for _, p := range c.pongs {
		c.out = appendWSFrame(c.out, wsPong, p)
	}
	c.pongs = c.pongs[:0]
	c.out = appendWSFrame(c.out, op, msg)
	if _, err := c.rw.Write(c.out); err != nil {
		return start, end, "", err
	}
	for {
		op, payload, err := c.next()
		if err != nil {
			return start, end, "", err
		}
		switch op {
		case wsClose:
			return start, end, "", &wsClosedError{closeText(payload) + " instead of the answer"}
		case wsPing:
			if _, err := c.rw.Write(appendWSFrame(c.out[:0], wsPong, payload)); err != nil {
				return start, end, "", err
			}
		case wsText, wsBinary:
			if bytes.Contains(payload, expect) {
				return start, time.Now(), fmt.Sprintf("answered %d bytes", len(payload)), nil
			}
		}
	}
}

// sendPing writes one ping frame (the ping check only). It may run while
// the idle decoder reads: reads and writes do not share state.
func (c *wsConn) sendPing() error {
	_, err := c.rw.Write(appendWSFrame(nil, wsPing, []byte("idleprobe")))
	return err
}

// startPing starts the ping check's pinger, when asked for.
func (c *wsConn) startPing(idleSince time.Time) {
	if c.t.ping > 0 {
		c.ping = startPinger(c.t.ping, idleSince, c.sendPing)
	}
}

func (c *wsConn) stopPing() {
	c.ping.halt()
	c.ping = nil
}

// Close stops the pinger and the idle decoder and closes the socket.
func (c *wsConn) Close() error {
	c.stopPing()
	c.mon.stop()
	return c.watchedConn.Close()
}
