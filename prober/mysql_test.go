//go:build linux

package prober_test

import (
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/realserver"
	"github.com/idleprobe/idleprobe/prober"
)

// TestMySQL logs in to a real MariaDB (mysql_native_password), reuses with
// SELECT 1 after a silent idle period, fails clearly on a bad login or an
// unknown database, and measures the server's wait_timeout.
func TestMySQL(t *testing.T) {
	t.Parallel()
	const T = 2 * time.Second
	m := realserver.StartMariaDB(t, T)
	pw := prober.TransportOptions{Credentials: prober.Credentials{PasswordFile: m.PasswordFile}}
	target := "mysql://" + m.User + "@" + m.Addr + "/" + m.Database

	t.Run("login and select", func(t *testing.T) {
		c := dbOpen(t, target, pw)
		if h := c.Hints().KeepAliveTimeout; h != T {
			t.Errorf("hint %s, want the server's wait_timeout %s", h, T)
		}
		checkReuseSilent(t, c, 400*time.Millisecond, "SELECT 1 returned 1")
	})
	t.Run("password env", func(t *testing.T) {
		setEnv(t, "IDLEPROBE_TEST_MYSQL_PASSWORD", m.Password)
		env := prober.TransportOptions{Credentials: prober.Credentials{PasswordEnv: "IDLEPROBE_TEST_MYSQL_PASSWORD"}}
		checkReuseSilent(t, dbOpen(t, "mysql://"+m.User+"@"+m.Addr, env), 100*time.Millisecond, "SELECT 1 returned 1")
	})
	t.Run("wrong password", func(t *testing.T) {
		bad := prober.TransportOptions{Credentials: prober.Credentials{PasswordFile: passwordFile(t, "wrong-"+m.Password)}}
		checkOpenError(t, target, bad, "wrong-"+m.Password, "1045", "Access denied")
	})
	t.Run("unknown database", func(t *testing.T) {
		checkOpenError(t, "mysql://"+m.User+"@"+m.Addr+"/"+m.Database+"_nosuchdb", pw, m.Password, "1049", "Unknown database")
	})
	t.Run("wait_timeout", func(t *testing.T) {
		checkServerIdleTimeout(t, target, pw, T, limit{T - 100*time.Millisecond, T + 300*time.Millisecond}, "")
	})
}
