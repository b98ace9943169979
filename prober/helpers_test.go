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
	"strings"
	"sync"
	"sync/atomic"
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

// oneConn is the script of a scripted server's connection, for the fuzz
// tests of what a server may send: the opening exchange, bytes while the
// connection is idle, and the answer to the client's reuse. The whole
// connection ends within about 2 s (its deadline).
type oneConn struct {
	// open plays the opening exchange (nil: none), reading the client
	// through br; an error ends the connection.
	open func(c net.Conn, br *bufio.Reader) error
	// idle is written after the opening.
	idle []byte
	// reused reports whether the client's bytes read so far (after the
	// opening) hold its reuse. The server answers once they do, or after
	// a second without; a read error other than a timeout ends the
	// connection unanswered.
	reused func(seen []byte) bool
	// answer is written as the answer to the reuse.
	answer []byte
	// hold reads after the answer until the client closes (up to a
	// second), instead of closing at once.
	hold bool
}

// scripted is the handler of startServer that plays s on each connection.
func scripted(s oneConn) func(t *testing.T, c net.Conn, done <-chan struct{}) {
	return func(t *testing.T, c net.Conn, done <-chan struct{}) {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		br := bufio.NewReader(c)
		if s.open != nil {
			if err := s.open(c, br); err != nil {
				return
			}
		}
		c.Write(s.idle)
		var seen []byte
		buf := make([]byte, 4096)
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			n, err := br.Read(buf)
			seen = append(seen, buf[:n]...)
			if s.reused(seen) {
				break
			}
			if err != nil && !isTimeout(err) {
				return
			}
		}
		c.SetWriteDeadline(time.Now().Add(time.Second))
		c.Write(s.answer)
		if s.hold {
			c.SetReadDeadline(time.Now().Add(time.Second))
			io.Copy(io.Discard, br)
		}
	}
}

// fuzzClient opens the target rawURL (ADDR stands for addr) with o, after
// a real idle period reuses it up to reuses times (until a reply is not
// OK) and returns the first reuse's outcome and detail ("ok: detail"), or
// the Open error. It fails the test unless Open fails only with one line
// wrapping ErrUnusable and every reply has a valid outcome, a one-line
// detail (not empty unless OK) and End >= Start; each (nil: none) checks
// more of every reply.
func fuzzClient(t *testing.T, rawURL, addr string, o TransportOptions, reuses int, each func(c Conn, r Reply)) string {
	t.Helper()
	tg, err := ParseTarget(strings.Replace(rawURL, "ADDR", addr, 1))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTransport(tg, o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tr.Open(context.Background())
	if err != nil {
		t.Logf("%s open: %v", t.Name(), err)
		if !errors.Is(err, ErrUnusable) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("Open error %q: want one line wrapping ErrUnusable", err)
		}
		return err.Error()
	}
	defer c.Close()
	time.Sleep(10 * time.Millisecond) // a real idle period; like the server's pacing, it only steers the path the input takes
	first := ""
	for range reuses {
		r := c.Reuse(context.Background())
		t.Logf("%s reuse: %s retired=%v (%s)", t.Name(), r.Outcome, r.Retired, r.Detail)
		if !r.Outcome.Valid() || strings.Contains(r.Detail, "\n") || r.End.Before(r.Start) {
			t.Fatalf("Reuse = %+v: want a valid outcome, a one-line detail, End >= Start", r)
		}
		if each != nil {
			each(c, r)
		}
		if first == "" {
			first = string(r.Outcome) + ": " + r.Detail
		}
		if r.Outcome != plan.OK {
			if r.Detail == "" {
				t.Fatalf("Reuse = %s without detail", r.Outcome)
			}
			break
		}
	}
	return first
}

// openUnusable fails the test unless opening with tr fails with one line
// wrapping ErrUnusable that contains want.
func openUnusable(t *testing.T, tr Transport, want string) {
	t.Helper()
	c, err := tr.Open(context.Background())
	if err == nil {
		c.Close()
		t.Fatal("Open succeeded, want ErrUnusable")
	}
	if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("Open error %q, want one line wrapping ErrUnusable containing %q", err, want)
	}
}

// openUnusableClean is openUnusable, and the failed Open must leave no
// file descriptor open (for servers that close their end).
func openUnusableClean(t *testing.T, tr Transport, want string) {
	t.Helper()
	fds := countFDs(t)
	openUnusable(t, tr, want)
	if after := fdsBackTo(t, fds); after > fds {
		t.Errorf("failed Open left %d file descriptors open", after-fds)
	}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// ClosedPort is closedPort for the external tests.
var ClosedPort = closedPort

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

// idleSilently lets a connection sit idle for a real idle period (100 ms)
// and fails the test if the server's count of bytes read moved meanwhile:
// nothing may reach the server while idle.
func idleSilently(t *testing.T, read *atomic.Int64) {
	t.Helper()
	before := read.Load()
	time.Sleep(100 * time.Millisecond) // a real idle period
	if got := read.Load(); got != before {
		t.Fatalf("the server read %d bytes while the connection was idle", got-before)
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
