package prober

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// newTLSConfig builds the one TLS client configuration of an https
// transport. It is never changed afterwards; every connection clones it.
func newTLSConfig(t Target, o TransportOptions) (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         o.ServerName,
		InsecureSkipVerify: o.InsecureSkipVerify, //nolint:gosec // asked for explicitly
		// HTTP/1.1 only: h2 would bring PINGs and its own idle handling.
		NextProtos: []string{"http/1.1"},
	}
	if cfg.ServerName == "" {
		cfg.ServerName = t.URL.Hostname()
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file %s: %w", o.CAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate found (expected -----BEGIN CERTIFICATE----- blocks)", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
