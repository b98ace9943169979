package responder

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The h2c fast path: the responder speaks cleartext HTTP/2 with prior
// knowledge itself, on connections held like HTTP/1.x ones (hold.go).
// Between exchanges a connection is one goroutine parked on readability
// (waitReadable) and an h2Conn: the HPACK decoder whose dynamic table must
// outlive a request (kept small: SETTINGS_HEADER_TABLE_SIZE h2HeaderTable),
// the flow-control windows and the streams still open. When bytes arrive a
// new goroutine takes a reader, a framer and an output buffer from a pool
// (h2IO), reads every frame that has arrived, answers, writes everything in
// one write and hands the connection back to a waiter.
//
// It answers every request as the HTTP/1 path does (srv.Handler, buffered)
// and gRPC health checks itself (h2grpc.go); it ACKs SETTINGS and PINGs,
// never sends a PING, never closes an idle connection, and closes the
// connection with a GOAWAY on a protocol error.

const (
	// h2HeaderTable is the HPACK dynamic table size the responder allows
	// the client (SETTINGS_HEADER_TABLE_SIZE): enough for the few fields a
	// prober repeats, small enough that an idle connection keeps little.
	h2HeaderTable = 512
	// h2MaxStreams is SETTINGS_MAX_CONCURRENT_STREAMS.
	h2MaxStreams = 100
	// h2MaxHeaderList is SETTINGS_MAX_HEADER_LIST_SIZE.
	h2MaxHeaderList = 64 << 10
	// h2Window is the initial flow-control window of both ends (default).
	h2Window = 65535
	// h2FrameSize is the largest frame read and written (the default).
	h2FrameSize = 16 << 10
	// h2MaxWindow is the largest flow-control window (2^31-1).
	h2MaxWindow = 1<<31 - 1
)

// h2Conn is the state of one h2c connection that lives between exchanges.
type h2Conn struct {
	remote string
	dec    *hpack.Decoder

	preface     bool   // the client's preface was read and our SETTINGS sent
	sawSettings bool   // the client's first frame (SETTINGS) arrived
	acked       bool   // the client ACKed our SETTINGS (the small table applies)
	lastStream  uint32 // the highest stream the client opened

	connSend     int64 // what we may still send on the connection
	peerWindow   int64 // the client's initial stream window
	peerMaxFrame uint32
	streams      []*h2Stream // open streams (nil when none)
}

func newH2Conn(remote string) *h2Conn {
	return &h2Conn{
		remote:       remote,
		dec:          hpack.NewDecoder(4096, nil), // the default until the client ACKs ours
		connSend:     h2Window,
		peerWindow:   h2Window,
		peerMaxFrame: h2FrameSize,
	}
}

// h2IO is what an exchange needs and an idle connection does not: the
// reader, the framer over it, the output buffer and the response encoder.
type h2IO struct {
	br  *bufio.Reader
	out bytes.Buffer
	fr  *http2.Framer
	hb  bytes.Buffer
	enc *hpack.Encoder
}

// h2IOs holds them. The response encoder has no dynamic table (size 0):
// it never indexes a field, so any encoder serves any connection.
var h2IOs = sync.Pool{New: func() any {
	x := &h2IO{br: bufio.NewReaderSize(nil, 4<<10)}
	x.fr = http2.NewFramer(&x.out, x.br)
	x.fr.SetMaxReadFrameSize(h2FrameSize)
	x.fr.MaxHeaderListSize = h2MaxHeaderList
	x.enc = hpack.NewEncoder(&x.hb)
	x.enc.SetMaxDynamicTableSizeLimit(0)
	return x
}}

// h2Error is a connection error the responder found itself.
type h2Error struct {
	code http2.ErrCode
	why  string
}

func (e *h2Error) Error() string { return fmt.Sprintf("HTTP/2 %s: %s", e.code, e.why) }

func connErr(code http2.ErrCode, format string, args ...any) error {
	return &h2Error{code: code, why: fmt.Sprintf(format, args...)}
}

// h2Preface is the part of the client preface that ends like an HTTP/1
// header block (answerHTTP sees it first).
var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\n")

// startH2 takes over a connection whose first bytes (read by answerHTTP)
// begin with the HTTP/2 preface.
func (s *Server) startH2(c *net.TCPConn, br *bufio.Reader) {
	prefix, _ := br.Peek(br.Buffered())
	h := newH2Conn(c.RemoteAddr().String())
	s.answerH2(c, h, bytes.Clone(prefix))
}

