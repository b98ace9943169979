package responder

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/udpwire"
)

// The UDP service answers only padded requests (never more bytes out than
// in), sends pushes only to an address that registered itself, and says
// UNKNOWN for a token it does not hold.
func TestUDPServer(t *testing.T) {
	s, err := StartUDP(context.Background(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dial := func() *net.UDPConn {
		c, err := net.DialUDP("udp", nil, s.Addr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	read := func(c *net.UDPConn, wait time.Duration) (udpwire.Msg, bool) {
		c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, 512)
		n, err := c.Read(buf)
		if err != nil {
			return udpwire.Msg{}, false
		}
		m, err := udpwire.Parse(buf[:n])
		if err != nil {
			t.Fatalf("responder sent %q: %v", buf[:n], err)
		}
		return m, true
	}
	const tok = "00112233445566ff"
	a, ctrl := dial(), dial()

	// Unpadded, the answer would be longer than the request: ignored.
	a.Write(udpwire.Msg{Type: udpwire.Hello, Token: tok}.Append(nil))
	if m, ok := read(a, 200*time.Millisecond); ok {
		t.Fatalf("answered an unpadded HELLO with %+v", m)
	}
	// A push for a token nobody registered: UNKNOWN, nothing else.
	ctrl.Write(udpwire.Msg{Type: udpwire.Push, Token: tok, Seq: 1}.Padded(nil))
	if m, ok := read(ctrl, 2*time.Second); !ok || m.Type != udpwire.Unknown {
		t.Fatalf("push for an unknown token: %+v %v, want UNKNOWN", m, ok)
	}
	a.Write(udpwire.Msg{Type: udpwire.Hello, Token: tok}.Padded(nil))
	m, ok := read(a, 2*time.Second)
	if !ok || m.Type != udpwire.Seen || m.Addr.String() != a.LocalAddr().String() {
		t.Fatalf("HELLO answered %+v %v, want SEEN %s", m, ok, a.LocalAddr())
	}
	ctrl.Write(udpwire.Msg{Type: udpwire.Push, Token: tok, Seq: 2}.Padded(nil))
	if m, ok := read(a, 2*time.Second); !ok || m.Type != udpwire.Pushed || m.Seq != 2 {
		t.Errorf("the registered socket got %+v %v, want PUSHED 2", m, ok)
	}
	if m, ok := read(ctrl, 2*time.Second); !ok || m.Type != udpwire.Sent || m.Addr.String() != a.LocalAddr().String() {
		t.Errorf("the control socket got %+v %v, want SENT to %s", m, ok, a.LocalAddr())
	}
}
