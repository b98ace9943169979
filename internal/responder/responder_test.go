package responder

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start runs a responder on loopback and shuts it down at the end of the test.
func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// dial opens a connection without TCP keepalive, like the prober does.
func dial(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	d := net.Dialer{KeepAlive: -1, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes one HTTP/1.1 request on c and reads the response.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, method, body string) *http.Response {
	t.Helper()
	req := method + " /any/path?x=1 HTTP/1.1\r\nHost: test\r\n"
	if body != "" {
		req += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
	}
	req += "\r\n" + body
	c.SetDeadline(time.Now().Add(3 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

func TestHTTPHoldsIdleConnection(t *testing.T) {
	s := start(t, Config{HTTPAddr: "127.0.0.1:0"})
	tests := []struct {
		name, method, body string
		idle               time.Duration
		wantBody           string
	}{
		{"get", "GET", "", 0, Body},
		{"post with body after idle", "POST", strings.Repeat("x", 5000), 1200 * time.Millisecond, Body},
		{"head", "HEAD", "", 0, ""},
		{"get after idle", "GET", "", 1200 * time.Millisecond, Body},
	}
	c := dial(t, s.HTTPAddr())
	br := bufio.NewReader(c)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.idle > 0 {
				// The connection must really sit idle past 1s: that the
				// responder holds it is what is tested.
				timer := time.NewTimer(tc.idle)
				<-timer.C
			}
			resp := roundTrip(t, c, br, tc.method, tc.body)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status = %d, want 200", resp.StatusCode)
			}
			if resp.Close {
				t.Errorf("response asks to close the connection")
			}
			if got := resp.Header.Get("Connection"); got != "keep-alive" {
				t.Errorf("Connection header = %q, want keep-alive", got)
			}
			b, _ := io.ReadAll(resp.Body)
			if string(b) != tc.wantBody {
				t.Errorf("body = %q, want %q", b, tc.wantBody)
			}
		})
	}
}

func TestEcho(t *testing.T) {
	s := start(t, Config{TCPAddr: "127.0.0.1:0"})
	c := dial(t, s.TCPAddr())
	for i, idle := range []time.Duration{0, 1100 * time.Millisecond} {
		if idle > 0 {
			// A real idle period past 1s: that the echo survives it is the test.
			timer := time.NewTimer(idle)
			<-timer.C
		}
		msg := []byte("PING " + strconv.Itoa(i) + "\r\n")
		c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("write after %v idle: %v", idle, err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("read echo after %v idle: %v", idle, err)
		}
		if !bytes.Equal(got, msg) {
			t.Errorf("echo = %q, want %q", got, msg)
		}
	}
	// A half-close from the client is passed on: the echo ends with EOF.
	c.(*net.TCPConn).CloseWrite()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Errorf("after half-close: read %q, %v; want EOF", b, err)
	}
}

func TestNoKeepaliveOnAcceptedConns(t *testing.T) {
	s := start(t, Config{TCPAddr: "127.0.0.1:0"})
	c := dial(t, s.TCPAddr())
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	var server []net.Conn
	for sc := range s.conns {
		server = append(server, sc)
	}
	s.mu.Unlock()
	if len(server) != 1 {
		t.Fatalf("responder tracks %d connections, want 1", len(server))
	}
	raw, err := server[0].(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ka int
	var serr error
	raw.Control(func(fd uintptr) { ka, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) })
	if serr != nil {
		t.Fatal(serr)
	}
	if ka != 0 {
		t.Errorf("SO_KEEPALIVE = %d on the accepted connection, want 0", ka)
	}
}

