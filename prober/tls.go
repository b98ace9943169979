package prober

import (
	"crypto/tls"
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
		pool, err := ReadCAFile(o.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
