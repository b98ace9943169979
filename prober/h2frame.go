package prober

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// HTTP/2 framing on an h2Conn: reading whole frames from the buffered
// plaintext, the connection preface, and one request/response exchange.

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
		chunk := h2Chunks.Get().(*[]byte)
		n, err := c.rw.Read(*chunk)
		if n > 0 {
			c.buffer((*chunk)[:n])
		}
		h2Chunks.Put(chunk)
		if n > 0 {
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
	f, err := c.fr.ReadFrame()
	if len(c.in) == 0 && c.inBuf != nil {
		// All framed (the framer copies what it keeps): an idle connection
		// holds no plaintext buffer.
		b := c.inBuf[:0]
		c.in, c.inBuf = nil, nil
		h2InBufs.Put(&b)
	}
	return f, err
}

// h2Chunks holds the buffers of reads in progress (h2ReadChunk bytes);
// h2InBufs the backing arrays of plaintext not yet framed. A connection
// holds either only while it reads.
var (
	h2Chunks = sync.Pool{New: func() any { b := make([]byte, h2ReadChunk); return &b }}
	h2InBufs = sync.Pool{New: func() any { return new([]byte) }}
)

// buffer appends p to the plaintext not yet framed, reusing one backing
// array (at most a frame and a read chunk).
func (c *h2Conn) buffer(p []byte) {
	if c.inBuf == nil {
		c.inBuf = (*h2InBufs.Get().(*[]byte))[:0]
	}
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
func (c *watchedConn) withDeadline(ctx context.Context, deadline time.Time) func(err *error) {
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
			*err = reuseErr(ctx) // canceled, its deadline, or a black hole
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
	if err := c.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingHeaderTableSize, Val: h2AskHeaderTable}); err != nil {
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
			if c.t.answer != nil {
				status, err := c.t.answer(&resp, first)
				if err != nil {
					return time.Time{}, err
				}
				c.status = status
			}
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
				if c.t.answer != nil {
					resp.body = append(resp.body, f.Data()...)
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
	// For a transport with an answer check (gRPC): the final header block,
	// the trailers and the body.
	fields, trailers []hpack.HeaderField
	body             []byte
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
		r.done, r.trailers = true, fields
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
	r.final, r.done, r.status, r.fields = true, ends, status, fields
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
