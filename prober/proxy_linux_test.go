//go:build linux

package prober

import (
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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
