package prober

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// HTTP/2 (RFC 9113) on connections idleprobe owns. Every exchange (the
// first, and each reuse) is the configured request on a new stream, read to
// the end of its response, so the server and every hop see what a client's
// pool does. Nothing is sent while idle: no PING, no WINDOW_UPDATE, no
// SETTINGS ACK. Frames the server sends while idle are decoded as they
// arrive (a GOAWAY is the server's idle close, at that moment); the ones
// that want an answer (SETTINGS, PING) are answered with the next request.
// A GOAWAY that comes with a response, or right after it, is no idle
// close: the server retired the connection (Reply.Retired).

const (
	// h2FrameSize is the largest frame read (the protocol default; we never
	// advertise a bigger SETTINGS_MAX_FRAME_SIZE).
	h2FrameSize = 16 << 10
	// h2Window is the initial flow-control window of both ends (default).
	h2Window = 65535
	// h2HeaderTable is the HPACK dynamic table size the decoder accepts
	// (the default, which a server may use until it has our SETTINGS).
	h2HeaderTable = 4096
	// h2AskHeaderTable is the table size we ask for
	// (SETTINGS_HEADER_TABLE_SIZE): a compliant server then keeps each
	// idle connection's decoder table that small. The decoder still
	// accepts h2HeaderTable, so a server that ignores it is no error.
	h2AskHeaderTable = 512
	// h2MaxPendingPings caps the server PINGs kept to acknowledge at the
	// next reuse.
	h2MaxPendingPings = 4
	// h2ReadChunk is how much plaintext one read takes.
	h2ReadChunk = 16 << 10
	// h2RetireGrace is how long after the end of a response a GOAWAY (or a
	// close) still belongs to that exchange: the server retired the
	// connection with its answer, it did not close it for being idle.
	// Frames a server writes back to back arrive within microseconds of
	// each other, whatever the path's latency.
	h2RetireGrace = 10 * time.Millisecond
)

// errNoData is what the wire returns, outside a reuse, once the watcher's
// stash is empty: the idle decoder must not touch the socket. It is a
// temporary net.Error so that crypto/tls keeps a partial record for later.
var errNoData net.Error = noDataError{}

type noDataError struct{}

func (noDataError) Error() string   { return "no buffered data" }
func (noDataError) Timeout() bool   { return false }
func (noDataError) Temporary() bool { return true }

// h2Transport opens HTTP/2 connections: h2 (TLS, ALPN "h2") or h2c (prior
// knowledge).
type h2Transport struct {
	target Target
	d      *dialer
	tls    *tls.Config // nil for h2c; never modified
	fields []hpack.HeaderField
	body   []byte
	// answer, when set, checks a complete response (first: of the first
	// exchange) and returns its detail (gRPC: the grpc-status and the
	// health check's answer).
	answer func(r *h2Response, first bool) (string, error)
}

func newH2Transport(t Target, d *dialer, o TransportOptions, cfg *tls.Config) (*h2Transport, error) {
	scheme := "http"
	if cfg != nil {
		scheme = "https"
		cfg = cfg.Clone()
		cfg.NextProtos = []string{"h2"}
	}
	fields, err := buildH2Request(t, o, scheme)
	if err != nil {
		return nil, err
	}
	return &h2Transport{target: t, d: d, tls: cfg, fields: fields, body: bytes.Clone(o.Body)}, nil
}

// buildH2Request returns the header fields of the request: the pseudo
// fields first, then the configured headers in sorted order, lower case.
func buildH2Request(t Target, o TransportOptions, scheme string) ([]hpack.HeaderField, error) {
	method, host, err := requestLine(t, o)
	if err != nil {
		return nil, err
	}
	fields := []hpack.HeaderField{
		{Name: ":method", Value: method},
		{Name: ":scheme", Value: scheme},
		{Name: ":authority", Value: host},
		{Name: ":path", Value: t.URL.RequestURI()},
	}
	hasUA := false
	for _, k := range sortedNames(o.Header) {
		ck := http.CanonicalHeaderKey(k)
		if ck == "Host" {
			continue
		}
		for _, v := range o.Header[k] {
			fields = append(fields, hpack.HeaderField{Name: strings.ToLower(k), Value: v})
		}
		hasUA = hasUA || ck == "User-Agent"
	}
	if !hasUA {
		fields = append(fields, hpack.HeaderField{Name: "user-agent", Value: userAgent})
	}
	if len(o.Body) > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		fields = append(fields, hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(o.Body))})
	}
	return fields, nil
}

