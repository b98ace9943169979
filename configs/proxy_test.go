package configs

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestProxy: a proxy in defaults applies to every path, a path's own url
// "" turns it off with its other settings, a relative credentials file is
// resolved against the config file's directory, and the measurement gets
// the prober's proxy.
func TestProxy(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "creds"), []byte("alice:s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `defaults:
  proxy:
    url: socks5://192.0.2.9:1080
    credentials_file: creds
    idle_timeout: 2m
paths:
  - name: via-default
    target: tcp://192.0.2.1:6379
  - name: own
    target: http://192.0.2.1/
    proxy:
      url: http://192.0.2.8:3128
  - name: direct
    target: h2c://192.0.2.1/
    proxy:
      url: ""
`
	cfg, warns := mustParse(t, src, filepath.Join(dir, "idleprobe.yml"))
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	for _, tc := range []struct {
		path, url, creds string
		idle             time.Duration
	}{
		{"via-default", "socks5://192.0.2.9:1080", filepath.Join(dir, "creds"), 2 * time.Minute},
		{"own", "http://192.0.2.8:3128", filepath.Join(dir, "creds"), 2 * time.Minute},
		{"direct", "", "", 0},
	} {
		p, _ := cfg.Path(tc.path)
		checkMeasurable(t, p)
		_, opts := p.Measurement()
		px := opts.Transport.Proxy
		switch {
		case tc.url == "" && px != nil:
			t.Errorf("%s: proxy %v, want none", tc.path, px)
		case tc.url == "":
		case px == nil || px.String() != tc.url || px.CredentialsFile != tc.creds || px.IdleTimeout != tc.idle:
			t.Errorf("%s: proxy %+v, want %s with %s and %s", tc.path, px, tc.url, tc.creds, tc.idle)
		}
	}
}
