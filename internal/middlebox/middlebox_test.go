package middlebox

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/idleprobe/idleprobe/internal/responder"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const timeout = 300 * time.Millisecond

// echoUpstream starts a responder TCP echo server for the test.
func echoUpstream(t *testing.T) string {
	t.Helper()
	s, err := responder.Start(context.Background(), responder.Config{TCPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s.TCPAddr().String()
}

func newProxy(t *testing.T, upstream string, mode Mode) *Proxy {
	t.Helper()
	p, err := New(context.Background(), Config{Upstream: upstream, Timeout: timeout, Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	d := net.Dialer{KeepAlive: -1, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wait holds a connection idle (or paces traffic) for d of real time: the
// middlebox's real idle timer is what these tests measure, so it is no wait
// for a condition.
func wait(d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	<-timer.C
}

// exchange writes msg and reads up to len(msg) bytes back within limit.
func exchange(c net.Conn, msg string, limit time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(limit))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	b := make([]byte, len(msg))
	n, err := io.ReadFull(c, b)
	return string(b[:n]), err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestIdleExpiry(t *testing.T) {
	upstream := echoUpstream(t)
	tests := []struct {
		name string
		mode Mode
		idle time.Duration
		// want: "ok" (echo came back), "reset" (ECONNRESET), "silent" (no answer, not closed)
		want string
	}{
		{"reset mode, idle below timeout", Reset, timeout / 3, "ok"},
		{"reset mode, idle above timeout", Reset, timeout + 150*time.Millisecond, "reset"},
		{"drop mode, idle below timeout", Drop, timeout / 3, "ok"},
		{"drop mode, idle above timeout", Drop, timeout + 150*time.Millisecond, "silent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProxy(t, upstream, tc.mode)
			c := dial(t, p.Addr())
			if got, err := exchange(c, "first\n", 2*time.Second); err != nil || got != "first\n" {
				t.Fatalf("first exchange: %q, %v", got, err)
			}
			wait(tc.idle)
			got, err := exchange(c, "again\n", timeout)
			switch tc.want {
			case "ok":
				if err != nil || got != "again\n" {
					t.Errorf("after %v idle: got %q, %v; want the echo", tc.idle, got, err)
				}
			case "reset":
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("after %v idle: got %q, %v; want ECONNRESET", tc.idle, got, err)
				}
			case "silent":
				if !isTimeout(err) || got != "" {
					t.Errorf("after %v idle: got %q, %v; want no answer (timeout)", tc.idle, got, err)
				}
				// Still open and still silent: a second write is swallowed too.
				if got, err := exchange(c, "third\n", 200*time.Millisecond); !isTimeout(err) || got != "" {
					t.Errorf("second write into the black hole: got %q, %v; want timeout", got, err)
				}
			}
		})
	}
}

func TestTrafficKeepsFlowAlive(t *testing.T) {
	p := newProxy(t, echoUpstream(t), Reset)
	c := dial(t, p.Addr())
	start := time.Now()
	for i := 0; i < 50 && time.Since(start) < 3*timeout; i++ {
		if got, err := exchange(c, "tick\n", 2*time.Second); err != nil || got != "tick\n" {
			t.Fatalf("exchange %d after %v: %q, %v", i, time.Since(start), got, err)
		}
		wait(timeout / 4)
	}
	if time.Since(start) < 2*timeout {
		t.Fatalf("flow ran only %v, want > %v", time.Since(start), 2*timeout)
	}
}

// A server that speaks late, after the flow expired, reaches nobody; the
// client learns about it only when it sends.
func TestLateUpstreamBytesAreLost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	served, wrote := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		wait(timeout + 150*time.Millisecond)
		if _, err := c.Write([]byte("late\n")); err != nil {
			t.Errorf("late write: %v", err)
			return
		}
		close(wrote)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		io.Copy(io.Discard, c) // ends when the proxy closes its side
	}()
	t.Cleanup(func() { <-served })

	p := newProxy(t, ln.Addr().String(), Reset)
	c := dial(t, p.Addr())
	select {
	case <-wrote:
	case <-served:
		t.Fatal("the server ended before its late write")
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not write within 5s")
	}
	// Bytes the proxy passed on would be in the client's socket within
	// microseconds of the write (loopback); the bound checked is 200ms.
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 16)); !isTimeout(err) {
		t.Fatalf("client read %d bytes, %v; want nothing (the late bytes must be lost)", n, err)
	}
	if got, err := exchange(c, "hello\n", time.Second); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("write after expiry: %q, %v; want ECONNRESET", got, err)
	}
}

func TestClientCloseEndsFlow(t *testing.T) {
	p := newProxy(t, echoUpstream(t), Reset)
	for i := 0; i < 3; i++ {
		c := dial(t, p.Addr())
		if got, err := exchange(c, "x", time.Second); err != nil || got != "x" {
			t.Fatalf("exchange: %q, %v", got, err)
		}
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
			t.Errorf("after half-close: %q, %v; want EOF", b, err)
		}
		c.Close()
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		p.mu.Lock()
		n := len(p.flows)
		p.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d flows still tracked after the clients closed", n)
		}
		wait(10 * time.Millisecond)
	}
}

func TestCloseWithLiveFlows(t *testing.T) {
	upstream := echoUpstream(t)
	p, err := New(context.Background(), Config{Upstream: upstream, Timeout: timeout, Mode: Drop})
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for i := 0; i < 3; i++ {
		c := dial(t, p.Addr())
		if got, err := exchange(c, "x", time.Second); err != nil || got != "x" {
			t.Fatalf("exchange: %q, %v", got, err)
		}
		conns = append(conns, c)
	}
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("conn %d still open after Close: %v", i, err)
		}
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := newProxy(t, addr, Reset)
	d := net.Dialer{KeepAlive: -1, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", p.Addr().String())
	if err != nil {
		// The reset can beat the end of the client's own connect on loopback.
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("dial with the upstream down: %v, want success or ECONNRESET", err)
		}
		return
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read with the upstream down: %v, want ECONNRESET", err)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no upstream", Config{Timeout: time.Second}, "no upstream"},
		{"zero timeout", Config{Upstream: "127.0.0.1:1"}, "must be positive"},
		{"bad mode", Config{Upstream: "127.0.0.1:1", Timeout: time.Second, Mode: 7}, "unknown mode"},
		{"bad listen", Config{Upstream: "127.0.0.1:1", Timeout: time.Second, Listen: "nonsense"}, "listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(context.Background(), tc.cfg)
			if err == nil {
				p.Close()
				t.Fatalf("New succeeded, want error with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{Reset: "reset", Drop: "drop", 9: "Mode(9)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(m), got, want)
		}
	}
}
