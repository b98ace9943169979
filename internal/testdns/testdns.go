// Package testdns is a small DNS server on loopback for tests that need a
// name with chosen addresses (both families, one family only) without
// touching /etc/hosts: Start it, and pass its Resolver where a
// *net.Resolver is taken (prober.TransportOptions.Resolver). Go's own
// resolver talks to it over UDP, so lookups take the real code path.
package testdns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// Server answers A and AAAA questions for the names it was given; any
// other name is NXDOMAIN, any other type an empty answer.
type Server struct {
	pc    net.PacketConn
	names map[string][]netip.Addr
	wg    sync.WaitGroup
}

// Start serves names (without the trailing dot, e.g. "dual.test") with
// their addresses on 127.0.0.1 until the test ends.
func Start(t testing.TB, names map[string][]netip.Addr) *Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{pc: pc, names: map[string][]netip.Addr{}}
	for n, addrs := range names {
		s.names[strings.ToLower(strings.TrimSuffix(n, "."))+"."] = addrs
	}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		pc.Close()
		s.wg.Wait()
	})
	return s
}

// Resolver returns a resolver that asks only this server.
func (s *Server) Resolver() *net.Resolver {
	addr := s.pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

func (s *Server) serve() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		if out, ok := s.answer(buf[:n]); ok {
			_, _ = s.pc.WriteTo(out, from)
		}
	}
}

// answer builds the reply to one query.
func (s *Server) answer(q []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil, false
	}
	question, err := p.Question()
	if err != nil {
		return nil, false
	}
	addrs, known := s.names[strings.ToLower(question.Name.String())]
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true}
	if !known {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(question) != nil || b.StartAnswers() != nil {
		return nil, false
	}
	res := dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 60}
	for _, a := range addrs {
		switch {
		case question.Type == dnsmessage.TypeA && a.Is4():
			err = b.AResource(res, dnsmessage.AResource{A: a.As4()})
		case question.Type == dnsmessage.TypeAAAA && a.Is6():
			err = b.AAAAResource(res, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
		if err != nil {
			return nil, false
		}
	}
	out, err := b.Finish()
	return out, err == nil
}

// ListenBoth listens on 127.0.0.1 and [::1] on the same TCP port, so that
// a name with both addresses reaches one or the other by family. The
// listeners are closed when the test ends.
func ListenBoth(t testing.TB) (v4, v6 net.Listener) {
	t.Helper()
	for range 50 {
		l4, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(l4.Addr().String())
		l6, err := net.Listen("tcp6", net.JoinHostPort("::1", port))
		if err != nil {
			l4.Close() // the port is taken on ::1: try another
			continue
		}
		t.Cleanup(func() { l4.Close(); l6.Close() })
		return l4, l6
	}
	t.Fatal("no TCP port free on both 127.0.0.1 and ::1")
	return nil, nil
}
