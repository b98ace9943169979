package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProxyFlags: --proxy and its companions are checked with the config
// file's rules, each problem one line naming its flag, no password shown;
// a proxy that refuses is one line on stderr and exit 1.
func TestProxyFlags(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(bad, []byte("no-colon-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"credentials in url", []string{"--proxy", "socks5://alice:s3cret@127.0.0.1:1080"}, `idleprobe: --proxy: proxy "socks5://127.0.0.1:1080": credentials in the URL are not accepted`},
		{"bad scheme", []string{"--proxy", "ftp://127.0.0.1:21"}, `idleprobe: --proxy: proxy "ftp://127.0.0.1:21": unknown scheme "ftp"`},
		{"no port", []string{"--proxy", "http://127.0.0.1"}, `idleprobe: --proxy: proxy "http://127.0.0.1" needs a port`},
		{"bad credentials file", []string{"--proxy", "http://127.0.0.1:3128", "--proxy-credentials-file", bad}, `idleprobe: --proxy-credentials-file: proxy credentials file ` + bad + ` must hold "user:password"`},
		{"credentials without proxy", []string{"--proxy-credentials-file", bad}, "idleprobe: --proxy-credentials-file: is set but --proxy is not"},
		{"negative idle timeout", []string{"--proxy", "http://127.0.0.1:3128", "--proxy-idle-timeout=-1s"}, "idleprobe: --proxy-idle-timeout: -1s must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"measure"}, tc.args...), "tcp://127.0.0.1:1")
			code, stdout, stderr := runCmd(t, context.Background(), args...)
			if code != exitUsage || stdout != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing", code, stdout, exitUsage)
			}
			if got := lines(stderr); len(got) != 1 || !strings.HasPrefix(got[0], tc.want) {
				t.Errorf("stderr = %q, want one line starting %q", stderr, tc.want)
			}
			if strings.Contains(stderr, "s3cret") {
				t.Errorf("stderr shows a password: %q", stderr)
			}
		})
	}
	t.Run("proxy refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		code, _, stderr := runCmd(t, context.Background(), "measure", "--proxy", "socks5://"+addr, "tcp://127.0.0.1:1")
		want := "idleprobe: measuring tcp://127.0.0.1:1: unusable: connect proxy socks5://" + addr + ": connection refused"
		if got := lines(stderr); code != 1 || len(got) != 1 || !strings.HasPrefix(got[0], want) {
			t.Errorf("exit %d, stderr %q; want 1 and one line starting %q", code, stderr, want)
		}
	})
}
