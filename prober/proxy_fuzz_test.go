package prober

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzConnectReply feeds arbitrary bytes to the CONNECT client as the
// proxy's answer. Nothing may panic; reading never consumes a byte past the
// header's end; the answer is either an error or a status from 100 to 999;
// and the tunnel either opens (2xx) or fails with one line naming the
// proxy.
func FuzzConnectReply(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 Connection established\r\n\r\n",
		"HTTP/1.0 200 OK\r\nProxy-Agent: x\r\n\r\nSSH-2.0-target-speaks-first\r\n",
		"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n",
		"HTTP/1.1 403 Forbidden\r\nX-Squid-Error: ERR_ACCESS_DENIED 0\r\n\r\n",
		"HTTP/1.1 503 Service Unavailable\r\n\r\n",
		"HTTP/1.1 200\n\n",
		"HTTP/1.1 99 x\r\n\r\n",
		"HTTP/2 200\r\n\r\n",
		"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
		"\r\n\r\n",
		"",
	} {
		f.Add([]byte(s))
	}
	tn := &tunneler{url: mustURLf("http://127.0.0.1:3128")}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		head, err := readConnectHead(r)
		if err != nil {
			if len(data) < maxConnectReply && !errors.Is(err, errConnectNoAnswer) && !errors.Is(err, errConnectCut) {
				t.Fatalf("readConnectHead: unexpected error %v", err)
			}
			return
		}
		if !bytes.HasPrefix(data, head) || r.Len() != len(data)-len(head) {
			t.Fatalf("readConnectHead consumed %d bytes for a head of %d", len(data)-r.Len(), len(head))
		}
		rep, err := parseConnectReply(head)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("parse error is not one line: %q", err)
			}
			return
		}
		if rep.code < 100 || rep.code > 999 {
			t.Fatalf("status %d out of range", rep.code)
		}
		err = tn.connectStatus(rep, "192.0.2.1:80")
		ok := rep.code >= 200 && rep.code < 300
		if ok != (err == nil) {
			t.Fatalf("status %d: connectStatus = %v", rep.code, err)
		}
		if err != nil && (strings.ContainsAny(err.Error(), "\r\n") || !strings.Contains(err.Error(), "127.0.0.1:3128")) {
			t.Fatalf("message is not one line naming the proxy: %q", err)
		}
	})
}

// FuzzSOCKS5Reply feeds arbitrary bytes to the SOCKS5 handshake (x/net's,
// with and without credentials) as the proxy's answers. Nothing may panic,
// and the handshake either succeeds or fails with one line.
func FuzzSOCKS5Reply(f *testing.F) {
	ok := []byte{5, 0, 5, 0, 0, 1, 127, 0, 0, 1, 0, 80}
	for _, s := range [][]byte{
		ok,
		{5, 2, 1, 0, 5, 0, 0, 1, 127, 0, 0, 1, 0, 80},
		{5, 2, 1, 1},
		{5, 0xff},
		{5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0},
		{5, 0, 5, 0, 0, 3, 4, 'h', 'o', 's', 't', 0, 80},
		{5, 0, 5, 0, 0, 4},
		{5, 0, 5, 0, 0, 9},
		{4, 0},
		{'H', 'T', 'T', 'P'},
		{},
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, auth bool) {
		tn := &tunneler{url: mustURLf("socks5://127.0.0.1:1080")}
		if auth {
			tn.creds = &proxyCredentials{user: "alice", password: "s3cret"}
		}
		c := &scriptConn{r: bytes.NewReader(data)}
		err := tn.socks5(context.Background(), c, "192.0.2.1:80")
		if err == nil {
			return
		}
		var pe *proxyError
		if errors.As(err, &pe) && (strings.ContainsAny(pe.msg, "\r\n") || strings.Contains(pe.msg, "s3cret")) {
			t.Fatalf("message is not one clean line: %q", pe.msg)
		}
	})
}

// scriptConn is a net.Conn whose peer says r and swallows what it is told.
type scriptConn struct {
	net.Conn
	r *bytes.Reader
}

func (c *scriptConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }
func (c *scriptConn) Close() error                     { return nil }

// mustURLf parses a URL known to be valid (fuzz targets have no *testing.T
// at setup).
func mustURLf(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
