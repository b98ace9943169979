package lab

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/realserver"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Scenario 11: pooled database connections behind the reset middlebox.
// Real PostgreSQL, MariaDB and Redis in the server namespace hold idle
// sessions far longer than the middlebox's conntrack timeout T; idleprobe
// logs in through the VIP (SCRAM-SHA-256, mysql_native_password, Redis
// AUTH), reuses with SELECT 1 / PING, and must find T with mode reset,
// reporting the server's own (longer) idle limit beside it where the
// server has one.
func TestScenario11DatabasesReset(t *testing.T) {
	Require(t)
	t.Parallel()
	const T = 3 * time.Second
	l := New(t, Options{Timeout: T, Mode: Reset})
	srv := l.ServerAddr.String()
	const secret = "lab-db-s3cret"
	pwFile := filepath.Join(l.Dir, "password")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// PostgreSQL, as the user postgres (setpriv execs it: the PID stays
	// the server's), with no idle_session_timeout.
	cl := realserver.InitPostgres(t, realserver.PostgresOptions{
		Logins: []realserver.PostgresLogin{{Name: "probe", Password: secret, Method: "scram-sha-256"}},
	})
	argv := cl.Argv(srv, 5432)
	if cl.User != "" {
		argv = append([]string{"setpriv", "--reuid", cl.User, "--regid", cl.User, "--clear-groups", "--"}, argv...)
	}
	pg := l.Start(t, l.Server, "postgres", argv...)
	pg.WaitLog(t, realserver.PostgresReady, startTimeout)

	// MariaDB, wait_timeout 10 minutes.
	const waitTimeout = 10 * time.Minute
	md := realserver.InitMariaDB(t, waitTimeout)
	mp := l.Start(t, l.Server, "mariadb", md.Argv(srv, 3306)...)

	// Redis with a password and no timeout.
	rp := l.Start(t, l.Server, "redis", realserver.LookProgram(t, "redis-server", "apt-get install -y redis-server"),
		"--port", "6379", "--bind", srv, "--protected-mode", "no", "--requirepass", secret,
		"--save", "", "--appendonly", "no", "--dir", l.Dir, "--timeout", "0")
	for addr, p := range map[string]*Proc{net.JoinHostPort(srv, "3306"): mp, net.JoinHostPort(srv, "6379"): rp} {
		if err := waitListen(l.Server, addr, startTimeout, p); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name, target, password string
		server                 time.Duration // the server's own idle limit, 0 when none
	}{
		{"postgres", fmt.Sprintf("postgres://probe@%s:5432/postgres", l.VIP), pwFile, 0},
		{"mysql", fmt.Sprintf("mysql://%s@%s:3306/%s", md.User, l.VIP, md.Database), md.PasswordFile, waitTimeout},
		{"redis", fmt.Sprintf("redis://%s:6379", l.VIP), pwFile, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // one lab, independent measurements
			r := l.Measure(t, measureArgs(10*time.Second, []string{"--password-file", tc.password}, tc.target)...)
			checkMiddleboxLimit(t, r, T, plan.Reset)
			if r.Server.KeepAliveTimeout != tc.server {
				t.Errorf("server's idle limit %s, want %s", r.Server.KeepAliveTimeout, tc.server)
			}
			for _, tr := range r.Trials {
				if tr.Outcome == plan.OK && tr.Detail != "SELECT 1 returned 1" && tr.Detail != "+PONG" {
					t.Errorf("trial conn %d: ok with detail %q, want the answer to SELECT 1 or PING", tr.Conn, tr.Detail)
					break
				}
			}
		})
	}
}
