//go:build linux

package prober

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// BytesSent is how many payload bytes the socket under c (a postgres,
// mysql, redis or rediss connection) has sent, from its TCP_INFO, and
// whether SO_KEEPALIVE is on: an idle connection that stays silent sends
// no byte (no ping, no query) and no keepalive probe.
func BytesSent(t *testing.T, c Conn) (sent uint64, keepalive bool) {
	t.Helper()
	var s *session
	switch c := c.(type) {
	case *postgresConn:
		s = c.session
	case *mysqlConn:
		s = c.session
	case *redisConn:
		s = c.session
	default:
		t.Fatalf("SegmentsSent: unexpected Conn type %T", c)
	}
	var (
		info *unix.TCPInfo
		gerr error
	)
	if err := s.rc.Control(func(fd uintptr) {
		info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("TCP_INFO: %v", gerr)
	}
	var ka int
	if err := s.rc.Control(func(fd uintptr) { ka, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("SO_KEEPALIVE: %v", gerr)
	}
	return info.Bytes_sent, ka != 0
}

// SelfSignedFiles writes a self-signed certificate for dnsName, its key
// and the certificate again as a CA bundle, and returns the three files.
func SelfSignedFiles(t *testing.T, dnsName string) (certFile, keyFile, caFile string) {
	t.Helper()
	cert, ca := selfSigned(t, dnsName)
	der, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile = filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca, keyFile, ca
}
