package prober

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/idleprobe/idleprobe/internal/pushwire"
	"github.com/idleprobe/idleprobe/internal/responder"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// TestPushSilence: in the server direction the connection under test
// writes its HOLD line and never another byte, neither while idle nor on
// reuse, while the server's bytes arrive on it. The kernel's own count of
// the bytes the socket sent (TCP_INFO tcpi_bytes_sent) is the witness.
func TestPushSilence(t *testing.T) {
	noLeaks(t)
	rs, err := responder.StartPush(context.Background(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	c := open(t, transport(t, "tcp://"+rs.Addr().String(), TransportOptions{Timeout: 2 * time.Second, Direction: DirectionServer}))
	pc, ok := c.(*pushConn)
	if !ok {
		t.Fatalf("server direction gave a %T, want a push connection", c)
	}
	if v := sockopt(t, pc.rc, unix.SOL_SOCKET, unix.SO_KEEPALIVE); v != 0 {
		t.Errorf("SO_KEEPALIVE = %d, want 0", v)
	}
	hold := uint64(len(pushwire.Msg{Type: pushwire.Hold}.Line()))
	sent := func() uint64 {
		var info *unix.TCPInfo
		var gerr error
		if err := pc.rc.Control(func(fd uintptr) { info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil || gerr != nil {
			t.Fatalf("TCP_INFO: %v %v", err, gerr)
		}
		return info.Bytes_sent
	}
	if n := sent(); n != hold {
		t.Fatalf("after open the socket sent %d bytes, want the %d of HOLD", n, hold)
	}
	for i := range 3 {
		<-time.After(100 * time.Millisecond) // the idle time is the test
		r := reuse(t, c)
		if r.Outcome != plan.OK {
			t.Fatalf("push %d: %s (%s), want ok", i+1, r.Outcome, r.Detail)
		}
		if !c.IdleSince().Equal(r.End) {
			t.Errorf("push %d: idle since %s, want the arrival %s", i+1, c.IdleSince(), r.End)
		}
	}
	if n := sent(); n != hold {
		t.Errorf("after three pushes the socket under test sent %d bytes, want still the %d of HOLD", n, hold)
	}
}
