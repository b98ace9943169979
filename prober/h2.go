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
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
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

const (
	// h2FrameSize is the largest frame read (the protocol default; we never
	// advertise a bigger SETTINGS_MAX_FRAME_SIZE).
	h2FrameSize = 16 << 10
	// h2Window is the initial flow-control window of both ends (default).
	h2Window = 65535
	// h2HeaderTable is the HPACK dynamic table size we allow (default).
	h2HeaderTable = 4096
	// h2MaxPendingPings caps the server PINGs kept to acknowledge at the
	// next reuse.
	h2MaxPendingPings = 4
	// h2ReadChunk is how much plaintext one read takes.
	h2ReadChunk = 16 << 10
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

// h2Forbidden are connection-specific fields that HTTP/2 does not allow
// (RFC 9113 section 8.2.2), besides the ones idleprobe always sets.
var h2Forbidden = []string{"Proxy-Connection"}

// buildH2Request returns the header fields of the request: the pseudo
// fields first, then the configured headers in sorted order, lower case.
func buildH2Request(t Target, o TransportOptions, scheme string) ([]hpack.HeaderField, error) {
	method := o.Method
	if method == "" {
		method = http.MethodGet
	}
	if !validToken(method) {
		return nil, fmt.Errorf("method %q is not a valid HTTP method (examples: GET, HEAD, POST)", method)
	}
	host := o.Host
	if host == "" {
		host = o.Header.Get("Host")
	}
	if host == "" {
		host = t.URL.Host
	}
	if !validFieldValue(host) || strings.ContainsAny(host, " \t/") || host == "" {
		return nil, fmt.Errorf("host %q is not a valid :authority", host)
	}
	fields := []hpack.HeaderField{
		{Name: ":method", Value: method},
		{Name: ":scheme", Value: scheme},
		{Name: ":authority", Value: host},
		{Name: ":path", Value: t.URL.RequestURI()},
	}
	names := make([]string, 0, len(o.Header))
	for k := range o.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	hasUA := false
	for _, k := range names {
		ck := http.CanonicalHeaderKey(k)
		if ck == "Host" {
			continue
		}
		if slices.Contains(headersFixed, ck) || slices.Contains(h2Forbidden, ck) {
			return nil, fmt.Errorf("header %s is set by idleprobe or not allowed in HTTP/2 and cannot be configured", ck)
		}
		if !validToken(k) {
			return nil, fmt.Errorf("header name %q is not valid (letters, digits and !#$%%&'*+-.^_`|~ only)", k)
		}
		for _, v := range o.Header[k] {
			if !validFieldValue(v) {
				return nil, fmt.Errorf("header %s: value %q contains control characters", ck, v)
			}
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
	inBuf  []byte // in's backing array
	chunk  []byte
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
	peerMaxFrame  uint32
	peerWindow    int64 // initial stream send window
	settingsAcks  int
	pendingPings  [][8]byte
	goneAway      *goAway
	idleBroken    error // a protocol error in what arrived while idle
	spent         bool  // the server sent GOAWAY: not reusable again
	monMu         sync.Mutex
	monStop       chan struct{}
	monDone       chan struct{}
	closeMu       sync.Mutex
	closedCh      chan struct{}
	closeSeen     bool
	closeAt       time.Time
	closeDetailed string
}

func newH2Conn(t *h2Transport, wc *watchedConn) *h2Conn {
	c := &h2Conn{
		watchedConn:  wc,
		t:            t,
		wire:         &h2Wire{watchedConn: wc},
		chunk:        make([]byte, h2ReadChunk),
		peerMaxFrame: h2FrameSize,
		peerWindow:   h2Window,
		closedCh:     make(chan struct{}),
		nextStream:   1,
		connSend:     h2Window,
	}
	c.enc = hpack.NewEncoder(&c.hb)
	c.rw = c.wire
	c.fr = http2.NewFramer(&c.out, h2Feed{c})
	c.fr.SetMaxReadFrameSize(h2FrameSize)
	c.dec = hpack.NewDecoder(h2HeaderTable, func(f hpack.HeaderField) {
		c.hdrs = append(c.hdrs, f)
	})
	c.dec.SetMaxStringLength(maxResponseBytes)
	return c
}

// h2Feed gives the framer the buffered plaintext; readFrame makes sure a
// whole frame is there before the framer reads.
type h2Feed struct{ c *h2Conn }

func (f h2Feed) Read(p []byte) (int, error) {
	if len(f.c.in) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, f.c.in)
	f.c.in = f.c.in[n:]
	return n, nil
}

// haveFrame reports whether in holds a whole frame (or a header that
// announces a frame too large to read: the framer rejects it at once).
func (c *h2Conn) haveFrame() bool {
	if len(c.in) < 9 {
		return false
	}
	n := int(c.in[0])<<16 | int(c.in[1])<<8 | int(c.in[2])
	return n > h2FrameSize || len(c.in) >= 9+n
}

// errHTTP1 is the first-exchange error of a server that answers in HTTP/1.x.
var errHTTP1 = errors.New("the server answered in HTTP/1.x")

// readFrame returns the next frame. Outside a reuse it returns errNoData
// once the stash is used up.
func (c *h2Conn) readFrame() (http2.Frame, error) {
	for !c.haveFrame() {
		n, err := c.rw.Read(c.chunk)
		if n > 0 {
			c.buffer(c.chunk[:n])
			continue
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		return nil, err
	}
	if !c.framed {
		if bytes.HasPrefix(c.in, []byte("HTTP/")) {
			return nil, errHTTP1
		}
		c.framed = true
	}
	return c.fr.ReadFrame()
}

// buffer appends p to the plaintext not yet framed, reusing one backing
// array (at most a frame and a read chunk).
func (c *h2Conn) buffer(p []byte) {
	if len(c.in) == 0 {
		c.in = c.inBuf[:0]
	} else if cap(c.in)-len(c.in) < len(p) {
		c.in = append(c.inBuf[:0], c.in...) // to the front
	}
	c.in = append(c.in, p...)
	if cap(c.in) > cap(c.inBuf) {
		c.inBuf = c.in[:0]
	}
}

// flush writes the queued frames in one write.
func (c *h2Conn) flush() error {
	if c.out.Len() == 0 {
		return nil
	}
	_, err := c.rw.Write(c.out.Bytes())
	c.out.Reset()
	return err
}

// applySettings takes the server's SETTINGS into account and queues the ACK.
func (c *h2Conn) applySettings(f *http2.SettingsFrame) error {
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = s.Val
		case http2.SettingInitialWindowSize:
			c.peerWindow = int64(s.Val)
		case http2.SettingHeaderTableSize:
			c.enc.SetMaxDynamicTableSizeLimit(s.Val)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bad SETTINGS from the server: %w", err)
	}
	c.settingsAcks++
	return nil
}

// queueOwed queues the ACKs we owe: SETTINGS and the server's PINGs.
func (c *h2Conn) queueOwed() error {
	for ; c.settingsAcks > 0; c.settingsAcks-- {
		if err := c.fr.WriteSettingsAck(); err != nil {
			return err
		}
	}
	for _, p := range c.pendingPings {
		if err := c.fr.WritePing(true, p); err != nil {
			return err
		}
	}
	c.pendingPings = c.pendingPings[:0]
	return nil
}

// notePing remembers a server PING to acknowledge.
func (c *h2Conn) notePing(f *http2.PingFrame) {
	if len(c.pendingPings) < h2MaxPendingPings {
		c.pendingPings = append(c.pendingPings, f.Data)
	}
}

// headerBlock feeds a HEADERS, PUSH_PROMISE or CONTINUATION fragment to
// the HPACK decoder (its table must follow every block) and returns the
// fields once the block ends.
func (c *h2Conn) headerBlock(frag []byte, end bool) ([]hpack.HeaderField, error) {
	c.hsize += len(frag)
	if c.hsize > maxResponseBytes {
		return nil, errBodyTooLarge
	}
	if _, err := c.dec.Write(frag); err != nil {
		return nil, fmt.Errorf("malformed HTTP/2 header block: %w", err)
	}
	if !end {
		return nil, nil
	}
	fields := c.hdrs
	c.hdrs, c.hsize = nil, 0
	if err := c.dec.Close(); err != nil {
		return nil, fmt.Errorf("malformed HTTP/2 header block: %w", err)
	}
	return fields, nil
}

// withDeadline bounds I/O on the socket by deadline and ctx until the
// returned function is called. The function maps a timeout caused by ctx
// to ctx's error (or a plain timeout for its deadline).
func (c *h2Conn) withDeadline(ctx context.Context, deadline time.Time) func(err *error) {
	_ = c.raw.SetDeadline(deadline)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = c.raw.SetDeadline(aLongTimeAgo)
		close(fired)
	})
	return func(err *error) {
		if !stop() {
			<-fired
		}
		_ = c.raw.SetDeadline(time.Time{})
		if *err != nil && ctx.Err() != nil && isTimeout(*err) {
			*err = ctx.Err()
			if ctx.Err() == context.DeadlineExceeded {
				*err = os.ErrDeadlineExceeded
			}
		}
	}
}