// Open connects, completes TLS (h2) and the HTTP/2 connection preface in
// both directions, and makes one request on stream 1.
func (t *h2Transport) Open(ctx context.Context) (Conn, error) {
	octx, cancel := openDeadline(ctx, t.d.timeout)
	defer cancel()
	raw, rc, err := t.d.dial(octx)
	if err != nil {
		return nil, err
	}
	c := newH2Conn(t, newWatchedConn(raw, rc, true))
	c.wire.live.Store(true)
	if t.tls != nil {
		tc := tls.Client(c.wire, t.tls.Clone())
		if err := tc.HandshakeContext(octx); err != nil {
			raw.Close()
			if strings.Contains(err.Error(), "no application protocol") {
				return nil, unusable(fmt.Sprintf("%s does not speak HTTP/2 over TLS: it refused ALPN \"h2\" (try https://)", t.target), err)
			}
			return nil, handshakeError(octx, ctx, t.d.address, t.d.timeout, err)
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
			raw.Close()
			if p == "" {
				p = "none"
			}
			return nil, unusable(fmt.Sprintf("%s does not speak HTTP/2 over TLS: ALPN chose %s, want h2 (try https://)", t.target, p), nil)
		}
		c.rw = tc
	}

	end, err := c.firstExchange(octx)
	if err != nil {
		raw.Close()
		if ctx.Err() == context.Canceled {
			return nil, fmt.Errorf("first request to %s: %w", t.target, ctx.Err())
		}
		if errors.Is(err, errHTTP1) {
			return nil, unusable(fmt.Sprintf("%s answered in HTTP/1.x: it does not speak HTTP/2 with prior knowledge (try http://)", t.target), err)
		}
		_, detail := classify(err, c.acked)
		return nil, unusable(fmt.Sprintf("first HTTP/2 request to %s failed: %s", t.target, detail), err)
	}
	c.wire.live.Store(false)
	c.setIdleSince(end)
	c.watch()
	c.startMonitor()
	if detail, ok := c.closedRightAfter(octx, end); ok {
		c.Close()
		return nil, unusable(fmt.Sprintf("%s does not keep HTTP/2 connections alive: it ended the connection right after the first response (%s); nothing to measure", t.target, detail), nil)
	}
	return c, nil
}

// h2Wire is the net.Conn below TLS (h2) or the framer (h2c): it returns
// the bytes the watcher stashed while idle first. Only while live (the
// watcher paused, during Open and Reuse) does it read the socket itself.
type h2Wire struct {
	*watchedConn
	live atomic.Bool
}

// Read returns stashed bytes first, then reads the socket when live.
func (w *h2Wire) Read(p []byte) (int, error) {
	if n, ok := w.readStash(p); ok {
		return n, nil
	}
	if !w.live.Load() {
		return 0, errNoData
	}
	return w.raw.Read(p)
}

func (w *h2Wire) Write(p []byte) (int, error)        { return w.raw.Write(p) }
func (w *h2Wire) LocalAddr() net.Addr                { return w.raw.LocalAddr() }
func (w *h2Wire) RemoteAddr() net.Addr               { return w.raw.RemoteAddr() }
func (w *h2Wire) SetDeadline(t time.Time) error      { return w.raw.SetDeadline(t) }
func (w *h2Wire) SetReadDeadline(t time.Time) error  { return w.raw.SetReadDeadline(t) }
func (w *h2Wire) SetWriteDeadline(t time.Time) error { return w.raw.SetWriteDeadline(t) }

// goAway is a GOAWAY frame the server sent.
type goAway struct {
	code  http2.ErrCode
	debug string
}

