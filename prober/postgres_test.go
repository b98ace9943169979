//go:build linux

package prober_test

import (
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/realserver"
	"github.com/idleprobe/idleprobe/prober"
)

// TestPostgres logs in to a real PostgreSQL with each authentication
// method, reuses with SELECT 1 after a silent idle period, fails clearly on
// a bad login, and measures the server's idle_session_timeout.
func TestPostgres(t *testing.T) {
	t.Parallel()
	const T = 2 * time.Second
	const secret = "s3cret-Pg'pw"
	pg := realserver.StartPostgres(t, realserver.PostgresOptions{
		IdleSessionTimeout: T,
		Logins: []realserver.PostgresLogin{
			{Name: "scram", Password: secret, Method: "scram-sha-256"},
			{Name: "md5user", Password: secret, Method: "md5"},
			{Name: "clear", Password: secret, Method: "password"},
			{Name: "trusted", Method: "trust"},
		},
	})
	pw := prober.TransportOptions{Credentials: prober.Credentials{PasswordFile: passwordFile(t, secret)}}
	setEnv(t, "IDLEPROBE_TEST_PG_PASSWORD", secret)
	env := prober.TransportOptions{Credentials: prober.Credentials{PasswordEnv: "IDLEPROBE_TEST_PG_PASSWORD"}}
	url := func(user, db string) string { return "postgres://" + user + "@" + pg.Addr + "/" + db }

	for _, tc := range []struct {
		name, user string
		o          prober.TransportOptions
	}{
		{"scram-sha-256 password file", "scram", pw},
		{"scram-sha-256 password env", "scram", env},
		{"md5", "md5user", pw},
		{"cleartext password", "clear", env},
		{"trust", "trusted", prober.TransportOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dbOpen(t, url(tc.user, "postgres"), tc.o)
			if h := c.Hints().KeepAliveTimeout; h != T {
				t.Errorf("hint %s, want the server's idle_session_timeout %s", h, T)
			}
			checkReuseSilent(t, c, 400*time.Millisecond, "SELECT 1 returned 1")
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		bad := prober.TransportOptions{Credentials: prober.Credentials{PasswordFile: passwordFile(t, "wrong-"+secret)}}
		checkOpenError(t, url("scram", "postgres"), bad, "wrong-"+secret, "28P01", "password authentication failed")
		checkOpenError(t, url("md5user", "postgres"), bad, "wrong-"+secret, "28P01")
	})
	t.Run("no password", func(t *testing.T) {
		checkOpenError(t, url("scram", "postgres"), prober.TransportOptions{}, "", "asks for a password", "none is configured")
	})
	t.Run("unknown database", func(t *testing.T) {
		checkOpenError(t, url("scram", "nosuchdb"), pw, secret, "3D000", `"nosuchdb" does not exist`)
	})
	t.Run("unknown role", func(t *testing.T) {
		checkOpenError(t, url("nobody", "postgres"), pw, secret, "28000")
	})
	t.Run("idle_session_timeout", func(t *testing.T) {
		// The server's timer starts when it sends ReadyForQuery, before
		// the client has read it and starts its idle clock: seen from the
		// client the close comes a little early (20 ms on a busy machine).
		// Late by up to 300 ms: the watcher's read returns late when
		// the machine is busy. md5, not SCRAM: 64 logins' PBKDF2 at once would delay the
		// client's reading of ReadyForQuery by hundreds of milliseconds
		// on two busy cores.
		checkServerIdleTimeout(t, url("md5user", "postgres"), pw, T,
			limit{T - 100*time.Millisecond, T + 300*time.Millisecond}, "FATAL 57P05")
	})
}

// TestPostgresTLS logs in over TLS (SSLRequest, then TLS):
// sslmode=verify-full with the test's CA, sslmode=require without it; a
// certificate that does not verify, and a server without TLS, fail in one
// line.
func TestPostgresTLS(t *testing.T) {
	t.Parallel()
	const secret = "tls-Pg-pw"
	cert, key, ca := prober.SelfSignedFiles(t, "pg.idleprobe.test")
	pg := realserver.StartPostgres(t, realserver.PostgresOptions{
		TLSCert: cert, TLSKey: key,
		Logins: []realserver.PostgresLogin{{Name: "scram", Password: secret, Method: "scram-sha-256"}},
	})
	pw := prober.Credentials{PasswordFile: passwordFile(t, secret)}
	url := "postgres://scram@" + pg.Addr + "/postgres?sslmode="
	c := dbOpen(t, url+"verify-full", prober.TransportOptions{Credentials: pw, CAFile: ca, ServerName: "pg.idleprobe.test"})
	checkReuseSilent(t, c, 300*time.Millisecond, "SELECT 1 returned 1")
	checkReuseSilent(t, dbOpen(t, url+"require", prober.TransportOptions{Credentials: pw}), 100*time.Millisecond, "SELECT 1 returned 1")
	checkOpenError(t, url+"verify-full", prober.TransportOptions{Credentials: pw, ServerName: "pg.idleprobe.test"}, secret, "TLS handshake", "certificate")

	plain := realserver.StartPostgres(t, realserver.PostgresOptions{})
	checkOpenError(t, "postgres://postgres@"+plain.Addr+"/postgres?sslmode=require", prober.TransportOptions{}, "", "does not accept TLS")
}
