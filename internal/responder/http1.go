package responder

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The HTTP/1.1 fast path: the responder answers plain HTTP/1.x requests
// itself, with net/http's handler (srv.Handler), on connections it holds
// without buffers while idle. The h2c preface goes to the h2c fast path
// (h2c.go). Whatever else arrives on the HTTP port (an Upgrade such as
// WebSocket, Expect: 100-continue, a header block larger than a read
// buffer) is handed to net/http with the bytes read so far. The fast
// path's ResponseWriter buffers the response and offers no Flusher or
// Hijacker: a handler that needs them is for requests that go to net/http
// (an Upgrade).

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// errHeaderTooLong: the header block does not fit the read buffer.
var errHeaderTooLong = errors.New("request header larger than the read buffer")

// acceptHTTP accepts HTTP connections and holds each one.
func (s *Server) acceptHTTP() {
	defer s.wg.Done()
	for {
		c, err := s.httpLn.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error("http accept failed", "err", err)
			}
			return
		}
		tc := c.(*net.TCPConn)
		if s.track(tc) {
			s.log.Debug("http connection", "remote", tc.RemoteAddr().String(), "state", "new")
			s.spawn(tc, s.holdHTTP)
		}
	}
}

// holdHTTP waits, without a buffer, until the client sends something, then
// answers in a new goroutine (whose stack goes when the exchange ends).
func (s *Server) holdHTTP(c *net.TCPConn) {
	if err := waitReadable(c); err != nil {
		s.drop(c, "http", err)
		return
	}
	s.spawn(c, s.answerHTTP)
}

// answerHTTP answers the requests that have arrived, then holds the
// connection again.
func (s *Server) answerHTTP(c *net.TCPConn) {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(c)
	defer func() {
		if br != nil {
			br.Reset(nil)
			readerPool.Put(br)
		}
	}()
	for {
		hdr, err := peekHeader(br)
		if err == nil && bytes.HasPrefix(hdr, h2Preface) {
			s.startH2(c, br) // h2c with prior knowledge
			return
		}
		if errors.Is(err, errHeaderTooLong) || (err == nil && !plainRequest(hdr)) {
			s.toNetHTTP(c, br)
			return
		}
		if err != nil {
			s.drop(c, "http", err)
			return
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request")
			s.drop(c, "http", err)
			return
		}
		if err := s.answer(c, req); err != nil {
			s.drop(c, "http", err)
			return
		}
		if br.Buffered() == 0 {
			break
		}
	}
	s.spawn(c, s.holdHTTP)
}

// peekHeader returns the buffered request line and header block (up to
// and including the empty line) without consuming them.
func peekHeader(br *bufio.Reader) ([]byte, error) {
	for {
		b, _ := br.Peek(br.Buffered())
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			return b[:i+4], nil
		}
		if br.Buffered() == br.Size() {
			return nil, errHeaderTooLong
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			return nil, err
		}
	}
}

// plainRequest reports whether hdr is an HTTP/1.x request the fast path
// answers: not the HTTP/2 preface, no Upgrade, no Expect.
func plainRequest(hdr []byte) bool {
	line, rest, _ := bytes.Cut(hdr, []byte("\r\n"))
	if !bytes.HasSuffix(line, []byte(" HTTP/1.1")) && !bytes.HasSuffix(line, []byte(" HTTP/1.0")) {
		return false
	}
	for h := range bytes.SplitSeq(rest, []byte("\r\n")) {
		name, _, _ := bytes.Cut(h, []byte(":"))
		name = bytes.TrimSpace(name)
		for _, special := range []string{"Upgrade", "Expect", "HTTP2-Settings"} {
			if bytes.EqualFold(name, []byte(special)) {
				return false
			}
		}
	}
	return true
}

// toNetHTTP hands c, with the bytes br has read, to net/http.
func (s *Server) toNetHTTP(c *net.TCPConn, br *bufio.Reader) {
	prefix, _ := br.Peek(br.Buffered())
	s.untrack(c)
	s.h1.give(&prefixConn{TCPConn: c, prefix: bytes.Clone(prefix)})
}

// drop closes a held connection.
func (s *Server) drop(c *net.TCPConn, proto string, err error) {
	s.untrack(c)
	c.Close()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		s.log.Debug(proto+" connection ended", "remote", c.RemoteAddr().String(), "err", err)
	}
	s.log.Debug(proto+" connection", "remote", c.RemoteAddr().String(), "state", "closed")
}

// answer runs the handler for req and writes its response. It returns an
// error when the connection must end (the client asked, or a body was
// left unread, or the write failed).
func (s *Server) answer(c *net.TCPConn, req *http.Request) error {
	req.RemoteAddr = c.RemoteAddr().String()
	w := &bufferedWriter{header: make(http.Header), body: bufferPool.Get().(*bytes.Buffer)}
	defer func() {
		w.body.Reset()
		bufferPool.Put(w.body)
	}()
	s.srv.Handler.ServeHTTP(w, req)
	// Whatever the handler left of the body must go, or the connection
	// cannot be reused: up to maxDrain, as serveHTTP does.
	left, _ := io.Copy(io.Discard, io.LimitReader(req.Body, maxDrain+1))
	closeAfter := req.Close || left > maxDrain

	out := bufferPool.Get().(*bytes.Buffer)
	defer func() {
		out.Reset()
		bufferPool.Put(out)
	}()
	w.writeTo(out, req.Method, closeAfter)
	if _, err := c.Write(out.Bytes()); err != nil {
		return err
	}
	if closeAfter {
		return io.EOF
	}
	return nil
}

// bufferedWriter is the http.ResponseWriter of the fast path: it keeps the
// response until the handler returns.
type bufferedWriter struct {
	header http.Header
	status int
	body   *bytes.Buffer
}

func (w *bufferedWriter) Header() http.Header { return w.header }

func (w *bufferedWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *bufferedWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// writeTo renders the response as net/http would: status line, Date,
// Content-Length when the handler set none, Connection: close when the
// connection ends, no body for HEAD, 1xx, 204 and 304.
func (w *bufferedWriter) writeTo(out *bytes.Buffer, method string, closeAfter bool) {
	w.WriteHeader(http.StatusOK)
	out.WriteString("HTTP/1.1 ")
	out.WriteString(strconv.Itoa(w.status))
	out.WriteByte(' ')
	out.WriteString(http.StatusText(w.status))
	out.WriteString("\r\n")
	h := w.header
	if _, ok := h["Date"]; !ok {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	bodyAllowed := w.status >= 200 && w.status != http.StatusNoContent && w.status != http.StatusNotModified
	if _, ok := h["Content-Length"]; !ok && bodyAllowed {
		h.Set("Content-Length", strconv.Itoa(w.body.Len()))
	}
	if closeAfter {
		h.Set("Connection", "close")
	}
	_ = h.Write(out)
	out.WriteString("\r\n")
	if bodyAllowed && method != http.MethodHead {
		out.Write(w.body.Bytes())
	}
}
