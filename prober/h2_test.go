package prober

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// HTTP/2 tests: Go's own HTTP/2 server (h2 over TLS and h2c), and a
// scripted server built on the x/net framer for what Go's server never
// does on its own (resets, stalls, GOAWAY at chosen moments).

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

// TestH2IdleSilence: after the first exchange the server reads nothing at
// all while the client is idle (no PING, no WINDOW_UPDATE), and a reuse is
// seen.
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
			time.Sleep(50 * time.Millisecond)
			before := srv.read.Load()
			time.Sleep(time.Second)
			if after := srv.read.Load(); after != before {
				t.Errorf("server read %d bytes while the client was idle, want 0", after-before)
			}
			if r := reuse(t, conn); r.Outcome != plan.OK {
				t.Fatalf("reuse: %+v", r)
			}
			time.Sleep(20 * time.Millisecond)
			if srv.read.Load() == before {
				t.Error("the server's byte counter did not move on reuse: the check cannot see traffic")
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
			fds := countFDs(t)
			c, err := tr.Open(context.Background())
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded, want ErrUnusable")
			}
			if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Open error %q, want one line wrapping ErrUnusable containing %q", err, tc.want)
			}
			if after := fdsBackTo(t, fds); after > fds {
				t.Errorf("failed Open left %d file descriptors open", after-fds)
			}
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

// fakeH2 is one connection of a scripted HTTP/2 server.
type fakeH2 struct {
	c    net.Conn
	fr   *http2.Framer
	done <-chan struct{}
	enc  *hpack.Encoder
	hb   bytes.Buffer
}

type fakeServer struct{ *server }

// startFakeH2 runs script on every accepted connection.
func startFakeH2(t *testing.T, script func(t *testing.T, s *fakeH2)) fakeServer {
	t.Helper()
	srv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
		s := &fakeH2{c: c, fr: http2.NewFramer(c, c), done: done}
		s.enc = hpack.NewEncoder(&s.hb)
		s.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		script(t, s)
	})
	return fakeServer{srv}
}

// wait blocks until the test ends.
func (s *fakeH2) wait() { <-s.done }

// drain reads until the client closes.
func (s *fakeH2) drain() { io.Copy(io.Discard, s.c) }

// handshake reads the preface and the client's SETTINGS, sends ours and
// acknowledges the client's.
func (s *fakeH2) handshake(t *testing.T) {
	t.Helper()
	buf := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(s.c, buf); err != nil || string(buf) != http2.ClientPreface {
		t.Errorf("server: preface %q, %v", buf, err)
		return
	}
	f, err := s.fr.ReadFrame()
	if err != nil {
		t.Errorf("server: read SETTINGS: %v", err)
		return
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		t.Errorf("server: first frame %v, want SETTINGS", f)
		return
	}
	if v, ok := sf.Value(http2.SettingEnablePush); !ok || v != 0 {
		t.Errorf("server: client SETTINGS_ENABLE_PUSH = %d (set %v), want 0", v, ok)
	}
	s.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 10})
	s.fr.WriteSettingsAck()
}

// readRequest reads frames until a request's HEADERS (skipping the
// SETTINGS ACK and anything else) and returns them, or nil on error.
func (s *fakeH2) readRequest(t *testing.T) *http2.MetaHeadersFrame {
	t.Helper()
	for range 10 {
		f, err := s.fr.ReadFrame()
		if err != nil {
			return nil
		}
		if mh, ok := f.(*http2.MetaHeadersFrame); ok {
			return mh
		}
	}
	t.Error("server: no request HEADERS in 10 frames")
	return nil
}

// respond answers stream id with 200 and a short body.
func (s *fakeH2) respond(id uint32) {
	s.hb.Reset()
	s.enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: s.hb.Bytes(), EndHeaders: true})
	s.fr.WriteData(id, true, []byte("ok"))
}

// open runs the handshake and the first exchange.
func (s *fakeH2) open(t *testing.T) bool {
	t.Helper()
	s.handshake(t)
	if s.readRequest(t) == nil {
		t.Error("server: no first request")
		return false
	}
	s.respond(1)
	return true
}

// next reads the next request and returns its stream; ok is false on error.
func (s *fakeH2) next(t *testing.T) (uint32, bool) {
	t.Helper()
	mh := s.readRequest(t)
	if mh == nil {
		return 0, false
	}
	return mh.StreamID, true
}

