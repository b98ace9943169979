package responder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/idleprobe/idleprobe/internal/udpwire"
)

const (
	// maxBindings bounds the bindings a UDP responder holds.
	maxBindings = 1 << 16
	// bindingTTL is how long a binding nobody pushed to or refreshed is
	// kept: far longer than any UDP idle limit worth measuring.
	bindingTTL = time.Hour
)

// UDPServer answers idleprobe's udp:// prober (package udpwire): it
// records the address each HELLO came from and, on a PUSH from any
// socket, sends one datagram to that recorded address. It sends nothing
// else, never to an address that did not register itself, and never
// more bytes than it was sent.
type UDPServer struct {
	pc   net.PacketConn
	log  *slog.Logger
	done chan struct{}

	mu       sync.Mutex
	bindings map[string]binding
}

type binding struct {
	addr netip.AddrPort
	last time.Time
}

// StartUDP listens on addr (host:port) and serves in the background until
// Close.
func StartUDP(ctx context.Context, addr string, log *slog.Logger) (*UDPServer, error) {
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("responder: UDP listen address %q: %w", addr, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &UDPServer{pc: pc, log: log, done: make(chan struct{}), bindings: make(map[string]binding)}
	go s.serve()
	return s, nil
}

// Addr is the address the server listens on.
func (s *UDPServer) Addr() net.Addr { return s.pc.LocalAddr() }

// Close stops the server and waits for it.
func (s *UDPServer) Close() error {
	err := s.pc.Close()
	<-s.done
	return err
}

func (s *UDPServer) serve() {
	defer close(s.done)
	buf := make([]byte, udpwire.MaxSize+1)
	out := make([]byte, 0, udpwire.MaxSize)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. an ICMP error reported on the socket
		}
		src, ok := from.(*net.UDPAddr)
		if !ok {
			continue
		}
		m, err := udpwire.Parse(buf[:n])
		if err != nil {
			s.log.Debug("udp: ignored datagram", "from", src.String(), "err", err)
			continue
		}
		if n < udpwire.MaxSize {
			// Requests come padded to MaxSize, so that no answer is ever
			// larger than its request: ignore anything shorter.
			s.log.Debug("udp: ignored unpadded request", "from", src.String(), "bytes", n)
			continue
		}
		for _, r := range s.handle(m, src.AddrPort(), time.Now()) {
			out = r.msg.Append(out[:0])
			if len(out) > n {
				continue // never send more than was received
			}
			if _, err := s.pc.WriteTo(out, net.UDPAddrFromAddrPort(r.to)); err != nil {
				s.log.Debug("udp: send failed", "to", r.to.String(), "err", err)
			}
		}
	}
}

// reply is one datagram to send.
type reply struct {
	msg udpwire.Msg
	to  netip.AddrPort
}

// handle decides the answers to m from src.
func (s *UDPServer) handle(m udpwire.Msg, src netip.AddrPort, now time.Time) []reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch m.Type {
	case udpwire.Hello:
		if _, ok := s.bindings[m.Token]; !ok && len(s.bindings) >= maxBindings {
			s.expire(now)
			if len(s.bindings) >= maxBindings {
				return nil
			}
		}
		s.bindings[m.Token] = binding{addr: src, last: now}
		return []reply{{udpwire.Msg{Type: udpwire.Seen, Token: m.Token, Addr: src}, src}}
	case udpwire.Push:
		b, ok := s.bindings[m.Token]
		if !ok {
			return []reply{{udpwire.Msg{Type: udpwire.Unknown, Token: m.Token}, src}}
		}
		b.last = now
		s.bindings[m.Token] = b
		return []reply{
			{udpwire.Msg{Type: udpwire.Pushed, Token: m.Token, Seq: m.Seq}, b.addr},
			{udpwire.Msg{Type: udpwire.Sent, Token: m.Token, Seq: m.Seq, Addr: b.addr}, src},
		}
	}
	return nil
}

// expire forgets bindings unused for bindingTTL.
func (s *UDPServer) expire(now time.Time) {
	for k, b := range s.bindings {
		if now.Sub(b.last) > bindingTTL {
			delete(s.bindings, k)
		}
	}
}