// holdH2 waits, without a buffer, until the client sends something.
func (s *Server) holdH2(c *net.TCPConn, h *h2Conn) {
	if err := waitReadable(c); err != nil {
		s.drop(c, "h2c", err)
		return
	}
	s.spawn(c, func(c *net.TCPConn) { s.answerH2(c, h, nil) })
}

// answerH2 reads and answers what has arrived (after prefix, bytes
// already read from c), then holds the connection again.
func (s *Server) answerH2(c *net.TCPConn, h *h2Conn, prefix []byte) {
	x := h2IOs.Get().(*h2IO)
	var r io.Reader = c
	var pc *prefixConn
	if prefix != nil {
		pc = &prefixConn{TCPConn: c, prefix: prefix}
		r = pc
	}
	x.br.Reset(r)
	err := h.serve(s, x, c)
	for err == nil && pc != nil && len(pc.prefix) > 0 {
		err = h.serve(s, x, c) // bytes answerHTTP read are not left behind
	}
	if err != nil {
		// The framer may be mid-frame: it is not reused.
		x.br.Reset(nil)
		s.drop(c, "h2c", err)
		return
	}
	x.br.Reset(nil)
	x.fr.ReadMetaHeaders = nil
	h2IOs.Put(x)
	s.spawn(c, func(c *net.TCPConn) { s.holdH2(c, h) })
}

// serve reads the frames that have arrived and answers them, writing to
// w, until the reader has nothing buffered. On a protocol error it writes
// a GOAWAY and returns the error; the caller closes the connection.
func (h *h2Conn) serve(s *Server, x *h2IO, w io.Writer) error {
	x.fr.ReadMetaHeaders = h.dec
	x.out.Reset()
	err := h.frames(s, x, w)
	if code, ok := goAwayCode(err); ok {
		// After the answers queued so far (the framer writes whole frames).
		_ = x.fr.WriteGoAway(h.lastStream, code, nil)
	}
	if werr := flush(x, w); err == nil {
		err = werr
	}
	return err
}

// frames is serve's loop.
func (h *h2Conn) frames(s *Server, x *h2IO, w io.Writer) error {
	// Held, the connection became readable: read at least once.
	mustRead := h.preface
	if !h.preface {
		var p [len(http2.ClientPreface)]byte
		if _, err := io.ReadFull(x.br, p[:]); err != nil {
			return err
		}
		if string(p[:]) != http2.ClientPreface {
			return connErr(http2.ErrCodeProtocol, "bad client preface")
		}
		h.preface = true
		if err := x.fr.WriteSettings(
			http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: h2MaxStreams},
			http2.Setting{ID: http2.SettingHeaderTableSize, Val: h2HeaderTable},
			http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: h2MaxHeaderList},
		); err != nil {
			return err
		}
	}
	for mustRead || x.br.Buffered() > 0 {
		mustRead = false
		if !haveFrame(x.br) {
			// The read will block: what we owe goes out first.
			if err := flush(x, w); err != nil {
				return err
			}
		}
		f, err := x.fr.ReadFrame()
		var se http2.StreamError
		if errors.As(err, &se) {
			h.noteStream(se.StreamID)
			h.reset(x, se.StreamID, se.Code)
			continue
		}
		if err != nil {
			return err
		}
		if err := h.frame(s, x, f); err != nil {
			return err
		}
	}
	return nil
}

// goAwayCode says whether err ends the connection with a GOAWAY, and its
// code: protocol errors do, a failed or ended socket does not.
func goAwayCode(err error) (http2.ErrCode, bool) {
	var ce http2.ConnectionError
	var he *h2Error
	var ne net.Error
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &ne), errors.Is(err, net.ErrClosed):
		return 0, false
	case errors.As(err, &ce):
		return http2.ErrCode(ce), true
	case errors.As(err, &he):
		return he.code, true
	case errors.Is(err, http2.ErrFrameTooLarge):
		return http2.ErrCodeFrameSize, true
	}
	return http2.ErrCodeProtocol, true
}

// haveFrame reports whether br holds a whole frame.
func haveFrame(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	if len(b) < 9 {
		return false
	}
	n := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
	return len(b) >= 9+n
}

