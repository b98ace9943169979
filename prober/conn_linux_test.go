//go:build linux

package prober

import (
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rawOf returns the socket behind a Conn from this package.
func rawOf(t *testing.T, c Conn) *watchedConn {
	t.Helper()
	switch c := c.(type) {
	case *tcpConn:
		return c.watchedConn
	case *httpConn:
		return c.watchedConn
	}
	t.Fatalf("unexpected Conn type %T", c)
	return nil
}

func sockopt(t *testing.T, rc syscall.RawConn, level, opt int) int {
	t.Helper()
	var v int
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("getsockopt: %v", gerr)
	}
	return v
}

// TestIdleSilence: nothing is sent while a connection is idle. The dialed
// socket has SO_KEEPALIVE off and TCP_USER_TIMEOUT set, and the server's
// TCP_INFO counts no segment arriving during 1.2 s of idleness.
func TestIdleSilence(t *testing.T) {
	for _, scheme := range []string{"tcp", "http"} {
		t.Run(scheme, func(t *testing.T) {
			noLeaks(t)
			srvConn := make(chan *net.TCPConn, 1)
			srv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
				srvConn <- c.(*net.TCPConn)
				if scheme == "http" {
					httpAnswer(t, c, func(int, *http.Request) (string, bool) { return okResponse, true })
					return
				}
				io.Copy(io.Discard, c)
			})
			const timeout = 1500 * time.Millisecond
			c := open(t, transport(t, scheme+"://"+srv.addr+"/", TransportOptions{Timeout: timeout}))
			w := rawOf(t, c)
			if v := sockopt(t, w.rc, unix.SOL_SOCKET, unix.SO_KEEPALIVE); v != 0 {
				t.Errorf("SO_KEEPALIVE = %d, want 0", v)
			}
			if v := sockopt(t, w.rc, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); v != int(timeout.Milliseconds()) {
				t.Errorf("TCP_USER_TIMEOUT = %d ms, want %d", v, timeout.Milliseconds())
			}
			sc := <-srvConn
			src, err := sc.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			// Let the first exchange's last ACK land, then count.
			time.Sleep(50 * time.Millisecond)
			before, err := readTCPInfo(src)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(1200 * time.Millisecond)
			after, err := readTCPInfo(src)
			if err != nil {
				t.Fatal(err)
			}
			if after.SegsIn != before.SegsIn {
				t.Errorf("server received %d segments while the client was idle, want 0", after.SegsIn-before.SegsIn)
			}
			if r := reuse(t, c); r.Outcome != "ok" {
				t.Errorf("reuse after idle: %s (%s)", r.Outcome, r.Detail)
			}
			after2, _ := readTCPInfo(src)
			if after2.SegsIn == after.SegsIn {
				t.Error("the server's segment counter did not move on reuse: the check cannot see traffic")
			}
		})
	}
}