func TestShutdownStopsEverything(t *testing.T) {
	s, err := Start(context.Background(), Config{HTTPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	hc := dial(t, s.HTTPAddr())
	roundTrip(t, hc, bufio.NewReader(hc), "GET", "")
	tc := dial(t, s.TCPAddr())
	if _, err := tc.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	tc.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadFull(tc, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	for name, c := range map[string]net.Conn{"http": hc, "tcp": tc} {
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("%s connection still open after Shutdown (read err %v)", name, err)
		}
	}
	for name, a := range map[string]net.Addr{"http": s.HTTPAddr(), "tcp": s.TCPAddr()} {
		d := net.Dialer{Timeout: time.Second}
		if c, err := d.Dial("tcp", a.String()); err == nil {
			c.Close()
			t.Errorf("%s listener still accepts after Shutdown", name)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestRunStopsOnContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan *Server, 1)
	go func() {
		done <- Run(ctx, Config{HTTPAddr: "127.0.0.1:0"}, time.Second, func(s *Server) { ready <- s })
	}()
	var s *Server
	select {
	case s = <-ready:
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("responder did not start")
	}
	c := dial(t, s.HTTPAddr())
	roundTrip(t, c, bufio.NewReader(c), "GET", "")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no address", Config{}, "no listen address"},
		{"http busy", Config{HTTPAddr: busy.Addr().String()}, "HTTP listen address"},
		{"tcp busy", Config{HTTPAddr: "127.0.0.1:0", TCPAddr: busy.Addr().String()}, "TCP listen address"},
		{"bad address", Config{HTTPAddr: "nonsense"}, "HTTP listen address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Start(context.Background(), tc.cfg)
			if err == nil {
				s.Shutdown(context.Background())
				t.Fatalf("Start succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// h2cRequest sends a GET on stream id and reads the response to its end,
// failing on anything but 200 with Body.
func h2cRequest(t *testing.T, fr *http2.Framer, id uint32) {
	t.Helper()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "test"}, {":path", "/h2"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatalf("write HEADERS: %v", err)
	}
	var body []byte
	status := ""
	for range 20 {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("read response: %v", err)
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				status = f.PseudoValue("status")
			}
			if f.StreamEnded() {
				t.Fatalf("response without body, status %s", status)
			}
		case *http2.DataFrame:
			if f.StreamID == id {
				body = append(body, f.Data()...)
				if f.StreamEnded() {
					if status != "200" || string(body) != Body {
						t.Fatalf("response %s %q, want 200 %q", status, body, Body)
					}
					return
				}
			}
		case *http2.GoAwayFrame:
			t.Fatalf("server sent GOAWAY %s", f.ErrCode)
		}
	}
	t.Fatal("no complete response in 20 frames")
}

// TestH2CHoldsIdleConnection: the HTTP port speaks h2c with prior
// knowledge, sends nothing while the connection idles (no PING, no
// GOAWAY) and still answers a PING and a request afterwards.
func TestH2CHoldsIdleConnection(t *testing.T) {
	s := start(t, Config{HTTPAddr: "127.0.0.1:0"})
	c := dial(t, s.HTTPAddr())
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	// The server's SETTINGS (and probably a WINDOW_UPDATE), and the ACK of ours.
	gotSettings, gotAck := false, false
	for i := 0; i < 10 && !(gotSettings && gotAck); i++ {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok {
			if sf.IsAck() {
				gotAck = true
			} else {
				gotSettings = true
				fr.WriteSettingsAck()
			}
		}
	}
	if !gotSettings || !gotAck {
		t.Fatal("no SETTINGS exchange")
	}
	h2cRequest(t, fr, 1)

	// Idle: the server must send nothing at all.
	c.SetReadDeadline(time.Now().Add(1200 * time.Millisecond))
	if f, err := fr.ReadFrame(); err == nil {
		t.Fatalf("server sent %v while the connection was idle", f)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("idle read ended with %v, want a timeout (the server closed?)", err)
	}

	c.SetDeadline(time.Now().Add(3 * time.Second))
	data := [8]byte{'i', 'd', 'l', 'e', 'p', 'r', 'o', 'b'}
	if err := fr.WritePing(false, data); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("read PING ACK: %v", err)
		}
		if p, ok := f.(*http2.PingFrame); ok && p.IsAck() && p.Data == data {
			break
		}
	}
	h2cRequest(t, fr, 3)
}
