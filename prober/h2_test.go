package prober

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// HTTP/2 tests against Go's own HTTP/2 server (h2 over TLS and h2c); the
// scripted server is in h2_script_test.go.

// seenReq is what a Go test server saw of one request.
type seenReq struct {
	proto, method, path, host, ua, custom string
	body                                  int
}

// goH2 is a running Go HTTP/2 server.
type goH2 struct {
	addr string
	mu   sync.Mutex
	reqs []seenReq
	read *atomic.Int64 // bytes the server read from all its connections
}

func (s *goH2) seen() []seenReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenReq(nil), s.reqs...)
}

// countingListener counts the bytes its connections read.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: c, n: l.n}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// startGoH2 runs Go's HTTP/2 server: over TLS with cert (h2 and http/1.1
// offered, unless http1Only), or h2c with prior knowledge when cert is nil.
// The handler answers respBytes bytes.
func startGoH2(t *testing.T, cert *tls.Certificate, idle time.Duration, http1Only bool, respBytes int) *goH2 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &goH2{addr: ln.Addr().String(), read: new(atomic.Int64)}
	body := bytes.Repeat([]byte("x"), respBytes)
	var p http.Protocols
	p.SetHTTP1(true)
	if !http1Only {
		if cert == nil {
			p.SetUnencryptedHTTP2(true)
		} else {
			p.SetHTTP2(true)
		}
	}
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, _ := io.Copy(io.Discard, r.Body)
			s.mu.Lock()
			s.reqs = append(s.reqs, seenReq{proto: r.Proto, method: r.Method, path: r.URL.RequestURI(), host: r.Host,
				ua: r.UserAgent(), custom: r.Header.Get("X-Probe"), body: int(n)})
			s.mu.Unlock()
			w.Write(body)
		}),
		Protocols:   &p,
		IdleTimeout: idle,
		ErrorLog:    newDiscardLogger(),
	}
	cl := countingListener{Listener: ln, n: s.read}
	if cert != nil {
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
		go hs.ServeTLS(cl, "", "")
	} else {
		go hs.Serve(cl)
	}
	t.Cleanup(func() { hs.Close() })
	return s
}

func TestParseTargetH2(t *testing.T) {
	for _, tc := range []struct{ in, scheme, addr string }{
		{"h2://example.com/x", "h2", "example.com:443"},
		{"H2C://example.com/", "h2c", "example.com:80"},
		{"h2c://127.0.0.1:8080/healthz?a=1", "h2c", "127.0.0.1:8080"},
		{"h2://[::1]:8443/", "h2", "[::1]:8443"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			tg, err := ParseTarget(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if tg.Scheme != tc.scheme || tg.Address != tc.addr {
				t.Errorf("got %s %s, want %s %s", tg.Scheme, tg.Address, tc.scheme, tc.addr)
			}
		})
	}
}

// TestH2GoServer: against Go's HTTP/2 server over TLS and h2c, the first
// exchange is a real request (method, path, headers, body) and every reuse
// after an idle period is a PING that comes back.
func TestH2GoServer(t *testing.T) {
	const name = "idleprobe.test"
	cert, caFile := selfSigned(t, name)
	for _, tc := range []struct {
		name      string
		tls       bool
		opts      TransportOptions
		respBytes int
		want      seenReq
	}{
		{name: "h2c-get", want: seenReq{proto: "HTTP/2.0", method: "GET", path: "/health?x=1", ua: userAgent}},
		{name: "h2-get", tls: true, opts: TransportOptions{CAFile: caFile, ServerName: name},
			want: seenReq{proto: "HTTP/2.0", method: "GET", path: "/health?x=1", ua: userAgent}},
		{name: "h2c-post-big-body", respBytes: 300 << 10,
			opts: TransportOptions{Method: "POST", Host: "svc.test", Body: bytes.Repeat([]byte("b"), 200<<10),
				Header: http.Header{"X-Probe": {"yes"}, "User-Agent": {"probe/2"}}},
			want: seenReq{proto: "HTTP/2.0", method: "POST", path: "/health?x=1", host: "svc.test", ua: "probe/2", custom: "yes", body: 200 << 10}},
		{name: "h2-head", tls: true, opts: TransportOptions{InsecureSkipVerify: true, Method: "HEAD"},
			want: seenReq{proto: "HTTP/2.0", method: "HEAD", path: "/health?x=1", ua: userAgent}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			var c *tls.Certificate
			scheme := "h2c"
			if tc.tls {
				c, scheme = &cert, "h2"
			}
			srv := startGoH2(t, c, 0, false, tc.respBytes)
			conn := open(t, transport(t, scheme+"://"+srv.addr+"/health?x=1", tc.opts))
			for i := range 3 {
				// A real idle period, and the bound checked: Closed must
				// not fire within it (the server never closes).
				time.Sleep(100 * time.Millisecond)
				select {
				case <-conn.Closed():
					t.Fatal("Closed fired on a server that never closes")
				default:
				}
				r := reuse(t, conn)
				if r.Outcome != plan.OK || r.Detail != "200 OK" || r.End.Before(r.Start) {
					t.Fatalf("reuse %d: %+v", i+1, r)
				}
				if !conn.IdleSince().Equal(r.End) {
					t.Errorf("idle since %v, want the reuse's end %v", conn.IdleSince(), r.End)
				}
			}
			seen := srv.seen()
			if len(seen) != 4 {
				t.Fatalf("server saw %d requests, want 4 (the first and 3 reuses)", len(seen))
			}
			want := tc.want
			if want.host == "" {
				want.host = srv.addr
			}
			for i, s := range seen {
				if s != want {
					t.Errorf("request %d: server saw %+v, want %+v", i+1, s, want)
				}
			}
		})
	}
}

