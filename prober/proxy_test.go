package prober

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

func TestParseProxyURL(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "http://127.0.0.1:3128", want: "http://127.0.0.1:3128"},
		{in: "HTTP://proxy.internal:3128/", want: "http://proxy.internal:3128"},
		{in: "socks5://[::1]:1080", want: "socks5://[::1]:1080"},
		{in: "socks4://127.0.0.1:1080", err: `unknown scheme "socks4" (valid: http for an HTTP CONNECT proxy, socks5)`},
		{in: "https://127.0.0.1:3128", err: "unknown scheme"},
		{in: "127.0.0.1:3128", err: "is not a URL"},
		{in: "http://127.0.0.1", err: "needs a port (examples: http://127.0.0.1:3128"},
		{in: "http://user:s3cret@127.0.0.1:3128", err: "credentials in the URL are not accepted"},
		{in: "socks5://user@127.0.0.1:1080", err: "credentials in the URL are not accepted"},
		{in: "http://127.0.0.1:3128/path", err: "only scheme://host:port"},
		{in: "http://u:s3cret@", err: "is not a URL"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			u, err := ParseProxyURL(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseProxyURL(%q) = %v, %v; want error containing %q", tc.in, u, err, tc.err)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error repeats the password: %v", err)
				}
				return
			}
			if err != nil || u.String() != tc.want {
				t.Fatalf("ParseProxyURL(%q) = %v, %v; want %s", tc.in, u, err, tc.want)
			}
		})
	}
}

func TestReadProxyCredentials(t *testing.T) {
	for _, tc := range []struct {
		name, content, err string
		user, password     string
	}{
		{name: "plain", content: "alice:s3cret\n", user: "alice", password: "s3cret"},
		{name: "colon in password", content: "alice:s3:cret", user: "alice", password: "s3:cret"},
		{name: "crlf", content: "alice:s3cret\r\n", user: "alice", password: "s3cret"},
		{name: "empty password", content: "alice:\n", user: "alice"},
		{name: "two lines", content: "alice:s3cret\nmore\n", err: "contains a NUL or a line break"},
		{name: "no colon", content: "alices3cret\n", err: `must hold "user:password"`},
		{name: "no user", content: ":s3cret\n", err: `must hold "user:password"`},
		{name: "empty", content: "", err: "is empty"},
		{name: "too long", content: "alice:" + strings.Repeat("s3cret", 50), err: "at most 255 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := credsFile(t, "")
			if err := os.WriteFile(f, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := readProxyCredentials(f)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), f) {
					t.Fatalf("got %v, want an error naming %s containing %q", err, f, tc.err)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error shows the file's content: %v", err)
				}
				return
			}
			if err != nil || c.user != tc.user || c.password != tc.password {
				t.Fatalf("got %q %q %v, want %q %q", c.user, c.password, err, tc.user, tc.password)
			}
		})
	}
	if err := ReadProxyCredentials("/dev/zero"); err == nil || !strings.Contains(err.Error(), "/dev/zero is not a regular file") {
		t.Errorf("a device: %v", err)
	}
	if err := ReadProxyCredentials("/nonexistent/creds"); err == nil || !strings.Contains(err.Error(), "proxy credentials: password file: stat /nonexistent/creds: no such file or directory") {
		t.Errorf("missing file: %v", err)
	}
}

