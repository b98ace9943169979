package hop_test

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/lab"
	"github.com/idleprobe/idleprobe/prober/hop"
)

func TestMain(m *testing.M) { os.Exit(lab.Main(m)) }

// In the lab, the load balancer that forgot a flow answers the next
// segment with a RST of its own (TTL 64, undecremented) while the server's
// packets cross it (TTL 63): the capture names the hop. A server that
// closes the connection itself is named the server.
func TestLabWhichHop(t *testing.T) {
	lab.Require(t)
	t.Parallel()
	const T = 2 * time.Second
	l := lab.New(t, lab.Options{Timeout: T, Mode: lab.Reset})
	const port = 7000
	l.StartEcho(t, l.Server, port)
	// socat closes a connection idle for a second itself (-T 1): the
	// server's own FIN, on a port outside the middlebox's timeout.
	const closing = 7001
	l.Start(t, l.Server, "socat-close", "socat", "-T", "1", fmt.Sprintf("TCP4-LISTEN:%d,fork,reuseaddr", closing), "PIPE")
	lab.WaitTCP(t, l.Server, net.JoinHostPort("", fmt.Sprint(closing)), 10*time.Second)

	t.Run("middlebox reset", func(t *testing.T) {
		t.Parallel()
		remote := netip.AddrPortFrom(l.VIP, port)
		c := capture(t, l.Client, port)
		conn := l.Dial(t, l.Client, remote.String())
		echo(t, conn)
		// Idle past the middlebox's timeout: it forgets the flow.
		time.Sleep(T + 300*time.Millisecond)
		if _, err := conn.Write([]byte("again\n")); err != nil {
			t.Fatalf("write: %v", err)
		}
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := conn.Read(make([]byte, 16)); err == nil {
			t.Fatal("the reuse was answered: the middlebox did not forget the flow")
		}
		v := c.Verdict(local(conn), remote, 2*time.Second)
		if v.By != hop.Hop || v.HopsBefore != 1 || v.Packet != "RST" || v.EndTTL != 64 || v.ServerTTL != 63 {
			t.Errorf("verdict %s %+v, want the RST of hop 1 before the server (TTL 64 vs 63)", v, v)
		}
	})
	t.Run("server closes", func(t *testing.T) {
		t.Parallel()
		remote := netip.AddrPortFrom(l.ServerAddr, closing)
		c := capture(t, l.Client, closing)
		conn := l.Dial(t, l.Client, remote.String())
		echo(t, conn)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Read(make([]byte, 16)); err == nil {
			t.Fatal("socat -T 1 did not close the idle connection")
		}
		v := c.Verdict(local(conn), remote, 2*time.Second)
		if v.By != hop.Server || v.Packet != "FIN" || v.EndTTL != 63 {
			t.Errorf("verdict %s %+v, want the server's FIN (TTL 63)", v, v)
		}
	})
}

// capture opens a capture in namespace ns.
func capture(t *testing.T, ns string, port uint16) *hop.Capture {
	t.Helper()
	var c *hop.Capture
	if err := lab.Do(ns, func() (err error) { c, err = hop.Open(port); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echo sends a line and reads it back.
func echo(t *testing.T, c *net.TCPConn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Time{})
}

func local(c net.Conn) netip.AddrPort { return netip.MustParseAddrPort(c.LocalAddr().String()) }
