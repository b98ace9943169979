package prober

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// WebSocket tests against a real server library (coder/websocket) on
// loopback.

// goWS is a running WebSocket echo server.
type goWS struct {
	addr  string
	read  *atomic.Int64 // bytes read from all connections
	pings *atomic.Int64 // pings the server saw (as pongs it sent)
}

// startGoWS runs an echo server on loopback; with idle > 0 it closes a
// connection (close frame 1001 "idle timeout") after idle without a
// message. With cert it serves TLS.
func startGoWS(t *testing.T, cert *tls.Certificate, idle time.Duration) *goWS {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveGoWS(t, ln, cert, idle)
}

// serveGoWS is startGoWS on ln. A hijacked connection outlives the
// server's Close: at cleanup each is closed and waited for.
func serveGoWS(t *testing.T, ln net.Listener, cert *tls.Certificate, idle time.Duration) *goWS {
	t.Helper()
	s := &goWS{addr: ln.Addr().String(), read: new(atomic.Int64), pings: new(atomic.Int64)}
	var (
		mu    sync.Mutex
		conns = map[*websocket.Conn]bool{}
		wg    sync.WaitGroup
	)
	hs := &http.Server{ErrorLog: newDiscardLogger(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/not-ws" {
			http.NotFound(w, r)
			return
		}
		wg.Add(1)
		defer wg.Done()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true,
			OnPingReceived: func(context.Context, []byte) bool { s.pings.Add(1); return true }})
		if err != nil {
			return
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		defer c.CloseNow()
		var timer *time.Timer
		if idle > 0 {
			timer = time.AfterFunc(idle, func() { _ = c.Close(websocket.StatusGoingAway, "idle timeout") })
			defer timer.Stop()
		}
		for {
			typ, data, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if timer != nil && !timer.Stop() {
				return
			}
			if err := c.Write(context.Background(), typ, data); err != nil {
				return
			}
			if timer != nil {
				timer.Reset(idle)
			}
		}
	})}
	cl := countingListener{Listener: ln, n: s.read}
	if cert != nil {
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
		go hs.ServeTLS(cl, "", "")
	} else {
		go hs.Serve(cl)
	}
	t.Cleanup(func() {
		hs.Close()
		mu.Lock()
		for c := range conns {
			c.CloseNow()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

func TestParseTargetWSAndGRPC(t *testing.T) {
	for _, tc := range []struct{ in, addr, err string }{
		{in: "ws://svc/echo", addr: "svc:80"},
		{in: "wss://svc/echo", addr: "svc:443"},
		{in: "WS://svc:8080/", addr: "svc:8080"},
		{in: "grpc://svc:50051", addr: "svc:50051"},
		{in: "grpcs://svc:443/", addr: "svc:443"},
		{in: "grpc://svc", err: "gRPC targets need a port"},
		{in: "grpc://svc:50051/pkg.Svc/Method", err: "a gRPC target has no path"},
	} {
		tg, err := ParseTarget(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseTarget(%q) error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || tg.Address != tc.addr):
			t.Errorf("ParseTarget(%q) = %q, %v, want %q", tc.in, tg.Address, err, tc.addr)
		}
	}
}

// TestWSEcho: ws and wss against a real server: the upgrade, silent idle
// periods (the server reads nothing while idle), echoed reuses.
func TestWSEcho(t *testing.T) {
	cert, _ := selfSigned(t, "idleprobe.test")
	for _, scheme := range []string{"ws", "wss"} {
		t.Run(scheme, func(t *testing.T) {
			noLeaks(t)
			var c *tls.Certificate
			if scheme == "wss" {
				c = &cert
			}
			srv := startGoWS(t, c, 0)
			conn := open(t, transport(t, scheme+"://"+srv.addr+"/echo", TransportOptions{InsecureSkipVerify: true}))
			for i := range 3 {
				idleSilently(t, srv.read)
				select {
				case <-conn.Closed():
					t.Fatal("Closed fired on a server that never closes")
				default:
				}
				r := reuse(t, conn)
				if r.Outcome != plan.OK || !strings.HasPrefix(r.Detail, "answered") || r.End.Before(r.Start) {
					t.Fatalf("reuse %d: %+v", i+1, r)
				}
				if !conn.IdleSince().Equal(r.End) {
					t.Errorf("idle since %v, want the reuse's end %v", conn.IdleSince(), r.End)
				}
			}
			if n := srv.pings.Load(); n != 0 {
				t.Errorf("the server saw %d pings, want none", n)
			}
		})
	}
}

// TestWSClosedIdle: a server that closes idle WebSockets (close frame)
// is seen at that moment, and Reuse reports it without sending.
func TestWSClosedIdle(t *testing.T) {
	noLeaks(t)
	const after = 400 * time.Millisecond
	srv := startGoWS(t, nil, after)
	conn := open(t, transport(t, "ws://"+srv.addr+"/", TransportOptions{}))
	waitClosed(t, conn, 3*time.Second)
	at, detail := conn.CloseInfo()
	if age := at.Sub(conn.IdleSince()); !within(age, after-20*time.Millisecond, after+80*time.Millisecond) {
		t.Errorf("close age %s, want about %s", age, after)
	}
	if !strings.HasPrefix(detail, `WebSocket close 1001 (going away: "idle timeout")`) {
		t.Errorf("detail %q, want the close frame", detail)
	}
	r := reuse(t, conn)
	if r.Outcome != plan.ClosedIdle || !r.Start.Equal(at) {
		t.Errorf("Reuse = %+v, want closed_idle at %v", r, at)
	}
}

// TestWSUnusable: servers that refuse the upgrade fail Open with one line.
func TestWSUnusable(t *testing.T) {
	srv := startGoWS(t, nil, 0)
	plain := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
		httpAnswer(t, c, func(int, *http.Request) (string, bool) { return okResponse, true })
	})
	badAccept := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
		httpAnswer(t, c, func(int, *http.Request) (string, bool) {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n", true
		})
	})
	for _, tc := range []struct{ name, url, want string }{
		{"not-found", "ws://" + srv.addr + "/not-ws", "refused: 404 Not Found, not 101 Switching Protocols"},
		{"plain-http", "ws://" + plain.addr + "/", "refused: 200 OK, not 101"},
		{"bad-accept", "ws://" + badAccept.addr + "/", "wrong Sec-WebSocket-Accept"},
		{"tls-to-plain", "wss://" + srv.addr + "/", "TLS handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := transport(t, tc.url, TransportOptions{Timeout: time.Second, InsecureSkipVerify: true})
			openUnusableClean(t, tr, tc.want)
		})
	}
}

