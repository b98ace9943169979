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
	*MariaDBData
	// Addr is host:port of its TCP listener (127.0.0.1).
	Addr string
}

// MariaDBData is a MariaDB data directory made by InitMariaDB, ready to run
// (StartMariaDB runs it on loopback; package lab runs it in a network
// namespace).
type MariaDBData struct {
	// Dir holds the data directory, the socket, the init file and logs.
	Dir string
	// User may log in over TCP from anywhere with Password
	// (mysql_native_password) and owns the database Database and every
	// database whose name starts with it (so that a missing one is "Unknown
	// database", not "Access denied").
	User, Password, Database string
	// PasswordFile holds Password, for clients that read it from a file.
	PasswordFile string

	bin         string
	waitTimeout time.Duration
}

const mariadbInstall = "apt-get install -y mariadb-server"

// StartMariaDB creates a fresh data directory (InitMariaDB) and runs
// mariadbd on a free loopback port and its own socket.
func StartMariaDB(t testing.TB, waitTimeout time.Duration) *MariaDB {
	t.Helper()
	m := &MariaDB{MariaDBData: InitMariaDB(t, waitTimeout)}
	m.Proc, m.Addr = startOnFreePort(t, "mariadb", func(port int) (*Proc, error) {
		return start(t, Command{Name: "mariadb", Argv: m.Argv("127.0.0.1", port), LogDir: m.Dir, Dir: m.Dir})
	})
	return m
}

// InitMariaDB creates a fresh data directory (mariadb-install-db) for a
// server whose wait_timeout is waitTimeout (whole seconds, at least 1s):
// it closes sessions idle that long. A test user with a password and a
// database are created when the server starts (--init-file). The server
// runs as root (--user=root) when this process is root.
func InitMariaDB(t testing.TB, waitTimeout time.Duration) *MariaDBData {
	t.Helper()
	if waitTimeout < time.Second || waitTimeout%time.Second != 0 {
		t.Fatalf("InitMariaDB: wait_timeout %s must be whole seconds, at least 1s", waitTimeout)
	}
	bin := LookProgram(t, "mariadbd", mariadbInstall)
	install := LookProgram(t, "mariadb-install-db", mariadbInstall)
	dir := t.TempDir()
	m := &MariaDBData{Dir: dir, User: "idleprobe", Password: "idle-pw-" + strconv.Itoa(os.Getpid()), Database: "idleprobe",
		PasswordFile: filepath.Join(dir, "password"), bin: bin, waitTimeout: waitTimeout}
	if err := os.WriteFile(m.PasswordFile, []byte(m.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, install, "--no-defaults", "--datadir="+m.dataDir(), "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db --datadir=%s: %v\n%s", m.dataDir(), err, out)
	}
	sql := fmt.Sprintf(`CREATE DATABASE IF NOT EXISTS %s;
CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED VIA mysql_native_password USING PASSWORD('%s');
GRANT ALL ON `+"`%s%%`"+`.* TO '%s'@'%%';
`, m.Database, m.User, m.Password, m.Database, m.User)
	if err := os.WriteFile(m.initFile(), []byte(sql), 0o600); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *MariaDBData) dataDir() string  { return filepath.Join(m.Dir, "data") }
func (m *MariaDBData) initFile() string { return filepath.Join(m.Dir, "init.sql") }

// Argv is the command line that runs the server on listen:port.
func (m *MariaDBData) Argv(listen string, port int) []string {
	return []string{m.bin, "--no-defaults",
		"--datadir=" + m.dataDir(),
		"--user=root",
		"--bind-address=" + listen,
		"--port=" + strconv.Itoa(port),
		"--socket=" + filepath.Join(m.Dir, "mariadb.sock"),
		"--pid-file=" + filepath.Join(m.Dir, "mariadb.pid"),
		"--init-file=" + m.initFile(),
		"--wait-timeout=" + strconv.Itoa(int(m.waitTimeout/time.Second)),
		"--skip-name-resolve",
		"--skip-log-bin",
		"--max-connections=200",
		"--innodb-buffer-pool-size=16M",
		"--innodb-log-file-size=8M",
	}
}
