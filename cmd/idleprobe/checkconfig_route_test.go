package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigRoutes: the paths table shows, per path, the direction
// when the server sends, the proxy (never its credentials), the group and
// the address family, each column only when some path uses it.
func TestCheckConfigRoutes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("proxy.cred", "probe:pr0xy-s3cret\n")
	routes := write("routes.yml", `paths:
  - name: push
    target: tcp://192.0.2.40:9092
    direction: server
  - name: squid
    target: http://198.51.100.5:8080/
    proxy:
      url: http://192.0.2.3:3128
      credentials_file: proxy.cred
      idle_timeout: 15m
  - name: api
    target: http://api.example.internal:8080/
    group: api-backend
    ip_family: both
  - name: plain
    target: tcp://192.0.2.41:6379
  - name: udp
    target: udp://192.0.2.42:9090
`)
	plain := write("plain.yml", "paths:\n  - name: web\n    target: http://192.0.2.1:8080/\n")

	run := func(t *testing.T, file string) []string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := dispatch(context.Background(), []string{"check-config", file}, &stdout, &stderr); code != exitOK {
			t.Fatalf("check-config %s: exit %d, stderr:\n%s", file, code, &stderr)
		}
		if strings.Contains(stdout.String()+stderr.String(), "pr0xy-s3cret") {
			t.Errorf("the proxy's credentials are shown:\n%s%s", &stdout, &stderr)
		}
		return strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")
	}

	t.Run("every column", func(t *testing.T) {
		lines := run(t, routes)
		if len(lines) != 9 { // OK line, header, 6 paths (api is two), max_connections
			t.Fatalf("got %d lines, want 9:\n%s", len(lines), strings.Join(lines, "\n"))
		}
		head := strings.Fields(lines[1])
		wantTail := []string{"CLIENT", "IDLE", "DIRECTION", "PROXY", "GROUP", "FAMILY"}
		if got := head[len(head)-len(wantTail):]; strings.Join(got, " ") != strings.Join(wantTail, " ") {
			t.Errorf("header ends %q, want %q", got, wantTail)
		}
		// The last four cells of each path: direction, proxy, group, family.
		want := map[string][]string{
			"push":     {"server", "-", "-", "-"},
			"squid":    {"-", "http://192.0.2.3:3128", "-", "-"},
			"api-ipv4": {"-", "-", "api-backend", "IPv4"},
			"api-ipv6": {"-", "-", "api-backend", "IPv6"},
			"plain":    {"-", "-", "-", "-"},
			"udp":      {"server", "-", "-", "-"},
		}
		seen := map[string]bool{}
		for _, l := range lines[2:8] {
			f := strings.Fields(l)
			w, ok := want[f[0]]
			if !ok {
				t.Errorf("unexpected row %q", l)
				continue
			}
			seen[f[0]] = true
			if got := f[len(f)-4:]; strings.Join(got, " ") != strings.Join(w, " ") {
				t.Errorf("row %s ends %q, want %q", f[0], got, w)
			}
		}
		if len(seen) != len(want) {
			t.Errorf("rows seen %v, want %d", seen, len(want))
		}
	})

	t.Run("narrow when unused", func(t *testing.T) {
		lines := run(t, plain)
		for _, col := range []string{"DIRECTION", "PROXY", "GROUP", "FAMILY"} {
			if strings.Contains(lines[1], col) {
				t.Errorf("header has %s though no path uses it: %q", col, lines[1])
			}
		}
		if f := strings.Fields(lines[2]); f[len(f)-1] != "-" || f[0] != "web" {
			t.Errorf("row %q: want web ... with client idle '-' last", lines[2])
		}
	})
}