// TestH2ClosedIdle: Go's server ends an idle HTTP/2 connection with a
// GOAWAY and closes it a second later; the GOAWAY is the close, at the
// moment it arrives.
func TestH2ClosedIdle(t *testing.T) {
	const after = 500 * time.Millisecond
	cert, _ := selfSigned(t, "idleprobe.test")
	for _, scheme := range []string{"h2c", "h2"} {
		t.Run(scheme, func(t *testing.T) {
			noLeaks(t)
			var c *tls.Certificate
			if scheme == "h2" {
				c = &cert
			}
			srv := startGoH2(t, c, after, false, 0)
			conn := open(t, transport(t, scheme+"://"+srv.addr+"/", TransportOptions{InsecureSkipVerify: true}))
			waitClosed(t, conn, 3*time.Second)
			at, detail := conn.CloseInfo()
			if age := at.Sub(conn.IdleSince()); !within(age, after-10*time.Millisecond, after+60*time.Millisecond) {
				t.Errorf("close age %s, want about %s", age, after)
			}
			if !strings.HasPrefix(detail, "GOAWAY (NO_ERROR") {
				t.Errorf("detail %q, want GOAWAY (NO_ERROR...)", detail)
			}
			r := reuse(t, conn)
			if r.Outcome != plan.ClosedIdle || !r.Start.Equal(at) || r.Detail != detail {
				t.Errorf("Reuse = %+v, want closed_idle at %v", r, at)
			}
		})
	}
}