// flush writes the queued frames in one write.
func flush(x *h2IO, w io.Writer) error {
	if x.out.Len() == 0 {
		return nil
	}
	_, err := w.Write(x.out.Bytes())
	x.out.Reset()
	return err
}

// frame handles one frame.
func (h *h2Conn) frame(s *Server, x *h2IO, f http2.Frame) error {
	if !h.sawSettings {
		if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
			return connErr(http2.ErrCodeProtocol, "the first frame is %s, not SETTINGS", f.Header().Type)
		}
		h.sawSettings = true
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return h.settings(x, f)
	case *http2.PingFrame:
		if !f.IsAck() {
			return x.fr.WritePing(true, f.Data)
		}
	case *http2.WindowUpdateFrame:
		return h.windowUpdate(x, f)
	case *http2.MetaHeadersFrame:
		return h.headers(s, x, f)
	case *http2.DataFrame:
		return h.data(s, x, f)
	case *http2.RSTStreamFrame:
		if f.StreamID > h.lastStream {
			return connErr(http2.ErrCodeProtocol, "RST_STREAM on idle stream %d", f.StreamID)
		}
		h.remove(f.StreamID)
	case *http2.PushPromiseFrame:
		return connErr(http2.ErrCodeProtocol, "PUSH_PROMISE from a client")
	}
	// PRIORITY, GOAWAY (the client leaves when it wants) and unknown frame
	// types need nothing.
	return nil
}

// settings applies the client's SETTINGS and ACKs them, or notes the ACK
// of ours.
func (h *h2Conn) settings(x *h2IO, f *http2.SettingsFrame) error {
	if f.IsAck() {
		if !h.acked {
			h.acked = true
			h.dec.SetAllowedMaxDynamicTableSize(h2HeaderTable)
		}
		return nil
	}
	err := f.ForeachSetting(func(st http2.Setting) error {
		if err := st.Valid(); err != nil {
			return err
		}
		switch st.ID {
		case http2.SettingInitialWindowSize:
			delta := int64(st.Val) - h.peerWindow
			h.peerWindow = int64(st.Val)
			for _, s := range h.streams {
				s.sendWin += delta
				if s.sendWin > h2MaxWindow {
					return connErr(http2.ErrCodeFlowControl, "SETTINGS_INITIAL_WINDOW_SIZE overflows stream %d's window", s.id)
				}
			}
		case http2.SettingMaxFrameSize:
			h.peerMaxFrame = st.Val
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := x.fr.WriteSettingsAck(); err != nil {
		return err
	}
	return h.sendPending(x)
}

// windowUpdate grows a send window and sends what waited for it.
func (h *h2Conn) windowUpdate(x *h2IO, f *http2.WindowUpdateFrame) error {
	inc := int64(f.Increment)
	if f.StreamID == 0 {
		if h.connSend+inc > h2MaxWindow {
			return connErr(http2.ErrCodeFlowControl, "connection window overflow")
		}
		h.connSend += inc
		return h.sendPending(x)
	}
	st := h.find(f.StreamID)
	if st == nil {
		if f.StreamID > h.lastStream {
			return connErr(http2.ErrCodeProtocol, "WINDOW_UPDATE on idle stream %d", f.StreamID)
		}
		return nil // a stream we have finished
	}
	if st.sendWin+inc > h2MaxWindow {
		h.reset(x, st.id, http2.ErrCodeFlowControl)
		return nil
	}
	st.sendWin += inc
	return h.sendPending(x)
}

// noteStream records that the client opened id (even when it was refused).
func (h *h2Conn) noteStream(id uint32) {
	if id > h.lastStream && id%2 == 1 {
		h.lastStream = id
	}
}

// find returns the open stream id, or nil.
func (h *h2Conn) find(id uint32) *h2Stream {
	for _, s := range h.streams {
		if s.id == id {
			return s
		}
	}
	return nil
}

// remove forgets stream id.
func (h *h2Conn) remove(id uint32) {
	for i, s := range h.streams {
		if s.id == id {
			h.streams = append(h.streams[:i], h.streams[i+1:]...)
			break
		}
	}
	if len(h.streams) == 0 {
		h.streams = nil // an idle connection keeps no slice
	}
}

// reset ends stream id with RST_STREAM.
func (h *h2Conn) reset(x *h2IO, id uint32, code http2.ErrCode) {
	h.remove(id)
	if id != 0 {
		_ = x.fr.WriteRSTStream(id, code)
	}
}
