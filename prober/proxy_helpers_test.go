package prober

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// testProxy is a small forward proxy in the test (HTTP CONNECT or SOCKS5)
// that relays to real loopback servers. accepted receives the proxy's end
// of each client connection (for the silence check).
type testProxy struct {
	*server
	url      *url.URL
	accepted chan *net.TCPConn
}

// proxyConfig says how a test proxy behaves.
type proxyConfig struct {
	// creds, when set ("user:password"), is required: Proxy-Authorization
	// Basic (CONNECT) or the username/password method (SOCKS5).
	creds string
	// reply, when set, is the CONNECT answer sent instead of opening the
	// tunnel; for SOCKS5, the reply code (a number) sent instead.
	reply string
	// noAuthMethods makes the SOCKS5 proxy accept no method at all.
	noAuthMethods bool
}

func startTestProxy(t *testing.T, scheme string, cfg proxyConfig) *testProxy {
	t.Helper()
	p := &testProxy{accepted: make(chan *net.TCPConn, 64)}
	handle := p.connect
	if scheme == "socks5" {
		handle = p.socks5
	}
	p.server = startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
		select {
		case p.accepted <- c.(*net.TCPConn):
		default:
		}
		handle(t, c, cfg)
	})
	p.url = &url.URL{Scheme: scheme, Host: p.addr}
	return p
}

// relay copies between the client c (with what br buffered) and the
// target until either side ends.
func relay(c net.Conn, br io.Reader, target string) {
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, br); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
}

func (p *testProxy) connect(t *testing.T, c net.Conn, cfg proxyConfig) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.Method != http.MethodConnect {
		t.Errorf("proxy got %s, want CONNECT", req.Method)
		return
	}
	if cfg.creds != "" && req.Header.Get("Proxy-Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte(cfg.creds)) {
		io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if cfg.reply != "" {
		io.WriteString(c, cfg.reply)
		return
	}
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	relay(c, br, req.Host)
}

func (p *testProxy) socks5(t *testing.T, c net.Conn, cfg proxyConfig) {
	var b [262]byte
	if _, err := io.ReadFull(c, b[:2]); err != nil || b[0] != 5 {
		return
	}
	methods := b[2 : 2+int(b[1])]
	if _, err := io.ReadFull(c, methods); err != nil {
		return
	}
	want := byte(0)
	if cfg.creds != "" {
		want = 2
	}
	if cfg.noAuthMethods || !contains(methods, want) {
		c.Write([]byte{5, 0xff})
		return
	}
	c.Write([]byte{5, want})
	if want == 2 {
		if _, err := io.ReadFull(c, b[:2]); err != nil {
			return
		}
		user := make([]byte, b[1])
		io.ReadFull(c, user)
		io.ReadFull(c, b[:1])
		pass := make([]byte, b[0])
		io.ReadFull(c, pass)
		if string(user)+":"+string(pass) != cfg.creds {
			c.Write([]byte{1, 1})
			return
		}
		c.Write([]byte{1, 0})
	}
	if _, err := io.ReadFull(c, b[:4]); err != nil {
		return
	}
	var host string
	switch b[3] {
	case 1:
		io.ReadFull(c, b[:4])
		host = net.IP(b[:4]).String()
	case 3:
		io.ReadFull(c, b[:1])
		name := make([]byte, b[0])
		io.ReadFull(c, name)
		host = string(name)
	default:
		return
	}
	io.ReadFull(c, b[:2])
	target := net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(b[:2]))))
	if cfg.reply != "" {
		code, _ := strconv.Atoi(cfg.reply)
		c.Write([]byte{5, byte(code), 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	c.Write([]byte{5, 0, 0, 1, 127, 0, 0, 1, 0, 0})
	relay(c, c, target)
}

func contains(b []byte, x byte) bool {
	for _, v := range b {
		if v == x {
			return true
		}
	}
	return false
}

// credsFile writes a credentials file for a test proxy.
func credsFile(t *testing.T, creds string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "proxy-credentials")
	if err := os.WriteFile(f, []byte(creds+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