// TestH2Unusable: servers that do not speak HTTP/2 (or not well enough)
// fail Open with one line wrapping ErrUnusable, and leave no descriptor.
func TestH2Unusable(t *testing.T) {
	cert, _ := selfSigned(t, "idleprobe.test")
	http1TLS := startGoH2(t, &cert, 0, true, 0)
	http1Plain := startGoH2(t, nil, 0, true, 0)
	big := startGoH2(t, nil, 0, false, maxResponseBytes+1)
	noALPN := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		if tc.Handshake() == nil {
			io.Copy(io.Discard, tc)
		}
	})
	for _, tc := range []struct {
		name, url, want string
		script          func(t *testing.T, s *fakeH2) // a scripted h2c server instead of url
	}{
		{name: "http1-only-tls", url: "h2://" + http1TLS.addr + "/", want: "does not speak HTTP/2 over TLS"},
		{name: "tls-without-alpn", url: "h2://" + noALPN.addr + "/", want: "does not speak HTTP/2 over TLS: ALPN chose none"},
		{name: "http1-only-plain", url: "h2c://" + http1Plain.addr + "/", want: "answered in HTTP/1.x"},
		{name: "body-too-large", url: "h2c://" + big.addr + "/", want: "larger than 1 MiB"},
		{name: "stream-reset", want: "RST_STREAM REFUSED_STREAM", script: func(t *testing.T, s *fakeH2) {
			s.handshake(t)
			s.readRequest(t)
			s.fr.WriteRSTStream(1, http2.ErrCodeRefusedStream)
			s.drain()
		}},
		{name: "goaway-first", want: `GOAWAY (ENHANCE_YOUR_CALM: "calm down")`, script: func(t *testing.T, s *fakeH2) {
			s.handshake(t)
			s.fr.WriteGoAway(0, http2.ErrCodeEnhanceYourCalm, []byte("calm down"))
			s.drain()
		}},
		{name: "goaway-right-after-first", want: "ended the connection right after the first response (GOAWAY (NO_ERROR))",
			script: func(t *testing.T, s *fakeH2) {
				if s.open(t) {
					s.fr.WriteGoAway(1, http2.ErrCodeNo, nil)
					s.drain()
				}
			}},
		{name: "fin-right-after-first", want: "ended the connection right after the first response (EOF)",
			script: func(t *testing.T, s *fakeH2) { s.open(t) }},
		{name: "not-settings-first", want: "not SETTINGS", script: func(t *testing.T, s *fakeH2) {
			s.fr.WritePing(false, [8]byte{})
			s.drain()
		}},
		{name: "silent", want: "timeout", script: func(t *testing.T, s *fakeH2) { s.drain() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			if tc.script != nil {
				tc.url = "h2c://" + startFakeH2(t, tc.script).addr + "/"
			}
			tr := transport(t, tc.url, TransportOptions{Timeout: 700 * time.Millisecond, InsecureSkipVerify: true})
			openUnusableClean(t, tr, tc.want)
		})
	}
}

// TestH2RequestErrors: bad request options are refused by NewTransport.
func TestH2RequestErrors(t *testing.T) {
	tg, err := ParseTarget("h2c://127.0.0.1:1/")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts TransportOptions
		want string
	}{
		{"bad-method", TransportOptions{Method: "GE T"}, "method"},
		{"connection-header", TransportOptions{Header: http.Header{"Connection": {"close"}}}, "header Connection"},
		{"proxy-connection", TransportOptions{Header: http.Header{"Proxy-Connection": {"x"}}}, "header Proxy-Connection"},
		{"bad-name", TransportOptions{Header: http.Header{"X:Y": {"1"}}}, "header name"},
		{"bad-value", TransportOptions{Header: http.Header{"X-A": {"a\nb"}}}, "control characters"},
		{"bad-host", TransportOptions{Host: "a b"}, "host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewTransport(tg, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewTransport error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestH2NoFDLeak opens, uses and closes many h2 and h2c connections.
func TestH2NoFDLeak(t *testing.T) {
	noLeaks(t)
	cert, _ := selfSigned(t, "idleprobe.test")
	tlsSrv := startGoH2(t, &cert, 0, false, 0)
	plainSrv := startGoH2(t, nil, 0, false, 0)
	h2 := transport(t, "h2://"+tlsSrv.addr+"/", TransportOptions{InsecureSkipVerify: true})
	h2c := transport(t, "h2c://"+plainSrv.addr+"/", TransportOptions{})
	warm := open(t, h2c)
	warm.Close()
	before := countFDs(t)
	churnConns(t, 20, h2c, h2)
	if after := fdsBackTo(t, before); after > before {
		t.Errorf("%d file descriptors before, %d after", before, after)
	}
}

// TestH2ReuseCanceled: a reuse ends when its context does.
func TestH2ReuseCanceled(t *testing.T) {
	noLeaks(t)
	inFlight, signal := received()
	srv := startFakeH2(t, func(t *testing.T, s *fakeH2) {
		if s.open(t) {
			if _, ok := s.next(t); ok {
				signal()
			}
			s.wait()
		}
	})
	c := open(t, transport(t, "h2c://"+srv.addr+"/", TransportOptions{Timeout: 5 * time.Second}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once the server has the reuse's request: the reuse is then
	// waiting for an answer that never comes.
	canceled := afterSignal(ctx, inFlight, cancel)
	start := time.Now()
	r := c.Reuse(ctx)
	if r.Outcome != plan.Error || r.Detail != "canceled" || time.Since(start) > time.Second {
		t.Errorf("Reuse = %s (%s) after %s, want error (canceled) at once", r.Outcome, r.Detail, time.Since(start))
	}
	if !canceled() {
		t.Error("the reuse ended before the server received its request: nothing was canceled in flight")
	}
}
