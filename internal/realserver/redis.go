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
	if timeout < 0 || timeout%time.Second != 0 {
		t.Fatalf("StartRedis: timeout %s must be whole seconds (Redis's timeout is in seconds)", timeout)
	}
	bin := LookProgram(t, "redis-server", "apt-get install -y redis-server")
	dir := t.TempDir()
	r := &Redis{}
	r.Proc, r.Addr = startOnFreePort(t, "redis", func(port int) (*Proc, error) {
		return start(t, Command{
			Name: "redis",
			Argv: []string{bin,
				"--port", strconv.Itoa(port),
				"--bind", "127.0.0.1",
				"--timeout", strconv.Itoa(int(timeout / time.Second)),
				"--save", "",
				"--appendonly", "no",
				"--dir", dir,
				"--daemonize", "no",
			},
			LogDir: dir,
			Dir:    dir,
		})
	})
	return r
}
