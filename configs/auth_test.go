package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuth: auth.password_file (relative to the config file) and
// auth.password_env reach the transport options; settings a database path
// does not use are warned about, and auth on a path that does not log in.
func TestAuth(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pg.pw"), []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `paths:
  - name: pg
    target: postgres://probe@192.0.2.20/orders
    auth:
      password_file: pg.pw
    request:
      method: POST
  - name: cache
    target: redis://192.0.2.40
    auth:
      password_env: REDIS_PW
    tls:
      server_name: cache
  - name: web
    target: http://192.0.2.1/
    auth:
      password_env: NOBODY
`
	file := filepath.Join(dir, "c.yml")
	cfg, warns, err := Parse([]byte(src), file)
	if err != nil {
		t.Fatal(err)
	}
	_, o := cfg.Paths[0].Measurement()
	if got, want := o.Transport.Credentials.PasswordFile, filepath.Join(dir, "pg.pw"); got != want {
		t.Errorf("pg password file %q, want %q (relative to the config file)", got, want)
	}
	if _, o := cfg.Paths[1].Measurement(); o.Transport.Credentials.PasswordEnv != "REDIS_PW" {
		t.Errorf("cache password env %q, want REDIS_PW", o.Transport.Credentials.PasswordEnv)
	}
	want := []string{
		"paths[0].request: is ignored for postgres targets (a reuse is SELECT 1)",
		"paths[1].tls: is ignored for redis targets (only https, h2, wss, grpcs, rediss and postgres with sslmode use it)",
		"paths[2].auth: is ignored for http targets (only postgres, mysql, redis and rediss log in)",
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.String())
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || strings.Contains(g, w)
		}
		if !found {
			t.Errorf("no warning %q in %q", w, got)
		}
	}
}
