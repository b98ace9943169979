//go:build linux

package prober

import (
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/idleprobe/idleprobe/internal/realserver"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// TestProxyIdleSilence: through a proxy, the socket to the proxy has
// TCP keepalive off and TCP_USER_TIMEOUT set, and the proxy receives no
// segment while the connection is idle.
func TestProxyIdleSilence(t *testing.T) {
	echo := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) { io.Copy(c, c) })
	for _, scheme := range []string{"http", "socks5"} {
		t.Run(scheme, func(t *testing.T) {
			noLeaks(t)
			px := startTestProxy(t, scheme, proxyConfig{})
			const timeout = 1500 * time.Millisecond
			c := open(t, transport(t, "tcp://"+echo.addr, TransportOptions{Timeout: timeout, Proxy: &Proxy{URL: px.url},
				Send: []byte("x"), Expect: []byte("x")}))
			w := rawOf(t, c)
			if v := sockopt(t, w.rc, unix.SOL_SOCKET, unix.SO_KEEPALIVE); v != 0 {
				t.Errorf("SO_KEEPALIVE = %d, want 0", v)
			}
			if v := sockopt(t, w.rc, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); v != int(timeout.Milliseconds()) {
				t.Errorf("TCP_USER_TIMEOUT = %d ms, want %d", v, timeout.Milliseconds())
			}
			pc := <-px.accepted
			prc, err := pc.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			before := settled(t, prc)
			// The bound checked: no segment for this long.
			time.Sleep(1200 * time.Millisecond)
			after, err := readTCPInfo(prc)
			if err != nil {
				t.Fatal(err)
			}
			if after.SegsIn != before.SegsIn {
				t.Errorf("the proxy received %d segments while the client was idle, want 0", after.SegsIn-before.SegsIn)
			}
			if r := reuse(t, c); r.Outcome != plan.OK {
				t.Errorf("reuse after idle: %s (%s)", r.Outcome, r.Detail)
			}
			if after2, _ := readTCPInfo(prc); after2.SegsIn == after.SegsIn {
				t.Error("the proxy's segment counter did not move on reuse: the check cannot see traffic")
			}
		})
	}
}

// TestProxyIdleSilenceSquid: through a real Squid, the client's socket to
// it sends no segment while idle (its own TCP_INFO segment counter), and
// does on reuse.
func TestProxyIdleSilenceSquid(t *testing.T) {
	squid := realserver.StartSquid(t, 60*time.Second)
	echo := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) { io.Copy(c, c) })
	noLeaks(t)
	c := open(t, transport(t, "tcp://"+echo.addr, TransportOptions{Proxy: &Proxy{URL: mustURL(t, squid.URL)},
		Send: []byte("x"), Expect: []byte("x")}))
	w := rawOf(t, c)
	if r := reuse(t, c); r.Outcome != plan.OK { // a first exchange through the tunnel
		t.Fatalf("reuse: %s (%s)", r.Outcome, r.Detail)
	}
	settled(t, w.rc)
	// Our delayed ACK of the echo may still be due: Linux sends it at most
	// TCP_DELACK_MAX (200 ms) after the data. Count from when the counter
	// has not moved for longer than that.
	before := segsOut(t, w)
	stable := time.Now()
	waitFor(t, 3*time.Second, "the client's segment counter to stay put for 250 ms (no ACK due)", func() bool {
		if n := segsOut(t, w); n != before {
			before, stable = n, time.Now()
		}
		return time.Since(stable) > 250*time.Millisecond
	})
	// The bound checked: no segment for this long.
	time.Sleep(1200 * time.Millisecond)
	if after := segsOut(t, w); after != before {
		t.Errorf("the client sent %d segments to Squid while idle, want 0", after-before)
	}
	if r := reuse(t, c); r.Outcome != plan.OK {
		t.Errorf("reuse after idle: %s (%s)", r.Outcome, r.Detail)
	}
	if segsOut(t, w) == before {
		t.Error("the segment counter did not move on reuse: the check cannot see traffic")
	}
}

// segsOut is how many segments the socket behind w has sent.
func segsOut(t *testing.T, w *watchedConn) uint32 {
	t.Helper()
	var (
		info *unix.TCPInfo
		gerr error
	)
	if err := w.rc.Control(func(fd uintptr) {
		info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("TCP_INFO: %v", gerr)
	}
	return info.Segs_out
}