// TestProxyTunnel: every TCP scheme (tcp, http, https, h2, h2c, ws, wss,
// grpc, grpcs; the databases in real_proxy_test.go) opens and
// reuses its connection through an HTTP CONNECT and a SOCKS5 proxy, with
// and without credentials: the watched socket is the one to the proxy
// (TLS and HTTP/2 run inside the tunnel).
func TestProxyTunnel(t *testing.T) {
	echo := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) { io.Copy(c, c) })
	web := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
		httpAnswer(t, c, func(int, *http.Request) (string, bool) { return okResponse, true })
	})
	const name = "idleprobe.test"
	cert, caFile := selfSigned(t, name)
	tlsAddr, _ := startHTTPS(t, cert, 0)
	h2 := startGoH2(t, &cert, 0, false, 2)
	h2c := startGoH2(t, nil, 0, false, 2)
	tcpOpts := TransportOptions{Send: []byte("ping\n"), Expect: []byte("ping")}
	targets := []struct {
		url string
		o   TransportOptions
	}{
		{"tcp://" + echo.addr, tcpOpts},
		{"http://" + web.addr + "/", TransportOptions{}},
		{"https://" + tlsAddr + "/", TransportOptions{CAFile: caFile, ServerName: name}},
		{"h2://" + h2.addr + "/", TransportOptions{CAFile: caFile, ServerName: name}},
		{"h2c://" + h2c.addr + "/", TransportOptions{}},
		{"ws://" + startGoWS(t, nil, 0).addr + "/", TransportOptions{}},
		{"wss://" + startGoWS(t, &cert, 0).addr + "/", TransportOptions{CAFile: caFile, ServerName: name}},
		{"grpc://" + startGoGRPC(t, nil, false).addr, TransportOptions{}},
		{"grpcs://" + startGoGRPC(t, &cert, false).addr, TransportOptions{CAFile: caFile, ServerName: name}},
	}
	for _, scheme := range []string{"http", "socks5"} {
		for _, creds := range []string{"", "alice:s3:cret"} {
			name := scheme
			if creds != "" {
				name += "-auth"
			}
			t.Run(name, func(t *testing.T) {
				noLeaks(t)
				px := startTestProxy(t, scheme, proxyConfig{creds: creds})
				p := &Proxy{URL: px.url}
				if creds != "" {
					p.CredentialsFile = credsFile(t, creds)
				}
				for _, tg := range targets {
					target, o := tg.url, tg.o
					o.Proxy = p
					c := open(t, transport(t, target, o))
					if got := socketOf(t, c).RemoteAddr().String(); got != px.addr {
						t.Errorf("%s: the watched socket goes to %s, want the proxy %s", target, got, px.addr)
					}
					if r := reuse(t, c); r.Outcome != plan.OK {
						t.Errorf("%s: reuse through the proxy: %s (%s)", target, r.Outcome, r.Detail)
					}
					c.Close()
				}
			})
		}
	}
}

// TestProxyErrors: what goes wrong with a proxy is one line naming the
// proxy, wrapping ErrUnusable, never showing the password.
func TestProxyErrors(t *testing.T) {
	echo := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) { io.Copy(c, c) })
	refused := closedPort(t)
	silent := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) { <-done })
	// hangup reads the request (one write) and closes: a FIN, no reset.
	hangup := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) { c.Read(make([]byte, 4096)) })
	for _, tc := range []struct {
		name   string
		scheme string
		cfg    proxyConfig
		addr   string // instead of a test proxy
		creds  string
		want   string
	}{
		{name: "proxy refused", scheme: "http", addr: refused, want: "connect proxy http://" + refused + ": connection refused"},
		{name: "socks proxy refused", scheme: "socks5", addr: refused, want: "connect proxy socks5://" + refused + ": connection refused"},
		{name: "407 without credentials", scheme: "http", cfg: proxyConfig{creds: "alice:s3cret"}, want: "requires authentication (407 Proxy Authentication Required): give user:password in a credentials file"},
		{name: "407 wrong credentials", scheme: "http", cfg: proxyConfig{creds: "alice:s3cret"}, creds: "alice:wrong", want: "rejected the credentials of its credentials file (407 Proxy Authentication Required)"},
		{name: "403", scheme: "http", cfg: proxyConfig{reply: "HTTP/1.1 403 Forbidden\r\nX-Squid-Error: ERR_ACCESS_DENIED 0\r\n\r\n"}, want: "refused to open a tunnel to " + echo.addr + " (403 Forbidden, ERR_ACCESS_DENIED 0): its access rules deny"},
		{name: "503", scheme: "http", cfg: proxyConfig{reply: "HTTP/1.1 503 Service Unavailable\r\nX-Squid-Error: ERR_CONNECT_FAIL 111\r\n\r\n"}, want: "could not connect to " + echo.addr + " (503 Service Unavailable, ERR_CONNECT_FAIL 111)"},
		{name: "not HTTP", scheme: "http", cfg: proxyConfig{reply: "SSH-2.0-OpenSSH\r\n\r\n"}, want: "does not answer CONNECT like an HTTP proxy"},
		{name: "hangs up", scheme: "http", addr: hangup.addr, want: "closed the connection without answering CONNECT"},
		{name: "silent", scheme: "http", addr: silent.addr, want: "timeout: no answer to the tunnel request for " + echo.addr + " within 400ms"},
		{name: "socks auth required", scheme: "socks5", cfg: proxyConfig{creds: "alice:s3cret"}, want: "requires authentication (it accepts no connection without)"},
		{name: "socks auth failed", scheme: "socks5", cfg: proxyConfig{creds: "alice:s3cret"}, creds: "alice:wrong", want: "rejected the credentials of its credentials file (username/password authentication failed)"},
		{name: "socks no methods", scheme: "socks5", cfg: proxyConfig{noAuthMethods: true}, creds: "alice:s3cret", want: "accepts none of our authentication methods"},
		{name: "socks target refused", scheme: "socks5", cfg: proxyConfig{reply: "5"}, want: "SOCKS5 proxy socks5://%s could not connect to " + echo.addr + " (connection refused)"},
		{name: "socks ruleset", scheme: "socks5", cfg: proxyConfig{reply: "2"}, want: "refused to connect to " + echo.addr + " (connection not allowed by ruleset): its rules deny this target"},
		{name: "socks not socks", scheme: "socks5", cfg: proxyConfig{}, addr: "http", want: "does not speak SOCKS5 (unexpected protocol version 72 in its answer)"},
		{name: "socks hangs up", scheme: "socks5", addr: hangup.addr, want: "closed the connection during the handshake"},
		{name: "socks silent", scheme: "socks5", addr: silent.addr, want: "timeout: no answer to the tunnel request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr
			switch addr {
			case "":
				addr = startTestProxy(t, tc.scheme, tc.cfg).addr
			case "http": // an HTTP server answering a SOCKS5 greeting
				addr = startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
					c.Read(make([]byte, 16))
					io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n")
					<-done
				}).addr
			}
			p := &Proxy{URL: mustURL(t, tc.scheme+"://"+addr)}
			if tc.creds != "" {
				p.CredentialsFile = credsFile(t, tc.creds)
			}
			tr := transport(t, "tcp://"+echo.addr, TransportOptions{Proxy: p, Timeout: 400 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := tr.Open(ctx)
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded, want an error")
			}
			want := strings.ReplaceAll(tc.want, "%s", addr)
			msg := err.Error()
			if !strings.Contains(msg, want) || !errors.Is(err, ErrUnusable) || strings.Contains(msg, "\n") {
				t.Errorf("Open: %q (unusable: %v), want one line containing %q", msg, errors.Is(err, ErrUnusable), want)
			}
			if strings.Contains(msg, "s3cret") || strings.Contains(msg, "wrong") {
				t.Errorf("the error shows a password: %q", msg)
			}
		})
	}
}

