package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/realserver"
)

// TestMeasureDatabase: measure against a real Redis with a password. A
// login that fails is one line on stderr and exit 1; a password in the URL
// or a password flag the target does not use is a usage error; the
// password never shows. A measurement reports the server's own timeout.
func TestMeasureDatabase(t *testing.T) {
	t.Parallel()
	const secret = "cmd-s3cret"
	rd := realserver.StartRedisWith(t, realserver.RedisOptions{Timeout: time.Second, Password: secret})
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	for f, pw := range map[string]string{good: secret + "\n", bad: "wrong-" + secret} {
		if err := os.WriteFile(f, []byte(pw), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	target := "redis://" + rd.Addr
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"wrong password", []string{"--password-file", bad, target}, 1, "WRONGPASS"},
		{"no password", []string{target}, 1, "NOAUTH"},
		{"password in the URL", []string{"redis://default:" + secret + "@" + rd.Addr}, 2, "password in the URL"},
		{"missing password file", []string{"--password-file", filepath.Join(dir, "none"), target}, 2, "--password-file"},
		{"password flag on http", []string{"--password-file", good, "http://" + rd.Addr + "/"}, 2, "--password-file: only for postgres, mysql, redis and rediss"},
		{"tcp flag on redis", []string{"--password-file", good, "--send", "PING", target}, 2, "--send: only for tcp"},
		{"both password flags", []string{"--password-file", good, "--password-env", "X", target}, 2, "give one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, context.Background(), append([]string{"measure", "--timeout", "1s", "--max", "3s"}, tc.args...)...)
			t.Logf("exit %d: %s", code, stderr)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.want)
			}
			if strings.Contains(stderr, secret) {
				t.Errorf("stderr shows the password: %q", stderr)
			}
			if strings.Contains(stderr, "goroutine ") || len(lines(stderr)) > 2 {
				t.Errorf("stderr is not one clear line: %q", stderr)
			}
		})
	}
	t.Run("measured", func(t *testing.T) {
		code, stdout, stderr := runCmd(t, context.Background(), "measure", "--output", "json", "--min", "250ms", "--max", "3s",
			"--precision-floor", "100ms", "--timeout", "1s", "--password-file", good, target)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, want := range []string{`"status":"measured"`, `"mode":"closed_idle"`, `"keepalive_timeout_seconds":1,`} {
			if !strings.Contains(stdout, want) {
				t.Errorf("JSON result lacks %s:\n%s", want, stdout)
			}
		}
	})
}