// TestWSSendExpect: a configured message and answer.
func TestWSSendExpect(t *testing.T) {
	noLeaks(t)
	srv := startGoWS(t, nil, 0)
	conn := open(t, transport(t, "ws://"+srv.addr+"/", TransportOptions{Send: []byte(`{"op":"ping"}`), Expect: []byte(`"op"`)}))
	if r := reuse(t, conn); r.Outcome != plan.OK {
		t.Fatalf("reuse: %+v", r)
	}
	// An answer that never contains Expect is slow, not a success.
	conn2 := open(t, transport(t, "ws://"+srv.addr+"/", TransportOptions{Timeout: 300 * time.Millisecond, Send: []byte("a"), Expect: []byte("b")}))
	if r := reuse(t, conn2); r.Outcome != plan.Slow {
		t.Fatalf("reuse with an answer that never matches: %+v, want slow", r)
	}
}

// TestMeasureWSServerIdleClose: a WebSocket server that closes idle
// connections after 1 s (a close frame): the limit is the close's moment,
// found without a search, on the idle clock.
func TestMeasureWSServerIdleClose(t *testing.T) {
	noLeaks(t)
	const K = time.Second
	srv := startGoWS(t, nil, K)
	s := plan.Defaults()
	s.Min, s.Max = 200*time.Millisecond, 5*time.Second
	r, err := Measure(context.Background(), Target{Scheme: "ws", Address: srv.addr, URL: mustURL(t, "ws://"+srv.addr+"/")},
		Options{Plan: s, Transport: TransportOptions{Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	// A server timer that fires late on a loaded machine lets a reuse race
	// its close frame: closed_on_reuse at the upper end is the same server.
	// The server's timer starts when it wrote the echo, the client's idle
	// clock when it read it: within 2 ms on an idle machine, but a reader
	// starved under -race on a loaded machine lags far more.
	const early = 200 * time.Millisecond
	closed := r.Mode == plan.ClosedIdle || r.Mode == plan.ClosedOnReuse
	if !closed || r.Kind != plan.Idle || !r.Found || r.Lower >= K || r.Upper < K-early {
		t.Fatalf("(%s, %s] mode %s kind %s, want closed_idle, idle, holding %s", r.Lower, r.Upper, r.Mode, r.Kind, K)
	}
	if d := r.CloseAge - K; r.Mode == plan.ClosedIdle && (d < -early || d > 80*time.Millisecond) {
		t.Errorf("close seen at %s idle, want %s", r.CloseAge, K)
	}
	if r.Duration() > 2*K+time.Second {
		t.Errorf("took %s, want about %s", r.Duration(), K)
	}
	t.Logf("ws server idle close: (%s, %s] close at %s, in %s", r.Lower, r.Upper, r.CloseAge, r.Duration())
}
