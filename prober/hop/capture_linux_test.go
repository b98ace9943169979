//go:build linux

package hop

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openOrSkip opens a capture, skipping without CAP_NET_RAW outside CI.
func openOrSkip(t *testing.T, port uint16) *Capture {
	t.Helper()
	c, err := Open(port)
	if err != nil {
		if errors.Is(err, unix.EPERM) && os.Getenv("CI") == "" {
			t.Skipf("no CAP_NET_RAW: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// On loopback the server's SYN-ACK and its FIN or RST come from the same
// stack with the same TTL: the server ended the connection.
func TestCaptureLoopback(t *testing.T) {
	for _, tc := range []struct {
		name   string
		linger bool // close with SO_LINGER 0: a RST instead of a FIN
		packet string
	}{{"FIN", false, "FIN"}, {"RST", true, "RST"}} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			remote := netip.MustParseAddrPort(ln.Addr().String())
			c := openOrSkip(t, remote.Port())
			accepted := make(chan net.Conn, 1)
			go func() {
				s, err := ln.Accept()
				if err == nil {
					accepted <- s
				}
				close(accepted)
			}()
			cl, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			s := <-accepted
			if s == nil {
				t.Fatal("accept failed")
			}
			if tc.linger {
				s.(*net.TCPConn).SetLinger(0)
			}
			s.Close()
			cl.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := cl.Read(make([]byte, 1)); err == nil {
				t.Fatal("read after the server's close returned data")
			}
			local := netip.MustParseAddrPort(cl.LocalAddr().String())
			v := c.Verdict(local, remote, 2*time.Second)
			if v.By != Server || v.Packet != tc.packet || v.ServerTTL != v.EndTTL || v.ServerTTL == 0 {
				t.Errorf("verdict %+v (%s), want the server's %s with equal TTLs", v, v, tc.packet)
			}
			// Another connection's ending packet is not this one's.
			other := netip.AddrPortFrom(local.Addr(), local.Port()+1)
			if v := c.Verdict(other, remote, 10*time.Millisecond); v.By != Unknown {
				t.Errorf("verdict for a connection never made: %+v", v)
			}
			c.Forget(local, remote)
			if v := c.Verdict(local, remote, 10*time.Millisecond); v.By != Unknown {
				t.Errorf("verdict after Forget: %+v", v)
			}
		})
	}
}

// Close ends the reader, and a verdict asked of a closed capture returns.
func TestCaptureClose(t *testing.T) {
	c := openOrSkip(t, 9)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	v := c.Verdict(netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:9"), time.Minute)
	if v.By != Unknown {
		t.Errorf("verdict from a closed capture: %+v", v)
	}
}
