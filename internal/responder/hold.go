package responder

import (
	"io"
	"net"
	"sync"
)

// Holding a connection costs one goroutine parked in the runtime's poller
// with a shallow stack and no buffer: waitReadable peeks, it does not
// read. Buffers come from pools when bytes arrive and go back when the
// bytes are answered, and the deep stacks of request handling belong to a
// goroutine that ends with the exchange, so every held connection is as
// small as an idle one can be (net/http keeps a 4 KB reader, a 4 KB writer
// and the stack its last request grew per connection).

// track registers c as held, unless the responder is stopping; then it
// closes c and reports false. The caller owns a wg slot for c's goroutine.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// untrack forgets c (closed, or handed to net/http).
func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// spawn runs f(c) in a new goroutine counted in s.wg, unless the
// responder is stopping: then it closes c.
func (s *Server) spawn(c *net.TCPConn, f func(*net.TCPConn)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		delete(s.conns, c)
		c.Close()
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f(c)
	}()
}

// handoff is the net.Listener that net/http serves: it yields the
// connections the responder hands over (h2c, upgrades, whatever the
// HTTP/1.1 fast path does not answer itself).
type handoff struct {
	addr   net.Addr
	ch     chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func newHandoff(addr net.Addr) *handoff {
	return &handoff{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

// Accept returns the next handed-over connection.
func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.ch:
		return c, nil
	case <-h.closed:
		return nil, net.ErrClosed
	}
}

// Close stops Accept.
func (h *handoff) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

// Addr is the HTTP listener's address.
func (h *handoff) Addr() net.Addr { return h.addr }

// give hands c to net/http, or closes it when net/http has stopped.
func (h *handoff) give(c net.Conn) {
	select {
	case h.ch <- c:
	case <-h.closed:
		c.Close()
	}
}

// prefixConn is a connection whose first bytes were already read: Read
// returns them before reading the socket.
type prefixConn struct {
	*net.TCPConn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.TCPConn.Read(b)
}

// WriteTo keeps io.Copy from bypassing Read (and the prefix).
func (p *prefixConn) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, struct{ io.Reader }{p})
}
