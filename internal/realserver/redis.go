package realserver

import (
	"strconv"
	"testing"
	"time"
)

// Redis is a Redis server started by StartRedis.
type Redis struct {
	*Proc
	// Addr is host:port of its listener (127.0.0.1).
	Addr string
}

// StartRedis runs redis-server on a free loopback port with `timeout`
// (closing clients idle that long; 0 never) in whole seconds, no
// persistence, and a fresh working directory.
//
// Redis keeps a client's last interaction in whole seconds (from a clock
// it caches between cron runs) and checks idle clients from its cron: with
// `timeout N` a client whose last exchange fell at second s (fraction f) is
// closed at the first check at or after second s+N+1, so after N+1-f idle,
// plus up to ~0.15 s. Closes spread between about N-0.1 s (when the cached
// clock lagged) and N+1.15 s of idle time (7.0.15, Debian 12): not the
// ~0.1 s spread one might expect from its 10 checks a second.
func StartRedis(t testing.TB, timeout time.Duration) *Redis {
	t.Helper()
	return StartRedisWith(t, RedisOptions{Timeout: timeout})
}

// RedisOptions configure StartRedisWith.
type RedisOptions struct {
	// Timeout is Redis's `timeout` (whole seconds; 0 never).
	Timeout time.Duration
	// Password, when set, is required from every client (requirepass).
	Password string
	// TLSCert and TLSKey, when set, make Redis speak only TLS on its port
	// (tls-port; no client certificates asked).
	TLSCert, TLSKey string
}

// StartRedisWith is StartRedis with a password or TLS.
func StartRedisWith(t testing.TB, o RedisOptions) *Redis {
	t.Helper()
	if o.Timeout < 0 || o.Timeout%time.Second != 0 {
		t.Fatalf("StartRedis: timeout %s must be whole seconds (Redis's timeout is in seconds)", o.Timeout)
	}
	bin := LookProgram(t, "redis-server", "apt-get install -y redis-server")
	dir := t.TempDir()
	r := &Redis{}
	r.Proc, r.Addr = startOnFreePort(t, "redis", func(port int) (*Proc, error) {
		argv := []string{bin,
			"--port", strconv.Itoa(port),
			"--bind", "127.0.0.1",
			"--timeout", strconv.Itoa(int(o.Timeout / time.Second)),
			"--save", "",
			"--appendonly", "no",
			"--dir", dir,
			"--daemonize", "no",
		}
		if o.Password != "" {
			argv = append(argv, "--requirepass", o.Password)
		}
		if o.TLSCert != "" {
			argv = append(argv, "--port", "0", "--tls-port", strconv.Itoa(port),
				"--tls-cert-file", o.TLSCert, "--tls-key-file", o.TLSKey, "--tls-auth-clients", "no")
		}
		return start(t, Command{Name: "redis", Argv: argv, LogDir: dir, Dir: dir})
	})
	return r
}
