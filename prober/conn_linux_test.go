//go:build linux

package prober

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// rawOf returns the socket behind a Conn from this package.
func rawOf(t *testing.T, c Conn) *watchedConn {
	t.Helper()
	switch c := c.(type) {
	case *tcpConn:
		return c.watchedConn
	case *httpConn:
		return c.watchedConn
	case *h2Conn:
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
			// Count from when the client has acknowledged all the server
			// sent (the first exchange's last ACK has landed).
			before := settled(t, src)
			// The bound checked: no segment for this long.
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

// TestH2IdleSilence: after the first exchange the client sends nothing at
// all while idle (no PING, no WINDOW_UPDATE), over h2c and h2, and a reuse
// is seen.
func TestH2IdleSilence(t *testing.T) {
	cert, _ := selfSigned(t, "idleprobe.test")
	for _, scheme := range []string{"h2c", "h2"} {
		t.Run(scheme, func(t *testing.T) {
			noLeaks(t)
			var c *tls.Certificate
			if scheme == "h2" {
				c = &cert
			}
			// A body larger than the window, so that the first exchange
			// needs WINDOW_UPDATEs: none may trail into the idle period.
			srv := startGoH2(t, c, 0, false, 150<<10)
			conn := open(t, transport(t, scheme+"://"+srv.addr+"/", TransportOptions{InsecureSkipVerify: true}))
			// Count from when the server has read all the client sent
			// during the first exchange.
			sent := bytesSent(t, conn)
			waitFor(t, 3*time.Second, "the server to read all the client sent", func() bool {
				return srv.read.Load() == int64(sent)
			})
			before := srv.read.Load()
			// The bound checked: nothing sent or read for this long.
			time.Sleep(time.Second)
			if after := srv.read.Load(); after != before {
				t.Errorf("server read %d bytes while the client was idle, want 0", after-before)
			}
			if now := bytesSent(t, conn); now != sent {
				t.Errorf("client sent %d bytes while idle, want 0", now-sent)
			}
			if r := reuse(t, conn); r.Outcome != plan.OK {
				t.Fatalf("reuse: %+v", r)
			}
			waitFor(t, 3*time.Second, "the server's byte counter to move on reuse (the check must see traffic)", func() bool {
				return srv.read.Load() != before
			})
		})
	}
}

// settled waits until everything the socket behind rc has sent is
// acknowledged, and returns its TCP_INFO then.
func settled(t *testing.T, rc syscall.RawConn) tcpState {
	t.Helper()
	var st tcpState
	waitFor(t, 3*time.Second, "the peer to acknowledge all the server sent", func() bool {
		var err error
		if st, err = readTCPInfo(rc); err != nil {
			t.Fatal(err)
		}
		return st.Unacked == 0 && st.NotSent == 0
	})
	return st
}

// bytesSent is how many payload bytes the socket behind c has sent.
func bytesSent(t *testing.T, c Conn) uint64 {
	t.Helper()
	var (
		info *unix.TCPInfo
		gerr error
	)
	if err := rawOf(t, c).rc.Control(func(fd uintptr) {
		info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("TCP_INFO: %v", gerr)
	}
	return info.Bytes_sent
}
