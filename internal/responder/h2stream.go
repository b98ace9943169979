package responder

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Streams of the h2c fast path: a request is answered when its stream
// ends (END_STREAM), as the HTTP/1 path answers once the body is read;
// the response body waits in the stream while the client's windows are
// too small for it.

// h2Stream is a stream the client opened and the responder has not
// finished.
type h2Stream struct {
	id      uint32
	sendWin int64 // what we may still send on it

	remoteDone bool // END_STREAM arrived: the response is under way
	grpc       bool
	req        *http.Request // the request, for the handler (not gRPC)
	path       string
	body       []byte // a gRPC request's message (up to h2MaxGRPCRequest)
	bodyLen    int64  // request body bytes seen

	out      []byte              // response DATA not yet sent
	trailers []hpack.HeaderField // sent after out (gRPC)
}

// headers opens a stream, or takes a request's trailers.
func (h *h2Conn) headers(s *Server, x *h2IO, f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if st := h.find(id); st != nil {
		// Trailers: they end the request.
		if st.remoteDone {
			h.reset(x, id, http2.ErrCodeStreamClosed)
			return nil
		}
		if !f.StreamEnded() {
			h.reset(x, id, http2.ErrCodeProtocol)
			return nil
		}
		return h.endStream(s, x, st)
	}
	if id%2 == 0 || id <= h.lastStream {
		return connErr(http2.ErrCodeProtocol, "HEADERS on stream %d (the last was %d)", id, h.lastStream)
	}
	h.lastStream = id
	if f.Truncated || len(h.streams) >= h2MaxStreams {
		code := http2.ErrCodeRefusedStream
		if f.Truncated {
			code = http2.ErrCodeProtocol
		}
		h.reset(x, id, code)
		return nil
	}
	method, path, authority := f.PseudoValue("method"), f.PseudoValue("path"), f.PseudoValue("authority")
	if method == "" || path == "" {
		h.reset(x, id, http2.ErrCodeProtocol)
		return nil
	}
	st := &h2Stream{id: id, sendWin: h.peerWindow, path: path}
	hdr := make(http.Header, len(f.RegularFields()))
	for _, hf := range f.RegularFields() {
		hdr.Add(hf.Name, hf.Value)
	}
	st.grpc = strings.HasPrefix(hdr.Get("Content-Type"), "application/grpc")
	if !st.grpc {
		u, err := url.ParseRequestURI(path)
		if err != nil {
			h.reset(x, id, http2.ErrCodeProtocol)
			return nil
		}
		st.req = &http.Request{
			Method: method, URL: u, RequestURI: path, Host: authority, Header: hdr,
			Proto: "HTTP/2.0", ProtoMajor: 2, Body: http.NoBody, RemoteAddr: h.remote,
		}
	}
	h.streams = append(h.streams, st)
	if f.StreamEnded() {
		return h.endStream(s, x, st)
	}
	return nil
}

// data takes request body bytes and gives their window back at once (the
// bytes are discarded or kept as they come), so a frame (at most
// h2FrameSize) never exceeds a window.
func (h *h2Conn) data(s *Server, x *h2IO, f *http2.DataFrame) error {
	n := int64(f.Length) // padding counts too
	if n > 0 {
		if err := x.fr.WriteWindowUpdate(0, uint32(n)); err != nil {
			return err
		}
	}
	st := h.find(f.StreamID)
	if st == nil {
		if f.StreamID > h.lastStream {
			return connErr(http2.ErrCodeProtocol, "DATA on idle stream %d", f.StreamID)
		}
		h.reset(x, f.StreamID, http2.ErrCodeStreamClosed)
		return nil
	}
	if st.remoteDone {
		h.reset(x, st.id, http2.ErrCodeStreamClosed)
		return nil
	}
	b := f.Data()
	st.bodyLen += int64(len(b))
	if st.grpc && st.bodyLen <= h2MaxGRPCRequest {
		st.body = append(st.body, b...)
	}
	if f.StreamEnded() {
		return h.endStream(s, x, st)
	}
	if n > 0 {
		if err := x.fr.WriteWindowUpdate(st.id, uint32(n)); err != nil {
			return err
		}
	}
	return nil
}