// TestProxyMeasure: a measurement through each proxy finds the idle limit
// of a server behind it, and the verdict says the proxy is not the one
// (its configured idle timeout is longer).
func TestProxyMeasure(t *testing.T) {
	const limit = 600 * time.Millisecond
	srv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
		buf := make([]byte, 64)
		for {
			_ = c.SetReadDeadline(time.Now().Add(limit))
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			c.Write(buf[:n])
		}
	})
	for _, scheme := range []string{"http", "socks5"} {
		t.Run(scheme, func(t *testing.T) {
			noLeaks(t)
			px := startTestProxy(t, scheme, proxyConfig{})
			p := &Proxy{URL: px.url, IdleTimeout: 30 * time.Second}
			tg, _ := ParseTarget("tcp://" + srv.addr)
			r, err := Measure(context.Background(), tg, Options{
				Plan:      plan.Settings{Strategy: plan.Parallel, Min: 100 * time.Millisecond, Max: 2 * time.Second, Precision: 0.1, PrecisionFloor: 50 * time.Millisecond, Budget: 8, Confirm: 1},
				Transport: TransportOptions{Proxy: p, Send: []byte("x"), Expect: []byte("x"), Timeout: time.Second},
			})
			if err != nil {
				t.Fatalf("Measure: %v", err)
			}
			if !r.Found || r.Lower >= limit || r.Upper < limit-20*time.Millisecond || r.Upper > limit+200*time.Millisecond {
				t.Errorf("bracket (%s, %s] found=%v, want it to hold %s", r.Lower, r.Upper, r.Found, limit)
			}
			v := JudgeProxy(r, p)
			if v.ClosedBy != ClosedByOther || !strings.Contains(v.Detail, px.url.String()) {
				t.Errorf("verdict %+v, want %s naming the proxy", v, ClosedByOther)
			}
		})
	}
}