// TestH2Reuse covers what a reuse can meet, with a scripted server.
func TestH2Reuse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(t *testing.T, s *fakeH2)
		want   plan.Outcome
		detail string
		again  plan.Outcome // outcome of a second reuse, when the first is OK
	}{
		{name: "ok", want: plan.OK, detail: "200 OK", again: plan.OK, script: func(t *testing.T, s *fakeH2) {
			for {
				id, ok := s.next(t)
				if !ok {
					return
				}
				s.respond(id)
			}
		}},
		{name: "server-ping-and-settings-first", want: plan.OK, detail: "200 OK", again: plan.OK, script: func(t *testing.T, s *fakeH2) {
			for {
				id, ok := s.next(t)
				if !ok {
					return
				}
				// Ask for a SETTINGS ACK and a PING ACK before answering.
				s.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
				s.fr.WritePing(false, [8]byte{'s', 'e', 'r', 'v', 'e', 'r'})
				s.fr.WritePing(true, [8]byte{'s', 't', 'r', 'a', 'y'})
				gotSettingsAck, gotPingAck := false, false
				for !gotSettingsAck || !gotPingAck {
					f, err := s.fr.ReadFrame()
					if err != nil {
						t.Errorf("server: %v", err)
						return
					}
					switch f := f.(type) {
					case *http2.SettingsFrame:
						gotSettingsAck = gotSettingsAck || f.IsAck()
					case *http2.PingFrame:
						if f.IsAck() && f.Data == [8]byte{'s', 'e', 'r', 'v', 'e', 'r'} {
							gotPingAck = true
						}
					}
				}
				s.respond(id)
			}
		}},
		{name: "goaway-then-response", want: plan.OK, detail: "200 OK; server sent GOAWAY (NO_ERROR): connection not reusable", again: plan.Error,
			script: func(t *testing.T, s *fakeH2) {
				if id, ok := s.next(t); ok {
					s.fr.WriteGoAway(id, http2.ErrCodeNo, nil)
					s.respond(id)
					s.wait()
				}
			}},
		{name: "goaway-refuses", want: plan.ClosedOnReuse, detail: "GOAWAY (NO_ERROR): the server did not take the request",
			script: func(t *testing.T, s *fakeH2) {
				if _, ok := s.next(t); ok {
					s.fr.WriteGoAway(1, http2.ErrCodeNo, nil)
					s.wait()
				}
			}},
		{name: "refused-stream", want: plan.ClosedOnReuse, detail: "the server refused the request (RST_STREAM REFUSED_STREAM)",
			script: func(t *testing.T, s *fakeH2) {
				if id, ok := s.next(t); ok {
					s.fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
					s.wait()
				}
			}},
		{name: "goaway-then-close", want: plan.ClosedOnReuse, detail: "GOAWAY (NO_ERROR), then EOF: connection closed before the answer",
			script: func(t *testing.T, s *fakeH2) {
				if id, ok := s.next(t); ok {
					s.fr.WriteGoAway(id, http2.ErrCodeNo, nil)
				}
			}},
		{name: "close", want: plan.ClosedOnReuse, script: func(t *testing.T, s *fakeH2) { s.next(t) }},
		{name: "reset", want: plan.Reset, detail: "connection reset by peer", script: func(t *testing.T, s *fakeH2) {
			if _, ok := s.next(t); ok {
				resetConn(t, s.c)
			}
		}},
		{name: "stall", want: plan.Slow, detail: "timeout: bytes acknowledged but no answer", script: func(t *testing.T, s *fakeH2) {
			s.next(t)
			s.wait()
		}},
		{name: "garbage", want: plan.Error, script: func(t *testing.T, s *fakeH2) {
			if _, ok := s.next(t); ok {
				s.fr.WriteRawFrame(http2.FramePing, 0, 3, []byte("short"))
				s.wait()
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			srv := startFakeH2(t, func(t *testing.T, s *fakeH2) {
				if s.open(t) {
					tc.script(t, s)
				}
			})
			c := open(t, transport(t, "h2c://"+srv.addr+"/", TransportOptions{Timeout: 500 * time.Millisecond}))
			time.Sleep(20 * time.Millisecond)
			r := reuse(t, c)
			if r.Outcome != tc.want || (tc.detail != "" && r.Detail != tc.detail) || r.Detail == "" {
				t.Fatalf("Reuse = %s (%q), want %s (%q)", r.Outcome, r.Detail, tc.want, tc.detail)
			}
			if tc.want == plan.Slow {
				if d := r.End.Sub(r.Start); !within(d, 450*time.Millisecond, time.Second) {
					t.Errorf("stalled reuse took %s, want about the 500ms timeout", d)
				}
			}
			if tc.again != "" {
				if r := reuse(t, c); r.Outcome != tc.again {
					t.Errorf("second Reuse = %s (%s), want %s", r.Outcome, r.Detail, tc.again)
				}
			}
		})
	}
}