// firstExchange runs the connection preface and the first request. It
// returns when the response ended.
func (c *h2Conn) firstExchange(ctx context.Context) (end time.Time, err error) {
	deadline := time.Now().Add(c.t.d.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	done := c.withDeadline(ctx, deadline)
	defer done(&err)

	c.out.WriteString(http2.ClientPreface)
	if err := c.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 0}); err != nil {
		return end, err
	}
	if err := c.flush(); err != nil {
		return end, err
	}
	// Both SETTINGS exchanged before the request.
	gotSettings, gotAck := false, false
	for !gotSettings || !gotAck {
		f, err := c.readFrame()
		if err != nil {
			return end, err
		}
		if !gotSettings {
			if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
				return end, fmt.Errorf("malformed HTTP/2 preface: the server's first frame is %s, not SETTINGS", f.Header().Type)
			}
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				gotAck = true
				break
			}
			gotSettings = true
			if err := c.applySettings(f); err != nil {
				return end, err
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				c.notePing(f)
			}
		case *http2.GoAwayFrame:
			return end, fmt.Errorf("the server sent %s before the first request", goAwayOf(f))
		}
		if err := c.queueOwed(); err != nil {
			return end, err
		}
		if err := c.flush(); err != nil {
			return end, err
		}
	}
	end, err = c.exchange(c.nextStream, true)
	c.nextStream += 2
	return end, err
}

