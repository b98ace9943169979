package prober

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// TestTCPClosedIdle: a server that ends the idle connection after 300 ms
// (FIN or RST) is seen by the pending read at that moment, and the reuse
// reports ClosedIdle without sending anything.
func TestTCPClosedIdle(t *testing.T) {
	const after = 300 * time.Millisecond
	for _, tc := range []struct {
		name   string
		reset  bool
		detail string
	}{
		{"fin", false, "EOF"},
		{"rst", true, "connection reset by peer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			closedAt := make(chan time.Time, 1)
			got := make(chan int, 1)
			srv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
				select {
				case <-done:
					c.Close()
					return
				case <-time.After(after): // the idle time the server allows: what the test measures
				}
				closedAt <- time.Now()
				if tc.reset {
					resetConn(t, c)
				} else {
					c.(*net.TCPConn).CloseWrite()
					// Count what the client sends after the close.
					n, _ := io.Copy(io.Discard, c)
					got <- int(n)
					c.Close()
				}
			})
			c := open(t, transport(t, "tcp://"+srv.addr, TransportOptions{}))
			waitClosed(t, c, 3*time.Second)
			at, detail := c.CloseInfo()
			srvAt := <-closedAt
			if d := at.Sub(srvAt); !within(d, 0, 30*time.Millisecond) {
				t.Errorf("close seen %s after the server closed, want within 30ms", d)
			}
			if age := at.Sub(c.IdleSince()); !within(age, after-stampLag, after+60*time.Millisecond) {
				t.Errorf("close age %s, want about %s", age, after)
			}
			if detail != tc.detail {
				t.Errorf("CloseInfo detail %q, want %q", detail, tc.detail)
			}
			r := reuse(t, c)
			if r.Outcome != plan.ClosedIdle || !r.Start.Equal(at) || !r.End.Equal(at) || r.Detail != tc.detail {
				t.Errorf("Reuse = %+v, want ClosedIdle at %v with detail %q", r, at, tc.detail)
			}
			c.Close()
			if !tc.reset {
				if n := <-got; n != 0 {
					t.Errorf("client sent %d bytes after the close was seen, want 0", n)
				}
			}
		})
	}
}

// TestTCPReuse covers the reuse outcomes of a raw TCP connection.
func TestTCPReuse(t *testing.T) {
	readSome := func(c net.Conn) ([]byte, error) {
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		return buf[:n], err
	}
	for _, tc := range []struct {
		name    string
		opts    TransportOptions
		handle  func(t *testing.T, c net.Conn, done <-chan struct{})
		reuses  int
		want    plan.Outcome
		detail  string
		minTime time.Duration // the reply must take at least this long
		maxTime time.Duration
	}{
		{
			name: "ack",
			handle: func(t *testing.T, c net.Conn, done <-chan struct{}) {
				io.Copy(io.Discard, c)
			},
			reuses: 3, want: plan.OK, detail: "acknowledged", maxTime: time.Second,
		},
		{
			name: "echo",
			opts: TransportOptions{Send: []byte("hello\n")},
			handle: func(t *testing.T, c net.Conn, done <-chan struct{}) {
				io.Copy(c, c)
			},
			reuses: 3, want: plan.OK, maxTime: time.Second,
		},
		{
			name: "expect",
			opts: TransportOptions{Send: []byte("PING\r\n"), Expect: []byte("+PONG")},
			handle: func(t *testing.T, c net.Conn, done <-chan struct{}) {
				for {
					b, err := readSome(c)
					if err != nil {
						return
					}
					if string(b) != "PING\r\n" {
						t.Errorf("server got %q, want PING", b)
					}
					// Answer in two pieces: the match spans reads.
					c.Write([]byte("+PO"))
					time.Sleep(5 * time.Millisecond) // pacing the answer, not a wait for a condition
					c.Write([]byte("NG\r\n"))
				}
			},
			reuses: 3, want: plan.OK, detail: `answer contains "+PONG"`, maxTime: time.Second,
		},
		{
			name: "expect-silent",
			opts: TransportOptions{Send: []byte("PING\r\n"), Expect: []byte("+PONG"), Timeout: 300 * time.Millisecond},
			handle: func(t *testing.T, c net.Conn, done <-chan struct{}) {
				io.Copy(io.Discard, c)
			},
			reuses: 1, want: plan.Slow, minTime: 300 * time.Millisecond, maxTime: 600 * time.Millisecond,
		},
		{
			name: "expect-wrong-answer",
			opts: TransportOptions{Send: []byte("PING\r\n"), Expect: []byte("+PONG"), Timeout: 300 * time.Millisecond},
			handle: func(t *testing.T, c net.Conn, done <-chan struct{}) {
				if _, err := readSome(c); err == nil {
					c.Write([]byte("-ERR unknown\r\n"))
				}
				io.Copy(io.Discard, c)
			},
			reuses: 1, want: plan.Slow, minTime: 300 * time.Millisecond, maxTime: 600 * time.Millisecond,
		},
		{
			name: "reset-on-payload",
			handle: func(t *testing.T, c net.Conn, done <-chan struct{}) {
				if _, err := readSome(c); err == nil {
					resetConn(t, c)
				}
			},
			reuses: 1, want: plan.Reset, maxTime: time.Second,
		},
		{
			name: "close-on-payload",
			handle: func(t *testing.T, c net.Conn, done <-chan struct{}) {
				if _, err := readSome(c); err == nil {
					c.Close()
				}
			},
			reuses: 1, want: plan.ClosedOnReuse, maxTime: time.Second,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			srv := startServer(t, tc.handle)
			c := open(t, transport(t, "tcp://"+srv.addr, tc.opts))
			for i := range tc.reuses {
				before := c.IdleSince()
				// A real idle period: the check below that the reuse starts
				// at least 20ms after IdleSince depends on it.
				time.Sleep(20 * time.Millisecond)
				r := reuse(t, c)
				if r.Outcome != tc.want {
					t.Fatalf("reuse %d: outcome %s (%s), want %s", i+1, r.Outcome, r.Detail, tc.want)
				}
				if tc.detail != "" && r.Detail != tc.detail {
					t.Errorf("reuse %d: detail %q, want %q", i+1, r.Detail, tc.detail)
				}
				if took := r.End.Sub(r.Start); !within(took, tc.minTime, tc.maxTime) {
					t.Errorf("reuse %d took %s, want between %s and %s", i+1, took, tc.minTime, tc.maxTime)
				}
				if r.Start.Before(before.Add(20 * time.Millisecond)) {
					t.Errorf("reuse %d started %s after IdleSince, want >= 20ms", i+1, r.Start.Sub(before))
				}
				if r.Outcome == plan.OK {
					if after := c.IdleSince(); !after.After(r.Start) || after.After(r.End) {
						t.Errorf("reuse %d: IdleSince %v not within the exchange [%v, %v]", i+1, after, r.Start, r.End)
					}
				}
			}
		})
	}
}

