package prober_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/middlebox"
	"github.com/idleprobe/idleprobe/internal/responder"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// udpPath starts the responder's UDP service behind a userspace UDP NAT
// that forgets a binding idle for T, and returns the NAT's address.
func udpPath(t *testing.T, T time.Duration) *middlebox.UDPNAT {
	t.Helper()
	rs, err := responder.StartUDP(context.Background(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	nat, err := middlebox.StartUDPNAT("", rs.Addr().String(), T, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nat.Close() })
	return nat
}

func openUDP(t *testing.T, addr, direction string) prober.Conn {
	t.Helper()
	tr, err := prober.NewTransport(mustTarget(t, "udp://"+addr), prober.TransportOptions{Timeout: 400 * time.Millisecond, Direction: direction})
	if err != nil {
		t.Fatal(err)
	}
	c, err := tr.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitIdle lets a binding sit idle for d: the idle time is the test.
func waitIdle(d time.Duration) { <-time.After(d) }

// In the server direction the socket under test sends nothing after its
// HELLO: the datagram that tests the binding comes from the server. While
// the NAT holds the binding it arrives; after the NAT forgot it, it does
// not (dropped), and the trial ends within its timeout.
func TestUDPServerDirection(t *testing.T) {
	t.Parallel()
	const T = 300 * time.Millisecond
	nat := udpPath(t, T)
	c := openUDP(t, nat.Addr().String(), "")
	local := localOf(t, c)
	sent := nat.Received(local)

	waitIdle(T / 3)
	if r := c.Reuse(context.Background()); r.Outcome != plan.OK {
		t.Fatalf("reuse after %s idle: %s (%s), want ok", T/3, r.Outcome, r.Detail)
	}
	waitIdle(T + 100*time.Millisecond)
	r := c.Reuse(context.Background())
	if r.Outcome != plan.Dropped {
		t.Errorf("reuse after %s idle: %s (%s), want dropped", T+100*time.Millisecond, r.Outcome, r.Detail)
	}
	if d := r.End.Sub(r.Start); d > time.Second {
		t.Errorf("the dropped trial took %s, past its 400ms timeout", d)
	}
	if n := nat.Received(local); n != sent {
		t.Errorf("the socket under test sent %d datagrams after its HELLO, want none", n-sent)
	}
}

// In the client direction the socket registers again: after the NAT
// forgot the binding, it makes a new one on a new port, and the responder
// says so.
func TestUDPClientDirectionRemapped(t *testing.T) {
	t.Parallel()
	const T = 300 * time.Millisecond
	nat := udpPath(t, T)
	c := openUDP(t, nat.Addr().String(), prober.DirectionClient)
	if r := c.Reuse(context.Background()); r.Outcome != plan.OK {
		t.Fatalf("reuse at once: %s (%s), want ok", r.Outcome, r.Detail)
	}
	waitIdle(T + 100*time.Millisecond)
	if r := c.Reuse(context.Background()); r.Outcome != plan.Reset {
		t.Errorf("reuse after the NAT forgot the binding: %s (%s), want reset (re-mapped)", r.Outcome, r.Detail)
	}
}

// A whole measurement through the UDP NAT finds its timeout.
func TestUDPMeasure(t *testing.T) {
	t.Parallel()
	const T = time.Second
	nat := udpPath(t, T)
	r, err := measureReal(t, "udp://"+nat.Addr().String(), realSettings(3*time.Second, 0), prober.TransportOptions{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Found || r.Lower >= T || r.Upper < T || r.Mode != plan.Dropped {
		t.Errorf("bracket (%s, %s] mode %s, want one holding %s, dropped", r.Lower, r.Upper, r.Mode, T)
	}
}

// A udp target without a responder is unusable, in one line.
func TestUDPNoResponder(t *testing.T) {
	t.Parallel()
	tr, err := prober.NewTransport(mustTarget(t, "udp://127.0.0.1:9"), prober.TransportOptions{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.Open(context.Background())
	if err == nil {
		t.Fatal("open succeeded with nothing listening")
	}
	if !errors.Is(err, prober.ErrUnusable) || !strings.Contains(err.Error(), "nothing listens there") {
		t.Errorf("error %q: want ErrUnusable saying nothing listens there", err)
	}
}

func localOf(t *testing.T, c prober.Conn) netip.AddrPort {
	t.Helper()
	l, ok := c.(interface{ LocalAddr() netip.AddrPort })
	if !ok {
		t.Fatalf("%T has no LocalAddr", c)
	}
	return l.LocalAddr()
}