// goAwayOf describes a GOAWAY frame.
func goAwayOf(f *http2.GoAwayFrame) *goAway {
	return &goAway{code: f.ErrCode, debug: oneLine(string(f.DebugData()))}
}

// refusedError: the server will not process the request (a GOAWAY below
// its stream, or REFUSED_STREAM): it is closing the connection.
type refusedError struct{ why string }

func (e *refusedError) Error() string { return e.why }

// exchange sends the request on stream and reads the response to its end,
// answering what the server asks for on the way (SETTINGS and PING ACKs,
// WINDOW_UPDATEs for the response body). It returns when the response
// ended. first is the first exchange, where any GOAWAY is an error.
func (c *h2Conn) exchange(stream uint32, first bool) (time.Time, error) {
	// What we owe from the idle period (ACKs, the connection window the
	// last responses used) goes out with the request, never while idle.
	if err := c.queueOwed(); err != nil {
		return time.Time{}, err
	}
	if c.recvUnacked > 0 {
		if err := c.fr.WriteWindowUpdate(0, uint32(c.recvUnacked)); err != nil {
			return time.Time{}, err
		}
		c.recvUnacked = 0
	}
	c.hb.Reset()
	for _, f := range c.t.fields {
		if err := c.enc.WriteField(f); err != nil {
			return time.Time{}, err
		}
	}
	block := c.hb.Bytes()
	maxFrame := int(c.peerMaxFrame)
	body := c.t.body
	for i := 0; i == 0 || len(block) > 0; i++ {
		n := min(len(block), maxFrame)
		frag := block[:n]
		block = block[n:]
		var err error
		if i == 0 {
			err = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: frag,
				EndStream: len(body) == 0, EndHeaders: len(block) == 0})
		} else {
			err = c.fr.WriteContinuation(stream, len(block) == 0, frag)
		}
		if err != nil {
			return time.Time{}, err
		}
	}

	var (
		streamSend    = c.peerWindow
		streamUnacked int64 // DATA bytes on the stream not yet given back
		resp          h2Response
		blockEnds     bool // the stream's header block carries END_STREAM
	)
	for {
		// Send as much of the body as the windows allow.
		for len(body) > 0 && c.connSend > 0 && streamSend > 0 && !resp.done {
			n := min(int64(len(body)), c.connSend, streamSend, int64(maxFrame))
			if err := c.fr.WriteData(stream, int64(len(body)) == n, body[:n]); err != nil {
				return time.Time{}, err
			}
			body = body[n:]
			c.connSend -= n
			streamSend -= n
		}
		if resp.done && len(body) > 0 {
			// The server answered before taking the whole body: cancel ours.
			if err := c.fr.WriteRSTStream(stream, http2.ErrCodeCancel); err != nil {
				return time.Time{}, err
			}
			body = nil
		}
		if err := c.queueOwed(); err != nil {
			return time.Time{}, err
		}
		if err := c.flush(); err != nil {
			return time.Time{}, err
		}
		if resp.done {
			c.status = resp.status
			return time.Now(), nil
		}
		f, err := c.readFrame()
		if err != nil {
			return time.Time{}, err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				break
			}
			old := c.peerWindow
			if err := c.applySettings(f); err != nil {
				return time.Time{}, err
			}
			streamSend += c.peerWindow - old
			maxFrame = int(c.peerMaxFrame)
		case *http2.PingFrame:
			if !f.IsAck() {
				c.notePing(f)
			}
		case *http2.GoAwayFrame:
			g := goAwayOf(f)
			c.goneAway = g
			if first {
				return time.Time{}, fmt.Errorf("the server sent %s during the first request", g)
			}
			if f.LastStreamID < stream {
				return time.Time{}, &refusedError{g.String() + ": the server did not take the request"}
			}
		case *http2.WindowUpdateFrame:
			switch f.StreamID {
			case 0:
				c.connSend += int64(f.Increment)
			case stream:
				streamSend += int64(f.Increment)
			}
		case *http2.RSTStreamFrame:
			if f.StreamID != stream {
				break
			}
			if !first && f.ErrCode == http2.ErrCodeRefusedStream {
				return time.Time{}, &refusedError{"the server refused the request (RST_STREAM REFUSED_STREAM)"}
			}
			return time.Time{}, fmt.Errorf("the server reset the request stream (RST_STREAM %s)", f.ErrCode)
		case *http2.HeadersFrame:
			if f.StreamID == stream {
				blockEnds = f.StreamEnded()
			}
			if err := resp.block(c, f.StreamID == stream, f.HeaderBlockFragment(), f.HeadersEnded(), blockEnds); err != nil {
				return time.Time{}, err
			}
		case *http2.ContinuationFrame:
			if err := resp.block(c, f.StreamID == stream, f.HeaderBlockFragment(), f.HeadersEnded(), blockEnds); err != nil {
				return time.Time{}, err
			}
		case *http2.PushPromiseFrame:
			// Push is disabled; keep the HPACK table right and go on.
			if _, err := c.headerBlock(f.HeaderBlockFragment(), f.HeadersEnded()); err != nil {
				return time.Time{}, err
			}
		case *http2.DataFrame:
			// Flow control counts the whole frame, padding included.
			c.recvUnacked += int64(f.Length)
			if f.StreamID == stream {
				if !resp.final || resp.done {
					return time.Time{}, errors.New("malformed HTTP/2 response: DATA outside the response body")
				}
				resp.bodyBytes += int64(len(f.Data()))
				if resp.bodyBytes > maxResponseBytes {
					return time.Time{}, errBodyTooLarge
				}
				streamUnacked += int64(f.Length)
				resp.done = f.StreamEnded()
			}
			if resp.done {
				break
			}
			if c.recvUnacked >= h2Window/2 {
				if err := c.fr.WriteWindowUpdate(0, uint32(c.recvUnacked)); err != nil {
					return time.Time{}, err
				}
				c.recvUnacked = 0
			}
			if streamUnacked >= h2Window/2 {
				if err := c.fr.WriteWindowUpdate(stream, uint32(streamUnacked)); err != nil {
					return time.Time{}, err
				}
				streamUnacked = 0
			}
		}
	}
}