// TestReuseCanceled: a canceled context ends a reuse at once with Error.
func TestReuseCanceled(t *testing.T) {
	for _, scheme := range []string{"tcp", "http"} {
		t.Run(scheme, func(t *testing.T) {
			noLeaks(t)
			srv, inFlight := startSilentServer(t, scheme)
			c := open(t, transport(t, scheme+"://"+srv.addr, TransportOptions{Expect: []byte("never"), Timeout: 5 * time.Second}))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// Cancel once the server has the reuse's payload: the reuse is
			// then waiting for an answer that never comes.
			canceled := afterSignal(ctx, inFlight, cancel)
			start := time.Now()
			r := c.Reuse(ctx)
			if r.Outcome != plan.Error || r.Detail != "canceled" {
				t.Errorf("Reuse = %s (%s), want error (canceled)", r.Outcome, r.Detail)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("canceled reuse took %s", took)
			}
			if !canceled() {
				t.Error("the reuse ended before the server received its payload: nothing was canceled in flight")
			}
		})
	}
}

// TestOpenErrors: failures to open say what failed and wrap ErrUnusable.
func TestOpenErrors(t *testing.T) {
	refused := closedPort(t)
	failingDNS := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		return nil, errors.New("no DNS in tests")
	}}
	for _, tc := range []struct {
		name     string
		url      string
		resolver *net.Resolver
		want     string
	}{
		{"refused-tcp", "tcp://" + refused, nil, "connection refused"},
		{"refused-http", "http://" + refused + "/", nil, "connection refused"},
		{"refused-https", "https://" + refused + "/", nil, "connection refused"},
		{"dns", "tcp://idleprobe-no-such-host.test:80", failingDNS, `DNS lookup of "idleprobe-no-such-host.test" failed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			tr := transport(t, tc.url, TransportOptions{Timeout: time.Second})
			if tc.resolver != nil {
				switch tr := tr.(type) {
				case *tcpTransport:
					tr.d.resolver = tc.resolver
				case *httpTransport:
					tr.d.resolver = tc.resolver
				}
			}
			c, err := tr.Open(context.Background())
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !errors.Is(err, ErrUnusable) {
				t.Errorf("error %q does not wrap ErrUnusable", err)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line containing %q", err, tc.want)
			}
		})
	}
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := transport(t, "tcp://"+refused, TransportOptions{}).Open(ctx)
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnusable) {
			t.Errorf("Open with canceled ctx: %v, want context.Canceled and not ErrUnusable", err)
		}
	})
}

// TestNewTransportErrors: options that can never work are rejected with
// one line naming the field.
func TestNewTransportErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  string
		opts TransportOptions
		want string
	}{
		{"negative-timeout", "tcp://127.0.0.1:1", TransportOptions{Timeout: -time.Second}, "timeout -1s is negative"},
		{"bad-method", "http://127.0.0.1:1/", TransportOptions{Method: "GET /x"}, `method "GET /x" is not a valid HTTP method`},
		{"bad-header-name", "http://127.0.0.1:1/", TransportOptions{Header: map[string][]string{"X Y": {"1"}}}, `header "X Y" is not a valid header name`},
		{"bad-header-value", "http://127.0.0.1:1/", TransportOptions{Header: map[string][]string{"X-A": {"1\r\nEvil: 1"}}}, "header X-A: value"},
		{"fixed-header", "http://127.0.0.1:1/", TransportOptions{Header: map[string][]string{"Connection": {"close"}}}, "header Connection is managed by idleprobe"},
		{"bad-host", "http://127.0.0.1:1/", TransportOptions{Host: "a b"}, `host "a b" is not a host name`},
		{"ca-missing", "https://127.0.0.1:1/", TransportOptions{CAFile: "/nonexistent/ca.pem"}, "CA file /nonexistent/ca.pem:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := ParseTarget(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			_, err = NewTransport(tg, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("NewTransport error %v, want one line containing %q", err, tc.want)
			}
		})
	}
	if _, err := NewTransport(Target{Scheme: "ftp", Address: "x:1", URL: mustURL(t, "ftp://x:1")}, TransportOptions{}); err == nil || !strings.Contains(err.Error(), `unknown scheme "ftp"`) {
		t.Errorf("ftp: error %v, want unknown scheme", err)
	}
}

// TestNoFDLeak opens and closes many connections of every kind (some used,
// some closed by the server) and checks no descriptor is left.
func TestNoFDLeak(t *testing.T) {
	noLeaks(t)
	tcpSrv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) { io.Copy(io.Discard, c) })
	httpSrv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
		httpAnswer(t, c, func(int, *http.Request) (string, bool) { return okResponse, true })
	})
	tcpTr := transport(t, "tcp://"+tcpSrv.addr, TransportOptions{})
	httpTr := transport(t, "http://"+httpSrv.addr+"/", TransportOptions{})
	// Warm up lazily created descriptors (epoll) before counting.
	warm := open(t, tcpTr)
	warm.Close()
	before := countFDs(t)
	churnConns(t, 40, tcpTr, httpTr)
	if after := fdsBackTo(t, before); after > before {
		t.Errorf("%d file descriptors before, %d after opening and closing 40 connections", before, after)
	}
}

// TestReuseAfterClose: reusing a closed connection is an Error, not a panic.
func TestReuseAfterClose(t *testing.T) {
	noLeaks(t)
	srv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) { io.Copy(io.Discard, c) })
	c := open(t, transport(t, "tcp://"+srv.addr, TransportOptions{}))
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if r := reuse(t, c); r.Outcome != plan.Error {
		t.Errorf("Reuse after Close = %s, want error", r.Outcome)
	}
	select {
	case <-c.Closed():
		t.Error("Closed() fired after our own Close; it is only for closes by the peer")
	default:
	}
}

// TestCloseDuringReuse: Close from another goroutine ends a running reuse
// with Error (never OK) and leaves nothing behind.
func TestCloseDuringReuse(t *testing.T) {
	for _, scheme := range []string{"tcp", "http"} {
		t.Run(scheme, func(t *testing.T) {
			noLeaks(t)
			srv, inFlight := startSilentServer(t, scheme)
			c := open(t, transport(t, scheme+"://"+srv.addr+"/", TransportOptions{Expect: []byte("never"), Timeout: 3 * time.Second}))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// Close once the server has the reuse's payload: the reuse is
			// then waiting for an answer that never comes.
			closed := afterSignal(ctx, inFlight, func() { c.Close() })
			start := time.Now()
			r := reuse(t, c)
			if r.Outcome != plan.Error {
				t.Errorf("Reuse during Close = %s (%s), want error", r.Outcome, r.Detail)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("Reuse took %s after a Close, want it to end at once", took)
			}
			if !closed() {
				t.Error("the reuse ended before the server received its payload: nothing was closed in flight")
			}
		})
	}
}

// startSilentServer starts a server that answers the first HTTP exchange
// (scheme http) and nothing after it; inFlight is signalled when the
// payload of a reuse (any byte, for tcp; the second request, for http) has
// arrived.
func startSilentServer(t *testing.T, scheme string) (*server, <-chan struct{}) {
	t.Helper()
	inFlight, signal := received()
	srv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
		if scheme == "http" {
			httpAnswer(t, c, func(n int, _ *http.Request) (string, bool) {
				if n == 1 {
					return okResponse, true
				}
				signal()
				return "", true // never answer again
			})
			return
		}
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				signal()
			}
			if err != nil {
				return
			}
		}
	})
	return srv, inFlight
}

// afterSignal calls act once signal fires, unless ctx ends first. The
// returned function reports whether act has been called.
func afterSignal(ctx context.Context, signal <-chan struct{}, act func()) func() bool {
	var called atomic.Bool
	go func() {
		select {
		case <-signal:
			called.Store(true) // before act: whatever act ends sees it set
			act()
		case <-ctx.Done():
		}
	}()
	return called.Load
}
