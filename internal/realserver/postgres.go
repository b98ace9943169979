package realserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PostgresOptions configure StartPostgres.
type PostgresOptions struct {
	// AuthenticationTimeout is how long PostgreSQL lets a connection take
	// to log in, counted from when it opened, whatever was sent since: a
	// limit on connection age. Whole seconds, at least 1s; default 5s.
	AuthenticationTimeout time.Duration
	// IdleSessionTimeout, when set, closes sessions idle that long after
	// login (idle_session_timeout: FATAL 57P05, then the close). Whole
	// milliseconds.
	IdleSessionTimeout time.Duration
	// Logins are roles created before the server starts, each with its own
	// pg_hba.conf method for TCP connections; every other role is trusted
	// (the default of initdb --auth=trust).
	Logins []PostgresLogin
	// TLSCert and TLSKey, when set, are PEM files of the server's
	// certificate and key: the server accepts TLS (ssl=on) besides plain
	// connections.
	TLSCert, TLSKey string
}

// PostgresLogin is a role that can log in over TCP.
type PostgresLogin struct {
	// Name and Password of the role (Password empty for trust).
	Name, Password string
	// Method is its pg_hba.conf method: trust, md5 or scram-sha-256. The
	// password is stored hashed for md5 when Method is md5, else with
	// SCRAM-SHA-256.
	Method string
}

// Postgres is a PostgreSQL server started by StartPostgres.
type Postgres struct {
	*Proc
	// Addr is host:port of its TCP listener (127.0.0.1).
	Addr string
	// DataDir is the cluster's data directory; SocketDir holds its unix
	// socket.
	DataDir, SocketDir string
}

const postgresInstall = "apt-get install -y postgresql"

// StartPostgres initialises a cluster in a fresh directory (initdb) and runs
// PostgreSQL on a free loopback port. As root it runs both as the user
// postgres (PostgreSQL refuses to run as root), else as the current user.
func StartPostgres(t testing.TB, o PostgresOptions) *Postgres {
	t.Helper()
	cl := InitPostgres(t, o)
	pg := &Postgres{DataDir: cl.DataDir, SocketDir: cl.SocketDir}
	pg.Proc, pg.Addr = startOnFreePort(t, "postgres", func(port int) (*Proc, error) {
		return start(t, Command{
			Name:       "postgres",
			Argv:       cl.Argv("127.0.0.1", port),
			LogDir:     cl.Dir,
			Env:        cl.Env,
			Credential: cl.Credential,
			// Fast shutdown: SIGTERM would wait for clients to leave.
			StopSignal: syscall.SIGINT,
		})
	})
	// It accepts connections before it lets anyone log in (FATAL 57P03
	// "the database system is starting up").
	pg.WaitLog(t, PostgresReady, startTimeout)
	return pg
}

// PostgresReady is what PostgreSQL logs once it lets clients log in.
const PostgresReady = "database system is ready to accept connections"

// PostgresCluster is a PostgreSQL data directory made by InitPostgres,
// ready to run (StartPostgres runs it on loopback; package lab runs it in a
// network namespace).
type PostgresCluster struct {
	// Bin is the directory of the postgres program.
	Bin string
	// Dir holds DataDir, SocketDir and logs.
	Dir, DataDir, SocketDir string
	// Env is the whole environment to run postgres with.
	Env []string
	// Credential is the user to run it as (nil: the current user).
	Credential *syscall.Credential
	// User names that user ("" for the current one).
	User string

	opts PostgresOptions
}