// h2Response follows the response on the request stream.
type h2Response struct {
	final     bool // the final (non-1xx) header block arrived
	interim   int
	done      bool // END_STREAM
	bodyBytes int64
	status    string // "200 OK"
}

// block takes one HEADERS or CONTINUATION fragment (of the request stream
// when ours); ends tells whether the stream ends with this header block.
func (r *h2Response) block(c *h2Conn, ours bool, frag []byte, endHeaders, ends bool) error {
	fields, err := c.headerBlock(frag, endHeaders)
	if err != nil || !ours || !endHeaders {
		return err
	}
	if r.final {
		// Trailers.
		if !ends {
			return errors.New("malformed HTTP/2 response: trailers without END_STREAM")
		}
		r.done = true
		return nil
	}
	final, status, err := responseStatus(fields)
	if err != nil {
		return err
	}
	if !final {
		if r.interim++; r.interim > maxInterim {
			return fmt.Errorf("malformed response: more than %d interim (1xx) responses", maxInterim)
		}
		if ends {
			return errors.New("malformed HTTP/2 response: stream ended after an interim (1xx) response")
		}
		return nil
	}
	r.final, r.done, r.status = true, ends, status
	return nil
}

// responseStatus checks :status in a decoded response header block and
// reports whether the response is final (not 1xx), and its status.
func responseStatus(fields []hpack.HeaderField) (bool, string, error) {
	for _, f := range fields {
		if f.Name != ":status" {
			continue
		}
		code, err := strconv.Atoi(f.Value)
		if err != nil || len(f.Value) != 3 || code < 100 {
			return false, "", fmt.Errorf("malformed HTTP/2 response: :status %q", oneLine(f.Value))
		}
		if code == http.StatusSwitchingProtocols {
			return false, "", errors.New("malformed HTTP/2 response: 101 Switching Protocols")
		}
		status := f.Value
		if text := http.StatusText(code); text != "" {
			status += " " + text
		}
		return code >= 200, status, nil
	}
	return false, "", errors.New("malformed HTTP/2 response: no :status")
}

