package realserver

import (
	"net"
	"sync"
	"testing"
	"time"
)

// goServer is a loopback TCP server in this process whose handler runs once
// per connection. Cleanup closes the listener and every connection and
// waits for the handlers.
type goServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func startGoServer(t testing.TB, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &goServer{ln: ln, conns: make(map[net.Conn]bool)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
					c.Close()
				}()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return ln.Addr().String()
}

// StartCloseOnData runs a TCP server on a free loopback port that closes a
// connection as soon as any data arrives on it, whatever its age: a server
// that speaks another protocol than the one sent (garbage in, FIN out).
// It returns host:port.
func StartCloseOnData(t testing.TB) string {
	t.Helper()
	return startGoServer(t, func(c net.Conn) {
		var b [1]byte
		_, _ = c.Read(b[:])
	})
}

// StartIdleCloser runs a TCP echo server on a free loopback port that
// closes a connection once it has been idle (nothing received) for idle,
// like a server's idle timeout. It returns host:port.
func StartIdleCloser(t testing.TB, idle time.Duration) string {
	t.Helper()
	return startGoServer(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			if err := c.SetReadDeadline(time.Now().Add(idle)); err != nil {
				return
			}
			n, err := c.Read(buf)
			if n > 0 {
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return // idle too long (the deadline), the peer left, or cleanup
			}
		}
	})
}