func (g *goAway) String() string {
	if g.debug == "" {
		return fmt.Sprintf("GOAWAY (%s)", g.code)
	}
	return fmt.Sprintf("GOAWAY (%s: %q)", g.code, g.debug)
}

// h2Conn is one HTTP/2 connection under test. Besides the shared raw
// watcher it runs, while idle, a decoder goroutine (the monitor) that reads
// the stashed bytes through TLS and the framer and so notices a GOAWAY the
// moment it arrives.
type h2Conn struct {
	*watchedConn
	t    *h2Transport
	wire *h2Wire
	rw   io.ReadWriter // wire, or *tls.Conn over it

	// Frame decoding. in holds plaintext not yet framed; the framer reads
	// only whole frames from it. out collects frames until flush.
	in     []byte
	inBuf  []byte // in's backing array, from h2InBufs while in is not empty
	fr     *http2.Framer
	out    bytes.Buffer
	dec    *hpack.Decoder
	hdrs   []hpack.HeaderField // fields of the header block being decoded
	hsize  int                 // its size so far
	framed bool                // a frame was read (the server is not HTTP/1.x)

	// Requests: the next stream, the HPACK encoder (its table lives as long
	// as the connection), the connection's flow-control windows.
	nextStream  uint32
	enc         *hpack.Encoder
	hb          bytes.Buffer
	connSend    int64 // what we may still send on the connection
	recvUnacked int64 // DATA received and not yet given back
	status      string

	// The peer's settings and what we owe it.
	peerMaxFrame uint32
	peerWindow   int64 // initial stream send window
	settingsAcks int
	pendingPings [][8]byte
	goneAway     *goAway
	idleBroken   error // a protocol error in what arrived while idle
	// retired: the server sent GOAWAY (or closed) with or right after the
	// last response. The caller closes the connection; it is never reused.
	retired bool
	// mon decodes what arrives while idle and records the idle close.
	mon *idleMonitor
}

func newH2Conn(t *h2Transport, wc *watchedConn) *h2Conn {
	c := &h2Conn{
		watchedConn:  wc,
		t:            t,
		wire:         &h2Wire{watchedConn: wc},
		peerMaxFrame: h2FrameSize,
		peerWindow:   h2Window,
		nextStream:   1,
		connSend:     h2Window,
	}
	c.mon = newIdleMonitor(wc, c.scanIdle)
	c.enc = hpack.NewEncoder(&c.hb)
	// No dynamic table for requests: every exchange sends the same few
	// fields, and an idle connection then keeps no table entries (nor
	// their index maps). The first header block says so (size update 0).
	c.enc.SetMaxDynamicTableSizeLimit(0)
	c.rw = c.wire
	c.fr = http2.NewFramer(&c.out, h2Feed{c})
	c.fr.SetMaxReadFrameSize(h2FrameSize)
	c.dec = hpack.NewDecoder(h2HeaderTable, func(f hpack.HeaderField) {
		c.hdrs = append(c.hdrs, f)
	})
	c.dec.SetMaxStringLength(maxResponseBytes)
	return c
}

