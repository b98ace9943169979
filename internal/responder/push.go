package responder

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/idleprobe/idleprobe/internal/pushwire"
	"github.com/idleprobe/idleprobe/internal/wiretoken"
)

const (
	// maxHeld bounds the connections a push service holds at once.
	maxHeld = 1 << 16
	// maxGone bounds how many ended connections are remembered, to answer
	// GONE instead of UNKNOWN.
	maxGone = 1 << 12
	// pushWriteTimeout bounds a PUSHED write on a held connection.
	pushWriteTimeout = 5 * time.Second
)

// PushServer is the responder's push service (package pushwire): it holds
// the connections that ask for it and, when a control connection asks,
// writes a line on one of them. It never writes anything else on a held
// connection and never enables TCP keepalive. A connection whose first
// bytes are not the protocol's is served as a TCP echo, so that one port
// serves both directions of a tcp:// target.
type PushServer struct {
	ln  net.Listener
	log *slog.Logger
	wg  sync.WaitGroup

	mu       sync.Mutex
	held     map[string]*held
	gone     map[string]string // token -> reason
	goneFIFO []string
	open     map[net.Conn]struct{}
	stopping bool
}

// held is one connection under test.
type held struct {
	c  net.Conn
	mu sync.Mutex // serializes writes
}

// StartPush listens on addr (host:port) and serves in the background until
// Close.
func StartPush(ctx context.Context, addr string, log *slog.Logger) (*PushServer, error) {
	ln, err := listenConfig.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("responder: push listen address %q: %w", addr, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &PushServer{ln: ln, log: log, held: map[string]*held{}, gone: map[string]string{}, open: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the address the service listens on.
func (s *PushServer) Addr() net.Addr { return s.ln.Addr() }

// Close stops the service, closes every connection and waits for its
// goroutines.
func (s *PushServer) Close() error {
	s.mu.Lock()
	s.stopping = true
	err := s.ln.Close()
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *PushServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error("push accept failed", "err", err)
			}
			return
		}
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.open[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// serve reads a connection's first line and acts on it.
func (s *PushServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.open, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReaderSize(c, 2*pushwire.MaxLine)
	prefix := pushwire.Magic + " "
	var line []byte
	for len(line) < pushwire.MaxLine && !bytes.HasSuffix(line, []byte("\n")) {
		b, err := r.ReadByte()
		if err != nil {
			return
		}
		line = append(line, b)
		if n := len(line); n <= len(prefix) && b != prefix[n-1] {
			// Not this protocol: a TCP echo, like the responder's own, so
			// that the client direction can be measured on this port too.
			s.echo(c, line, r)
			return
		}
	}
	m, err := pushwire.Parse(line)
	if err != nil {
		s.log.Debug("push: bad first line", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	switch m.Type {
	case pushwire.Hold:
		s.hold(c, r)
	case pushwire.Push:
		_ = c.SetWriteDeadline(time.Now().Add(pushWriteTimeout))
		_, _ = c.Write(s.push(m).Line())
	default:
		s.log.Debug("push: unexpected first message", "remote", c.RemoteAddr().String(), "type", string(m.Type))
	}
}

// echo writes back first and everything c sends after it, until c ends.
func (s *PushServer) echo(c net.Conn, first []byte, r io.Reader) {
	if _, err := c.Write(first); err != nil {
		return
	}
	n, err := io.Copy(c, r)
	s.log.Debug("push: echo connection ended", "remote", c.RemoteAddr().String(), "bytes", int64(len(first))+n, "err", err)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// hold registers c, answers ID and keeps one pending read on c until it
// ends: then the token is remembered as gone, with how.
func (s *PushServer) hold(c net.Conn, r io.Reader) {
	token := wiretoken.New()
	h := &held{c: c}
	s.mu.Lock()
	if len(s.held) >= maxHeld {
		s.mu.Unlock()
		s.log.Warn("push: too many held connections, refusing one", "remote", c.RemoteAddr().String(), "max", maxHeld)
		return
	}
	s.held[token] = h
	s.mu.Unlock()
	remote := c.RemoteAddr().String()
	s.log.Debug("push: holding connection", "remote", remote, "token", token)
	h.mu.Lock()
	_ = c.SetWriteDeadline(time.Now().Add(pushWriteTimeout))
	_, err := c.Write(pushwire.Msg{Type: pushwire.ID, Token: token}.Line())
	h.mu.Unlock()
	reason := pushwire.ReasonClosed
	if err != nil {
		reason = pushwire.ReasonReset
	} else {
		// The client sends nothing more; anything it does send is ignored.
		_, err = io.Copy(io.Discard, r)
		if err != nil {
			reason = pushwire.ReasonReset
		}
	}
	s.mu.Lock()
	delete(s.held, token)
	s.gone[token] = reason
	s.goneFIFO = append(s.goneFIFO, token)
	if len(s.goneFIFO) > maxGone {
		delete(s.gone, s.goneFIFO[0])
		s.goneFIFO = s.goneFIFO[1:]
	}
	s.mu.Unlock()
	s.log.Debug("push: held connection ended", "remote", remote, "token", token, "how", reason, "err", err)
}

// push writes PUSHED on the held connection m names and returns the
// answer for the control connection.
func (s *PushServer) push(m pushwire.Msg) pushwire.Msg {
	s.mu.Lock()
	h, ok := s.held[m.Token]
	reason, wasGone := s.gone[m.Token]
	s.mu.Unlock()
	switch {
	case wasGone:
		return pushwire.Msg{Type: pushwire.Gone, Token: m.Token, Reason: reason}
	case !ok:
		return pushwire.Msg{Type: pushwire.Unknown, Token: m.Token}
	}
	h.mu.Lock()
	_ = h.c.SetWriteDeadline(time.Now().Add(pushWriteTimeout))
	_, err := h.c.Write(pushwire.Msg{Type: pushwire.Pushed, Seq: m.Seq}.Line())
	h.mu.Unlock()
	if err != nil {
		s.log.Debug("push: write failed", "remote", h.c.RemoteAddr().String(), "token", m.Token, "err", err)
		return pushwire.Msg{Type: pushwire.Gone, Token: m.Token, Reason: pushwire.ReasonReset}
	}
	s.log.Debug("push: pushed", "remote", h.c.RemoteAddr().String(), "token", m.Token, "seq", m.Seq)
	return pushwire.Msg{Type: pushwire.Sent, Seq: m.Seq}
}