// endStream answers a complete request.
func (h *h2Conn) endStream(s *Server, x *h2IO, st *h2Stream) error {
	st.remoteDone = true
	if st.grpc {
		return h.answerGRPC(s, x, st)
	}
	st.req.ContentLength = st.bodyLen
	w := &bufferedWriter{header: make(http.Header), body: bufferPool.Get().(*bytes.Buffer)}
	defer func() {
		w.body.Reset()
		bufferPool.Put(w.body)
	}()
	req := st.req
	st.req = nil
	s.srv.Handler.ServeHTTP(w, req)
	w.WriteHeader(http.StatusOK)
	hdr := w.header
	if _, ok := hdr["Date"]; !ok {
		hdr.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	bodyAllowed := w.status >= 200 && w.status != http.StatusNoContent && w.status != http.StatusNotModified
	if _, ok := hdr["Content-Length"]; !ok && bodyAllowed {
		hdr.Set("Content-Length", strconv.Itoa(w.body.Len()))
	}
	fields := []hpack.HeaderField{{Name: ":status", Value: strconv.Itoa(w.status)}}
	for k, vs := range hdr {
		lk := strings.ToLower(k)
		switch lk {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			continue // connection-specific: not in HTTP/2
		}
		for _, v := range vs {
			fields = append(fields, hpack.HeaderField{Name: lk, Value: v})
		}
	}
	if bodyAllowed && req.Method != http.MethodHead && w.body.Len() > 0 {
		st.out = bytes.Clone(w.body.Bytes())
	}
	return h.respond(x, st, fields)
}

// respond writes the response header block and as much of the body as the
// windows allow; the stream ends when all of it is out.
func (h *h2Conn) respond(x *h2IO, st *h2Stream, fields []hpack.HeaderField) error {
	ends := len(st.out) == 0 && st.trailers == nil
	if err := h.writeBlock(x, st.id, fields, ends); err != nil {
		return err
	}
	if ends {
		h.remove(st.id)
		return nil
	}
	return h.send(x, st)
}

// writeBlock encodes fields and writes them as HEADERS (and CONTINUATION
// frames when the block is larger than a frame).
func (h *h2Conn) writeBlock(x *h2IO, id uint32, fields []hpack.HeaderField, endStream bool) error {
	x.hb.Reset()
	for _, f := range fields {
		if err := x.enc.WriteField(f); err != nil {
			return err
		}
	}
	block := x.hb.Bytes()
	maxFrame := int(h.peerMaxFrame)
	for i := 0; i == 0 || len(block) > 0; i++ {
		n := min(len(block), maxFrame)
		frag := block[:n]
		block = block[n:]
		var err error
		if i == 0 {
			err = x.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag,
				EndStream: endStream, EndHeaders: len(block) == 0})
		} else {
			err = x.fr.WriteContinuation(id, len(block) == 0, frag)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// send writes what the windows allow of st's response, then its trailers,
// and forgets st once it is all out.
func (h *h2Conn) send(x *h2IO, st *h2Stream) error {
	for len(st.out) > 0 && h.connSend > 0 && st.sendWin > 0 {
		n := min(int64(len(st.out)), h.connSend, st.sendWin, int64(h.peerMaxFrame))
		last := n == int64(len(st.out)) && st.trailers == nil
		if err := x.fr.WriteData(st.id, last, st.out[:n]); err != nil {
			return err
		}
		st.out = st.out[n:]
		h.connSend -= n
		st.sendWin -= n
	}
	if len(st.out) > 0 {
		return nil // waits for a WINDOW_UPDATE
	}
	if st.trailers != nil {
		if err := h.writeBlock(x, st.id, st.trailers, true); err != nil {
			return err
		}
	}
	h.remove(st.id)
	return nil
}

// sendPending sends what waited for a window.
func (h *h2Conn) sendPending(x *h2IO) error {
	for _, st := range append([]*h2Stream(nil), h.streams...) {
		if st.remoteDone {
			if err := h.send(x, st); err != nil {
				return err
			}
		}
	}
	return nil
}
