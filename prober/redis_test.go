//go:build linux

package prober_test

import (
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/realserver"
	"github.com/idleprobe/idleprobe/prober"
)

// TestRedis logs in to a real Redis (AUTH), reuses with PING after a
// silent idle period, fails clearly on a bad login, and measures the
// server's timeout; over TLS (rediss) too.
func TestRedis(t *testing.T) {
	t.Parallel()
	const T = 2 * time.Second
	const secret = "s3cret-redis-pw"
	rd := realserver.StartRedisWith(t, realserver.RedisOptions{Timeout: T, Password: secret})
	pw := prober.TransportOptions{Credentials: prober.Credentials{PasswordFile: passwordFile(t, secret)}}
	target := "redis://" + rd.Addr

	t.Run("auth and ping", func(t *testing.T) {
		c := dbOpen(t, target, pw)
		if h := c.Hints().KeepAliveTimeout; h != T {
			t.Errorf("hint %s, want the server's timeout %s", h, T)
		}
		checkReuseSilent(t, c, 400*time.Millisecond, "+PONG")
	})
	t.Run("user default and database", func(t *testing.T) {
		setEnv(t, "IDLEPROBE_TEST_REDIS_PASSWORD", secret)
		env := prober.TransportOptions{Credentials: prober.Credentials{PasswordEnv: "IDLEPROBE_TEST_REDIS_PASSWORD"}}
		checkReuseSilent(t, dbOpen(t, "redis://default@"+rd.Addr+"/3", env), 100*time.Millisecond, "+PONG")
	})
	t.Run("wrong password", func(t *testing.T) {
		bad := prober.TransportOptions{Credentials: prober.Credentials{PasswordFile: passwordFile(t, "wrong-"+secret)}}
		checkOpenError(t, target, bad, "wrong-"+secret, "AUTH", "WRONGPASS")
	})
	t.Run("unknown database", func(t *testing.T) {
		checkOpenError(t, target+"/99", pw, secret, "SELECT 99", "out of range")
	})
	t.Run("no password", func(t *testing.T) {
		checkOpenError(t, target, prober.TransportOptions{}, "", "NOAUTH", "password file")
	})
	t.Run("timeout", func(t *testing.T) {
		// Redis checks idle clients from its cron, in whole seconds
		// (realserver.StartRedis): closes between T-0.1s and T+1.15s.
		checkServerIdleTimeout(t, target, pw, T, limit{T - 100*time.Millisecond, T + 1200*time.Millisecond}, "")
	})
}

// TestRedisTLS speaks rediss:// to a Redis that only speaks TLS, with the
// test's CA, and measures its timeout through TLS; without the CA the
// handshake fails in one line, and redis:// to its port fails too.
func TestRedisTLS(t *testing.T) {
	t.Parallel()
	const T = 2 * time.Second
	cert, key, ca := prober.SelfSignedFiles(t, "redis.idleprobe.test")
	rd := realserver.StartRedisWith(t, realserver.RedisOptions{Timeout: T, TLSCert: cert, TLSKey: key})
	target := "rediss://" + rd.Addr
	o := prober.TransportOptions{CAFile: ca, ServerName: "redis.idleprobe.test"}
	c := dbOpen(t, target, o)
	if h := c.Hints().KeepAliveTimeout; h != T {
		t.Errorf("hint %s, want the server's timeout %s", h, T)
	}
	checkReuseSilent(t, c, 300*time.Millisecond, "+PONG")
	checkOpenError(t, target, prober.TransportOptions{ServerName: "redis.idleprobe.test"}, "", "TLS handshake", "certificate")
	checkOpenError(t, "redis://"+rd.Addr, prober.TransportOptions{}, "")
	checkServerIdleTimeout(t, target, o, T, limit{T - 100*time.Millisecond, T + 1200*time.Millisecond}, "")
}
