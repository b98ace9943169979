package prober

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// noLeaks fails the test if goroutines started during it are still
// running when it ends (checked after every other cleanup).
func noLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// server is a loopback TCP server whose handler runs once per accepted
// connection. Cleanup closes the listener and every connection and waits
// for the handlers.
type server struct {
	ln   net.Listener
	addr string
	mu   sync.Mutex
	conn []net.Conn
	wg   sync.WaitGroup
	done chan struct{}
}

func startServer(t *testing.T, handle func(t *testing.T, c net.Conn, done <-chan struct{})) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return serveOn(t, ln, handle)
}

func serveOn(t *testing.T, ln net.Listener, handle func(t *testing.T, c net.Conn, done <-chan struct{})) *server {
	t.Helper()
	s := &server{ln: ln, addr: ln.Addr().String(), done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conn = append(s.conn, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(t, c, s.done)
			}()
		}
	}()
	t.Cleanup(func() {
		close(s.done)
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conn {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// transport builds the transport for rawURL with options.
func transport(t *testing.T, rawURL string, o TransportOptions) Transport {
	t.Helper()
	tg, err := ParseTarget(rawURL)
	if err != nil {
		t.Fatalf("ParseTarget(%q): %v", rawURL, err)
	}
	tr, err := NewTransport(tg, o)
	if err != nil {
		t.Fatalf("NewTransport(%q): %v", rawURL, err)
	}
	return tr
}

// open opens a connection and closes it at cleanup.
func open(t *testing.T, tr Transport) Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := tr.Open(ctx)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func reuse(t *testing.T, c Conn) Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Reuse(ctx)
}

// waitClosed waits for Closed, failing the test after limit.
func waitClosed(t *testing.T, c Conn, limit time.Duration) {
	t.Helper()
	select {
	case <-c.Closed():
	case <-time.After(limit):
		t.Fatalf("Closed() did not fire within %s", limit)
	}
}

// waitFor polls cond until it holds and fails the test, naming what it
// waited for, if it does not hold within limit. Tests wait for the thing
// they need to have happened, never for a guessed amount of time.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(2 * time.Millisecond) // the poll interval, not a wait for the condition
	}
}

// received returns a channel that a test server signals (without blocking)
// each time something arrives, and the function that signals it.
func received() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	return ch, func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// resetConn makes the next close of c send RST instead of FIN.
func resetConn(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.(*net.TCPConn).SetLinger(0); err != nil {
		t.Errorf("SetLinger: %v", err)
	}
	c.Close()
}

// httpAnswer reads requests from c and answers each with respond, until
// respond returns false or the connection ends.
func httpAnswer(t *testing.T, c net.Conn, respond func(n int, req *http.Request) (resp string, more bool)) {
	t.Helper()
	br := bufio.NewReader(c)
	for n := 1; ; n++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.ErrUnexpectedEOF) && !isTimeout(err) {
				var oe *net.OpError
				if !errors.As(err, &oe) {
					t.Errorf("server: read request: %v", err)
				}
			}
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			t.Errorf("server: read body: %v", err)
			return
		}
		resp, more := respond(n, req)
		if resp != "" {
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
		if !more {
			return
		}
	}
}

const okResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// countFDs returns the number of open file descriptors of this process.
func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

// fdsBackTo waits up to a second for the descriptor count to fall back
// to before (in-process servers close their ends asynchronously) and
// returns the last count.
func fdsBackTo(t *testing.T, before int) int {
	t.Helper()
	n := countFDs(t)
	for i := 0; i < 100 && n > before; i++ {
		time.Sleep(10 * time.Millisecond) // the poll interval
		n = countFDs(t)
	}
	return n
}

// within reports whether d is in [lo, hi].
func within(d, lo, hi time.Duration) bool { return d >= lo && d <= hi }

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// newDiscardLogger returns a log.Logger that drops everything (TLS
// handshake errors the servers log on purpose in tests).
func newDiscardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// churnConns opens n connections at once, alternately from a and b, reuses
// every third and closes each twice (closing twice must be harmless).
func churnConns(t *testing.T, n int, a, b Transport) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range n {
		tr := a
		if i%2 == 1 {
			tr = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := tr.Open(context.Background())
			if err != nil {
				t.Errorf("Open: %v", err)
				return
			}
			if i%3 == 0 {
				if r := c.Reuse(context.Background()); r.Outcome != plan.OK {
					t.Errorf("Reuse: %s (%s)", r.Outcome, r.Detail)
				}
			}
			c.Close()
			c.Close()
		}()
	}
	wg.Wait()
}

// stampLag is how late a client may stamp the end of an exchange (its idle
// clock's start) after the server stamped it, when both run under -race on
// a loaded 2-core machine: a close then looks that much younger than the
// server's timer. Tests of a server's close accept it early by this much.
const stampLag = 50 * time.Millisecond

// StampLag is stampLag for the external tests.
const StampLag = stampLag