// TestH2IdleEvents: what the server sends while the client is idle.
func TestH2IdleEvents(t *testing.T) {
	const after = 200 * time.Millisecond
	for _, tc := range []struct {
		name   string
		script func(t *testing.T, s *fakeH2)
		closed bool
		detail string
		want   plan.Outcome
	}{
		{name: "goaway-close-later", closed: true, detail: `GOAWAY (NO_ERROR: "idle")`, want: plan.ClosedIdle,
			script: func(t *testing.T, s *fakeH2) {
				s.fr.WriteGoAway(1, http2.ErrCodeNo, []byte("idle"))
				select {
				case <-s.done:
				case <-time.After(500 * time.Millisecond):
				}
			}},
		// The GOAWAY and the FIN may be read together or apart.
		{name: "goaway-and-fin", closed: true, detail: "GOAWAY (NO_ERROR)", want: plan.ClosedIdle,
			script: func(t *testing.T, s *fakeH2) { s.fr.WriteGoAway(1, http2.ErrCodeNo, nil) }},
		{name: "rst", closed: true, detail: "connection reset by peer", want: plan.ClosedIdle,
			script: func(t *testing.T, s *fakeH2) { resetConn(t, s.c) }},
		{name: "ping-and-settings", want: plan.OK, script: func(t *testing.T, s *fakeH2) {
			s.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 15})
			s.fr.WritePing(false, [8]byte{1})
			// Nothing may come back until the reuse; then both ACKs
			// before the client's request.
			s.c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
			f, err := s.fr.ReadFrame()
			if err == nil {
				t.Errorf("server: the client sent %v while idle", f)
				return
			}
			s.c.SetReadDeadline(time.Time{})
			sawAck := 0
			for {
				f, err := s.fr.ReadFrame()
				if err != nil {
					return
				}
				switch f := f.(type) {
				case *http2.SettingsFrame:
					if f.IsAck() {
						sawAck++
					}
				case *http2.PingFrame:
					if f.IsAck() && f.Data == [8]byte{1} {
						sawAck++
					}
				case *http2.MetaHeadersFrame:
					if sawAck != 2 {
						t.Errorf("server: the client's request came after %d of 2 ACKs", sawAck)
					}
					s.respond(f.StreamID)
				}
			}
		}},
		{name: "garbage", want: plan.Error, script: func(t *testing.T, s *fakeH2) {
			s.c.Write([]byte("\x00\x00\x01\x06\x00\x00\x00\x00\x00x")) // PING of length 1
			s.wait()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			sentAt := make(chan time.Time, 1)
			srv := startFakeH2(t, func(t *testing.T, s *fakeH2) {
				if !s.open(t) {
					return
				}
				select {
				case <-s.done:
					return
				case <-time.After(after):
				}
				sentAt <- time.Now()
				tc.script(t, s)
			})
			c := open(t, transport(t, "h2c://"+srv.addr+"/", TransportOptions{Timeout: time.Second}))
			if tc.closed {
				waitClosed(t, c, 3*time.Second)
				at, detail := c.CloseInfo()
				if d := at.Sub(<-sentAt); !within(d, 0, 30*time.Millisecond) {
					t.Errorf("close seen %s after the server acted, want within 30ms", d)
				}
				if detail != tc.detail && detail != tc.detail+", then EOF" {
					t.Errorf("detail %q, want %q", detail, tc.detail)
				}
			} else {
				time.Sleep(after + 300*time.Millisecond)
				select {
				case <-c.Closed():
					t.Fatal("Closed fired")
				default:
				}
			}
			r := reuse(t, c)
			if r.Outcome != tc.want {
				t.Errorf("Reuse = %s (%s), want %s", r.Outcome, r.Detail, tc.want)
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
	srv := startFakeH2(t, func(t *testing.T, s *fakeH2) {
		if s.open(t) {
			s.next(t)
			s.wait()
		}
	})
	c := open(t, transport(t, "h2c://"+srv.addr+"/", TransportOptions{Timeout: 5 * time.Second}))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	r := c.Reuse(ctx)
	if r.Outcome != plan.Error || r.Detail != "canceled" || time.Since(start) > time.Second {
		t.Errorf("Reuse = %s (%s) after %s, want error (canceled) after about 100ms", r.Outcome, r.Detail, time.Since(start))
	}
}