// Closed is closed when the server or a hop ended the connection while it
// was idle: a GOAWAY, a TLS close_notify, a FIN or an RST.
func (c *h2Conn) Closed() <-chan struct{} { return c.closedCh }

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
	close(c.closedCh)
}

// idleClose returns the idle close, if one was seen.
func (c *h2Conn) idleClose() (time.Time, string, bool) {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return c.closeAt, c.closeDetailed, c.closeSeen
}

// startMonitor starts the idle decoder.
func (c *h2Conn) startMonitor() {
	c.monMu.Lock()
	defer c.monMu.Unlock()
	if c.monStop != nil {
		return
	}
	c.monStop, c.monDone = make(chan struct{}), make(chan struct{})
	go c.monitor(c.monStop, c.monDone)
}

// stopMonitor stops the idle decoder and waits for it.
func (c *h2Conn) stopMonitor() {
	c.monMu.Lock()
	defer c.monMu.Unlock()
	if c.monStop == nil {
		return
	}
	close(c.monStop)
	<-c.monDone
	c.monStop, c.monDone = nil, nil
}

// monitor decodes what the watcher stashes while the connection is idle,
// until a close is seen or it is stopped. It never writes.
func (c *h2Conn) monitor(stop, done chan struct{}) {
	defer close(done)
	for {
		if c.scanIdle() {
			return
		}
		select {
		case <-stop:
			return
		case <-c.events:
		}
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

// Reuse makes the request again, on the next stream, and reads the whole
// response: what a client's pool does with a kept-alive connection. (A
// PING would refresh the path but not the idle timer of servers that count
// only streams, such as Go's and Envoy's: a recycled connection would then
// see their GOAWAY early.)
func (c *h2Conn) Reuse(ctx context.Context) Reply {
	if c.spent {
		now := time.Now()
		return Reply{Outcome: plan.Error, Start: now, End: now, Detail: "connection not reusable: the server sent GOAWAY"}
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
		c.spent = true
		c.endReuse(false, time.Time{})
		return Reply{Outcome: plan.OK, Start: start, End: end, Detail: c.status + "; server sent " + g.String() + ": connection not reusable"}
	}
	c.endReuse(true, end)
	c.startMonitor()
	return Reply{Outcome: plan.OK, Start: start, End: end, Detail: c.status}
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
