package realserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// MariaDB is a MariaDB server started by StartMariaDB.
type MariaDB struct {
	*Proc
	// Addr is host:port of its TCP listener (127.0.0.1).
	Addr string
	// User may log in over TCP with Password (mysql_native_password) and
	// owns the database Database and every database whose name starts
	// with it (so that a missing one is "Unknown database", not "Access
	// denied").
	User, Password, Database string
	// PasswordFile holds Password, for clients that read it from a file.
	PasswordFile string
}

const mariadbInstall = "apt-get install -y mariadb-server"

// StartMariaDB creates a fresh data directory (mariadb-install-db) and runs
// mariadbd on a free loopback port and its own socket, with wait_timeout
// set to waitTimeout (whole seconds, at least 1s): the server closes
// sessions idle that long. A test user with a password and a database are
// created at start (--init-file). As root the server runs as root
// (--user=root), inside the test's temporary directory.
func StartMariaDB(t testing.TB, waitTimeout time.Duration) *MariaDB {
	t.Helper()
	if waitTimeout < time.Second || waitTimeout%time.Second != 0 {
		t.Fatalf("StartMariaDB: wait_timeout %s must be whole seconds, at least 1s", waitTimeout)
	}
	bin := LookProgram(t, "mariadbd", mariadbInstall)
	install := LookProgram(t, "mariadb-install-db", mariadbInstall)
	dir := t.TempDir()
	m := &MariaDB{User: "idleprobe", Password: "idle-pw-" + strconv.Itoa(os.Getpid()), Database: "idleprobe",
		PasswordFile: filepath.Join(dir, "password")}
	if err := os.WriteFile(m.PasswordFile, []byte(m.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, install, "--no-defaults", "--datadir="+data, "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db --datadir=%s: %v\n%s", data, err, out)
	}
	initFile := filepath.Join(dir, "init.sql")
	sql := fmt.Sprintf(`CREATE DATABASE IF NOT EXISTS %s;
CREATE USER IF NOT EXISTS '%s'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('%s');
GRANT ALL ON `+"`%s%%`"+`.* TO '%s'@'127.0.0.1';
`, m.Database, m.User, m.Password, m.Database, m.User)
	if err := os.WriteFile(initFile, []byte(sql), 0o600); err != nil {
		t.Fatal(err)
	}
	m.Proc, m.Addr = startOnFreePort(t, "mariadb", func(port int) (*Proc, error) {
		return start(t, Command{
			Name: "mariadb",
			Argv: []string{bin, "--no-defaults",
				"--datadir=" + data,
				"--user=root",
				"--bind-address=127.0.0.1",
				"--port=" + strconv.Itoa(port),
				"--socket=" + filepath.Join(dir, "mariadb.sock"),
				"--pid-file=" + filepath.Join(dir, "mariadb.pid"),
				"--init-file=" + initFile,
				"--wait-timeout=" + strconv.Itoa(int(waitTimeout/time.Second)),
				"--skip-name-resolve",
				"--skip-log-bin",
				"--max-connections=200",
				"--innodb-buffer-pool-size=16M",
				"--innodb-log-file-size=8M",
			},
			LogDir: dir,
			Dir:    dir,
		})
	})
	return m
}