// Reuse makes the request again, on the next stream, and reads the whole
// response: what a client's pool does with a kept-alive connection. (A
// PING would refresh the path but not the idle timer of servers that count
// only streams, such as Go's and Envoy's: a recycled connection would then
// see their GOAWAY early.) A GOAWAY with the response, or a GOAWAY or
// close within h2RetireGrace after it, makes the reply OK and Retired: the
// path carried the request and the server retired the connection (Go's
// server when a handler sets Connection: close, nginx keepalive_requests
// and keepalive_time, a maximum connection age that expires during a
// request).
func (c *h2Conn) Reuse(ctx context.Context) Reply {
	if c.retired {
		now := time.Now()
		return Reply{Outcome: plan.Error, Start: now, End: now, Detail: errRetired.Error()}
	}
	c.stopMonitor()
	_, ok := c.beginReuse(true)
	// What arrived before the watcher stopped arrived while idle.
	c.scanIdle()
	if at, detail, seen := c.idleClose(); seen {
		if ok {
			c.endReuse(false, time.Time{})
		}
		return Reply{Outcome: plan.ClosedIdle, Start: at, End: at, Detail: detail}
	}
	if !ok || c.idleBroken != nil || c.nextStream > 1<<31-1 {
		if ok {
			c.endReuse(false, time.Time{})
		}
		now := time.Now()
		detail := "connection already closed"
		switch {
		case c.idleBroken != nil:
			detail = c.idleBroken.Error()
		case c.nextStream > 1<<31-1:
			detail = "connection not reusable: stream IDs used up"
		default:
			if r, bad := c.unusable(); bad {
				detail = r
			}
		}
		return Reply{Outcome: plan.Error, Start: now, End: now, Detail: detail}
	}

	start, end, err := c.reuseExchange(ctx)
	if err != nil {
		out, detail := classify(err, c.acked)
		var refused *refusedError
		switch {
		case errors.As(err, &refused):
			out, detail = plan.ClosedOnReuse, refused.why
		case c.goneAway != nil && out != plan.Reset:
			// The server said it is going away, then did not answer.
			out, detail = plan.ClosedOnReuse, c.goneAway.String()+", then "+detail
		}
		c.endReuse(false, time.Time{})
		return Reply{Outcome: out, Start: start, End: end, Detail: detail}
	}
	c.wire.live.Store(false)
	if g := c.goneAway; g != nil {
		// The path survived (a full response), but the server ends the
		// connection now: it cannot be watched or reused again.
		c.retired = true
		c.endReuse(false, time.Time{})
		return Reply{Outcome: plan.OK, Start: start, End: end, Retired: true,
			Detail: c.status + "; server sent " + g.String() + " with the response: connection retired"}
	}
	c.endReuse(true, end)
	c.startMonitor()
	if detail, ok := c.closedRightAfter(ctx, end); ok {
		c.retired = true
		return Reply{Outcome: plan.OK, Start: start, End: end, Retired: true,
			Detail: c.status + "; server ended the connection right after the response (" + detail + "): connection retired"}
	}
	return Reply{Outcome: plan.OK, Start: start, End: end, Detail: c.status}
}

// closedRightAfter waits until h2RetireGrace after end, the end of a
// response, for the idle monitor to see a GOAWAY or a close: one that
// follows the response at once retires the connection, it is no idle
// limit. It returns the close's description.
func (c *h2Conn) closedRightAfter(ctx context.Context, end time.Time) (string, bool) {
	timer := time.NewTimer(time.Until(end.Add(h2RetireGrace)))
	defer timer.Stop()
	select {
	case <-c.mon.closedCh:
	case <-timer.C:
		// Decode what the watcher has read by now, in case the monitor lags
		// behind (a loaded machine): it arrived within the grace, or about.
		c.stopMonitor()
		c.scanIdle()
		c.startMonitor()
		if _, _, seen := c.idleClose(); !seen {
			return "", false
		}
	case <-ctx.Done():
		return "", false
	}
	_, detail, _ := c.idleClose()
	return detail, true
}

// unusable describes why the watcher cannot go on (closed or overflowed).
func (c *h2Conn) unusable() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.unusableLocked()
	return r.Detail, !ok
}

// reuseExchange runs one exchange bounded by the timeout (from its first
// byte) and ctx.
func (c *h2Conn) reuseExchange(ctx context.Context) (start, end time.Time, err error) {
	start = time.Now()
	deadline := start.Add(c.t.d.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, stop := c.judge(ctx)
	defer stop()
	done := c.withDeadline(ctx, deadline)
	defer done(&err)
	c.wire.live.Store(true)
	stream := c.nextStream
	c.nextStream += 2
	end, err = c.exchange(stream, false)
	if err != nil {
		end = time.Now()
	}
	return start, end, err
}

// Close stops the idle decoder and closes the socket.
func (c *h2Conn) Close() error {
	c.stopMonitor()
	return c.watchedConn.Close()
}
