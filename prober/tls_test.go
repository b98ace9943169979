package prober

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// selfSigned makes a self-signed certificate for dnsName and writes it as
// PEM to a file in a temporary directory.
func selfSigned(t *testing.T, dnsName string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: dnsName},
		DNSNames:              []string{dnsName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, file
}

// tlsSeen is what the https test server saw of its clients.
type tlsSeen struct {
	mu    sync.Mutex
	sni   []string
	proto []string
}

// startHTTPS runs an https server (Go's, with h2 offered) with cert.
func startHTTPS(t *testing.T, cert tls.Certificate, idle time.Duration) (string, *tlsSeen) {
	t.Helper()
	seen := &tlsSeen{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen.mu.Lock()
			seen.sni = append(seen.sni, r.TLS.ServerName)
			seen.proto = append(seen.proto, r.Proto+"/"+r.TLS.NegotiatedProtocol)
			seen.mu.Unlock()
			io.WriteString(w, "hello over tls")
		}),
		TLSConfig:   &tls.Config{Certificates: []tls.Certificate{cert}},
		IdleTimeout: idle,
		ErrorLog:    nil,
	}
	hs.ErrorLog = newDiscardLogger()
	go hs.ServeTLS(ln, "", "")
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String(), seen
}

// TestHTTPS covers TLS settings and handshake failures.
func TestHTTPS(t *testing.T) {
	const name = "idleprobe.test"
	cert, caFile := selfSigned(t, name)
	addr, seen := startHTTPS(t, cert, 0)
	plainSrv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
		// A plain HTTP server answering a TLS ClientHello.
		buf := make([]byte, 512)
		if _, err := c.Read(buf); err == nil {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
		}
	})
	for _, tc := range []struct {
		name    string
		addr    string
		opts    TransportOptions
		wantErr string // empty: must work
		wantSNI string
	}{
		{name: "insecure", opts: TransportOptions{InsecureSkipVerify: true}},
		{name: "ca-file-and-server-name", opts: TransportOptions{CAFile: caFile, ServerName: name}, wantSNI: name},
		{name: "ca-file-ip-mismatch", opts: TransportOptions{CAFile: caFile}, wantErr: "TLS handshake with"},
		{name: "untrusted", opts: TransportOptions{ServerName: name}, wantErr: "certificate signed by unknown authority"},
		{name: "wrong-sni", opts: TransportOptions{CAFile: caFile, ServerName: "other.test"}, wantErr: "not other.test"},
		{name: "not-tls", addr: plainSrv.addr, opts: TransportOptions{InsecureSkipVerify: true}, wantErr: "TLS handshake with"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			a := addr
			if tc.addr != "" {
				a = tc.addr
			}
			tc.opts.Timeout = 2 * time.Second
			tr := transport(t, "https://"+a+"/", tc.opts)
			if tc.wantErr != "" {
				openUnusableClean(t, tr, tc.wantErr)
				return
			}
			c, err := tr.Open(context.Background())
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer c.Close()
			// Reuse a few times after short idle periods: TLS 1.3 session
			// tickets and anything else read by the watcher are replayed.
			for i := range 3 {
				time.Sleep(50 * time.Millisecond) // a real idle period, as in a trial; nothing is awaited
				if r := reuse(t, c); r.Outcome != plan.OK || r.Detail != "200 OK" {
					t.Fatalf("reuse %d: %s (%s)", i+1, r.Outcome, r.Detail)
				}
			}
			seen.mu.Lock()
			defer seen.mu.Unlock()
			for _, p := range seen.proto {
				if p != "HTTP/1.1/http/1.1" {
					t.Errorf("server saw protocol %q, want HTTP/1.1 negotiated by ALPN", p)
				}
			}
			if tc.wantSNI != "" && (len(seen.sni) == 0 || seen.sni[len(seen.sni)-1] != tc.wantSNI) {
				t.Errorf("server saw SNI %q, want %q", seen.sni, tc.wantSNI)
			}
			seen.sni, seen.proto = nil, nil
		})
	}
}

// TestHTTPSClosedIdle: a TLS server's idle close (close_notify then FIN)
// is seen by the raw pending read at the moment it happens.
func TestHTTPSClosedIdle(t *testing.T) {
	noLeaks(t)
	const after = 300 * time.Millisecond
	cert, _ := selfSigned(t, "idleprobe.test")
	addr, _ := startHTTPS(t, cert, after)
	c := open(t, transport(t, "https://"+addr+"/", TransportOptions{InsecureSkipVerify: true}))
	waitClosed(t, c, 3*time.Second)
	at, detail := c.CloseInfo()
	if age := at.Sub(c.IdleSince()); !within(age, after-10*time.Millisecond, after+60*time.Millisecond) {
		t.Errorf("close age %s, want about %s", age, after)
	}
	if detail != "EOF" {
		t.Errorf("detail %q, want EOF", detail)
	}
	if r := reuse(t, c); r.Outcome != plan.ClosedIdle {
		t.Errorf("Reuse = %s (%s), want closed_idle", r.Outcome, r.Detail)
	}
}

// TestTLSConfigErrors: a bad CA file is named in one line.
func TestTLSConfigErrors(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "notpem.txt")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tg, err := ParseTarget("https://127.0.0.1:1/")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{notPEM, filepath.Join(t.TempDir(), "missing.pem")} {
		_, err := NewTransport(tg, TransportOptions{CAFile: file})
		if err == nil || !strings.Contains(err.Error(), "CA file "+file) || strings.Contains(err.Error(), "\n") {
			t.Errorf("CAFile %s: error %v, want one line naming the file", file, err)
		}
	}
}
