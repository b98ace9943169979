package prober

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseDBTargets: the database schemes' defaults and refusals. A
// password in the URL is refused without being repeated.
func TestParseDBTargets(t *testing.T) {
	for _, tc := range []struct {
		in, addr, err string
	}{
		{in: "postgres://app@db:5433/orders", addr: "db:5433"},
		{in: "postgres://app@db", addr: "db:5432"},
		{in: "mysql://app@192.0.2.1", addr: "192.0.2.1:3306"},
		{in: "redis://cache", addr: "cache:6379"},
		{in: "rediss://user@cache:6380/2", addr: "cache:6380"},
		{in: "postgres://db/orders", err: "need a user"},
		{in: "mysql://db:3306", err: "need a user"},
		{in: "postgres://app:hunter2@db/orders", err: "password in the URL"},
		{in: "redis://:hunter2@cache", err: "password in the URL"},
		{in: "redis://cache/x", err: "a Redis database is a number"},
		{in: "postgres://app@db/orders?sslmode=verify-full", addr: "db:5432"},
		{in: "postgres://app@db/orders?sslmode=prefer", err: "fall back to plain text"},
		{in: "postgres://app@db/orders?sslmode=on", err: "not one of disable, require, verify-full"},
		{in: "postgres://app@db/orders?connect_timeout=5", err: "the only query parameter is sslmode"},
		{in: "redis://cache?tls=1", err: "no query"},
		{in: "postgres://app@db/a/b", err: "one database name"},
		{in: "postgres://app:hunter2@db:99999999/x", err: "password in the URL"},
		{in: "postgres://app:hunter2@db:port/x", err: "not a URL"},
		{in: "ftp://app:hunter2@db/x", err: "password in the URL"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			tg, err := ParseTarget(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseTarget(%q) error %v, want one containing %q", tc.in, err, tc.err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q repeats the password", err)
				}
				return
			}
			if err != nil || tg.Address != tc.addr {
				t.Fatalf("ParseTarget(%q) = %q, %v; want address %q", tc.in, tg.Address, err, tc.addr)
			}
		})
	}
}

// TestCredentials: where a password comes from, and what is refused;
// errors name the source, never the content.
func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	const env = "IDLEPROBE_TEST_CREDENTIALS"
	os.Setenv(env, "from-env")
	t.Cleanup(func() { os.Unsetenv(env) })
	for _, tc := range []struct {
		name string
		c    Credentials
		want string // the password, or "error: " and a part of the message
	}{
		{"file with newline", Credentials{PasswordFile: write("nl", "pw-one\n")}, "pw-one"},
		{"file with CRLF", Credentials{PasswordFile: write("crlf", "pw-two\r\n")}, "pw-two"},
		{"env", Credentials{PasswordEnv: env}, "from-env"},
		{"none", Credentials{}, "error: no password configured"},
		{"both", Credentials{PasswordFile: write("b", "x"), PasswordEnv: env}, "error: both set"},
		{"missing file", Credentials{PasswordFile: filepath.Join(dir, "none")}, "error: no such file"},
		{"directory", Credentials{PasswordFile: dir}, "error: not a regular file"},
		{"empty file", Credentials{PasswordFile: write("empty", "\n")}, "error: is empty"},
		{"two lines", Credentials{PasswordFile: write("two", "secret-a\nsecret-b\n")}, "error: line break"},
		{"unset env", Credentials{PasswordEnv: env + "_UNSET"}, "error: is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.c.password()
			part, wantErr := strings.CutPrefix(tc.want, "error: ")
			switch {
			case wantErr && (err == nil || !strings.Contains(err.Error(), part)):
				t.Errorf("password() = %q, %v; want an error containing %q", got, err, part)
			case wantErr && strings.Contains(err.Error(), "secret-"):
				t.Errorf("error %q shows the file's content", err)
			case !wantErr && (err != nil || got != tc.want):
				t.Errorf("password() = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