// InitPostgres initialises a cluster in a fresh directory (initdb, then the
// Logins) for the options o.
func InitPostgres(t testing.TB, o PostgresOptions) *PostgresCluster {
	t.Helper()
	if o.AuthenticationTimeout == 0 {
		o.AuthenticationTimeout = 5 * time.Second
	}
	if o.AuthenticationTimeout < time.Second || o.AuthenticationTimeout%time.Second != 0 {
		t.Fatalf("PostgresOptions.AuthenticationTimeout: %s must be whole seconds, at least 1s", o.AuthenticationTimeout)
	}
	bin := filepath.Dir(LookProgram(t, "postgres", postgresInstall, newestGlob("/usr/lib/postgresql/*/bin/postgres")))
	initdb := filepath.Join(bin, "initdb")
	if !isExecutable(initdb) {
		Missing(t, initdb+" not found beside "+filepath.Join(bin, "postgres"), postgresInstall)
	}
	cred := postgresCredential(t)

	dir := t.TempDir()
	if cred != nil {
		// The user postgres must reach the directory: t.TempDir and its
		// parent are 0700 root. Traverse rights only; the cluster's own
		// directory belongs to postgres.
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
	}
	cl := &PostgresCluster{Bin: bin, Dir: dir, DataDir: filepath.Join(dir, "data"), SocketDir: filepath.Join(dir, "run"),
		Credential: cred, opts: o}
	if cred != nil {
		cl.User = "postgres"
	}
	for _, d := range []string{cl.DataDir, cl.SocketDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if cred != nil {
			if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cl.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "HOME=" + cl.SocketDir}

	// A one-shot initdb, as the server's user; fsync off: a test cluster.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, initdb, "-D", cl.DataDir, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	c.Env = cl.Env
	c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("initdb -D %s: %v\n%s", cl.DataDir, err, out)
	}
	if len(o.Logins) > 0 {
		createLogins(t, bin, cl.DataDir, cl.Env, cred, o.Logins)
	}
	if o.TLSCert != "" {
		// The key must belong to the server's user and be private.
		for src, dst := range map[string]string{o.TLSCert: "server.crt", o.TLSKey: "server.key"} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(cl.DataDir, dst)
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if cred != nil {
				if err := os.Chown(f, int(cred.Uid), int(cred.Gid)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return cl
}

// Argv is the command line that runs the cluster on listen:port (the
// logins' pg_hba.conf lines allow 127.0.0.1 and, when listen is another
// address, any IPv4 client).
func (cl *PostgresCluster) Argv(listen string, port int) []string {
	o := cl.opts
	return []string{filepath.Join(cl.Bin, "postgres"), "-D", cl.DataDir,
		"-c", fmt.Sprintf("idle_session_timeout=%d", o.IdleSessionTimeout.Milliseconds()),
		"-c", "listen_addresses=" + listen,
		"-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=" + cl.SocketDir,
		"-c", fmt.Sprintf("authentication_timeout=%ds", int(o.AuthenticationTimeout/time.Second)),
		// A measurement holds up to its budget of connections.
		"-c", "max_connections=200",
		"-c", "fsync=off",
		"-c", "logging_collector=off",
		"-c", fmt.Sprintf("ssl=%v", o.TLSCert != ""),
	}
}

// postgresCredential is the user to run PostgreSQL as: postgres when this
// process is root, else nil (the current user).
func postgresCredential(t testing.TB) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		Missing(t, "user postgres not found (PostgreSQL refuses to run as root)", postgresInstall)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("user postgres: uid %q gid %q are not numbers", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// createLogins creates the roles in single-user mode (before the server
// listens) and puts their methods first in pg_hba.conf.
func createLogins(t testing.TB, bin, dataDir string, env []string, cred *syscall.Credential, logins []PostgresLogin) {
	t.Helper()
	var sql, hba strings.Builder
	for _, l := range logins {
		enc := "scram-sha-256"
		if l.Method == "md5" {
			enc = "md5"
		}
		fmt.Fprintf(&sql, "SET password_encryption = '%s';\n", enc)
		fmt.Fprintf(&sql, "CREATE ROLE %q LOGIN PASSWORD %s;\n", l.Name, sqlString(l.Password))
		fmt.Fprintf(&hba, "host all %q 0.0.0.0/0 %s\n", l.Name, l.Method)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, filepath.Join(bin, "postgres"), "--single", "-D", dataDir, "postgres")
	c.Env = env
	c.Stdin = strings.NewReader(sql.String())
	c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := c.CombinedOutput(); err != nil || strings.Contains(string(out), "ERROR") {
		t.Fatalf("postgres --single (creating roles): %v\n%s", err, out)
	}
	hbaFile := filepath.Join(dataDir, "pg_hba.conf")
	old, err := os.ReadFile(hbaFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hbaFile, append([]byte(hba.String()), old...), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// WaitLog waits until the process's output contains line, or fails t after
// timeout or when the process exits.
func (p *Proc) WaitLog(t testing.TB, line string, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !strings.Contains(p.Output(), line) {
		select {
		case <-p.Done():
			t.Fatalf("%s exited before logging %q:\n%s", p.Name, line, p.Tail(20))
		case <-deadline.C:
			t.Fatalf("%s did not log %q within %s:\n%s", p.Name, line, timeout, p.Tail(20))
		case <-tick.C:
		}
	}
}