func TestJudgeProxy(t *testing.T) {
	px := &Proxy{URL: mustURL(t, "http://127.0.0.1:3128"), IdleTimeout: 3 * time.Second}
	unknown := &Proxy{URL: px.URL}
	found := func(lo, hi time.Duration, mode plan.Outcome) Result {
		return Result{Found: true, Lower: lo, Upper: hi, Mode: mode, Kind: plan.Idle}
	}
	for _, tc := range []struct {
		name   string
		r      Result
		p      *Proxy
		closed string
		want   string
	}{
		{name: "matches", r: found(2700*time.Millisecond, 2790*time.Millisecond, plan.ClosedIdle), p: px, closed: ClosedByProxy, want: "matches the idle timeout 3s of proxy http://127.0.0.1:3128: the proxy ended"},
		{name: "below", r: found(1*time.Second, 1100*time.Millisecond, plan.ClosedOnReuse), p: px, closed: ClosedByOther, want: "below the idle timeout 3s"},
		{name: "below reset", r: found(1*time.Second, 1100*time.Millisecond, plan.Reset), p: px, closed: ClosedByOther, want: "a hop between here and the proxy"},
		{name: "outlived", r: found(10*time.Second, 11*time.Second, plan.ClosedIdle), p: px, closed: ClosedByOther, want: "outlived its idle timeout 3s"},
		{name: "unknown timeout", r: found(time.Second, 1100*time.Millisecond, plan.ClosedOnReuse), p: unknown, closed: ClosedByUnknown, want: "whose idle timeout is unknown"},
		{name: "lifetime", r: Result{Found: true, Lower: 8 * time.Second, Upper: 9 * time.Second, Kind: plan.Lifetime}, p: px, closed: ClosedByUnknown, want: "on connection age, which its idle timeout 3s does not explain"},
		{name: "lifetime at the proxy's timeout", r: Result{Found: true, Lower: 2700 * time.Millisecond, Upper: 2800 * time.Millisecond, Kind: plan.Lifetime}, p: px, closed: ClosedByProxy, want: "the search read it as a limit on connection age"},
		{name: "no limit", r: Result{Lower: 20 * time.Second, Settings: plan.Settings{Max: 20 * time.Second}}, p: px, closed: "", want: "longer than its idle timeout 3s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := JudgeProxy(tc.r, tc.p)
			if v.ClosedBy != tc.closed || !strings.Contains(v.Detail, tc.want) || v.URL != "http://127.0.0.1:3128" {
				t.Errorf("JudgeProxy = %+v, want closed by %q, detail containing %q", v, tc.closed, tc.want)
			}
		})
	}
	if s := (&Proxy{URL: mustURL(t, "http://alice:s3cret@127.0.0.1:3128")}).String(); s != "http://127.0.0.1:3128" {
		t.Errorf("String of a proxy URL with credentials = %q, want them left out", s)
	}
	if JudgeProxy(Result{}, nil) != nil {
		t.Error("JudgeProxy without a proxy is not nil")
	}
}

// TestProxyUDPRefused: a proxy tunnels TCP, so a udp target through one is
// refused when the transport is built, naming the proxy.
func TestProxyUDPRefused(t *testing.T) {
	tg, err := ParseTarget("udp://127.0.0.1:53")
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewTransport(tg, TransportOptions{Proxy: &Proxy{URL: mustURL(t, "socks5://127.0.0.1:1080")}})
	if err == nil || !strings.Contains(err.Error(), "proxy socks5://127.0.0.1:1080: udp targets cannot go through a proxy") {
		t.Errorf("NewTransport(udp via a proxy) = %v, want the refusal", err)
	}
}

// socketOf returns the TCP socket a Conn of this package watches (every
// transport's Conn embeds a *watchedConn).
func socketOf(t *testing.T, c Conn) *net.TCPConn {
	t.Helper()
	switch c := c.(type) {
	case *tcpConn:
		return c.raw
	case *httpConn:
		return c.raw
	case *h2Conn:
		return c.raw
	case *wsConn:
		return c.raw
	case *grpcConn:
		return c.raw
	}
	t.Fatalf("unexpected Conn type %T", c)
	return nil
}

// TestProxyTargetSpeaksFirst: when the target speaks first (MySQL's
// greeting, an SSH banner) its bytes may come in the same segment as the
// proxy's answer; the tunnel reads the answer and not a byte more, so the
// target's protocol starts with its first byte.
func TestProxyTargetSpeaksFirst(t *testing.T) {
	const banner = "SSH-2.0-target-speaks-first\r\n"
	for _, tc := range []struct {
		scheme, reply string
	}{
		{"http", "HTTP/1.1 200 Connection established\r\nVia: 1.1 test\r\n\r\n"},
		{"socks5", "\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50"}, // "succeeded", bound to 127.0.0.1:80
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			noLeaks(t)
			px := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
				c.Read(make([]byte, 512)) // CONNECT, or the SOCKS5 greeting
				if tc.scheme == "socks5" {
					io.WriteString(c, "\x05\x00") // method "none"
					c.Read(make([]byte, 512))     // the SOCKS5 request
				}
				io.WriteString(c, tc.reply+banner) // one write: one segment
				<-done
			})
			tn, err := newTunneler(&Proxy{URL: mustURL(t, tc.scheme+"://"+px.addr)})
			if err != nil {
				t.Fatal(err)
			}
			d := &dialer{address: "192.0.2.1:22", timeout: 2 * time.Second, proxy: tn}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, _, err := d.dial(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got := make([]byte, len(banner))
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != banner {
				t.Errorf("after the tunnel the socket reads %q (%v), want the target's first bytes %q", got, err, banner)
			}
		})
	}
}
