package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// setup is the shape of one benchmark: how many idle trial connections,
// over which scheme, spread over how many paths.
type setup struct {
	// Conns is the number of idle trial connections to hold; it is also
	// the config's max_connections, so serve never holds more.
	Conns int
	// Scheme is the paths' target scheme: http, h2c or tcp.
	Scheme string
	// Paths is the number of paths (0: one per perPath connections).
	Paths int
	// MinIdle is every path's min_idle: no trial connection is reused
	// before it, so the connections are idle from their opening until
	// MinIdle after the first one opened.
	MinIdle time.Duration
}

// perPath is how many connections one path holds a few seconds into a
// parallel search with the default budget (64) and min_idle of minutes:
// the ladder's first rungs. More paths than Conns/perPath would leave
// paths waiting for a slot under max_connections.
const perPath = 25

// paths is the number of paths the config has.
func (s setup) paths() int {
	if s.Paths > 0 {
		return s.Paths
	}
	return (s.Conns + perPath - 1) / perPath
}

// config renders the serve config: s.paths() paths to the responder, each
// measured at once at start-up (no result yet) and then not before a day,
// with min_idle s.MinIdle, under a global cap of s.Conns connections.
func (s setup) config(httpAddr, tcpAddr string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "max_connections: %d\ndefaults:\n  schedule: \"@every 24h\"\n  jitter: 0s\n  min_idle: %s\n  max_idle: 1h\npaths:\n",
		max(s.Conns, 64), s.MinIdle)
	target := s.Scheme + "://" + httpAddr + "/"
	if s.Scheme == "tcp" {
		target = "tcp://" + tcpAddr
	}
	for i := range s.paths() {
		fmt.Fprintf(&b, "  - name: bench-%05d\n    target: %s\n", i, target)
	}
	return []byte(b.String())
}

// waitConns waits until at least n connections to the server on
// 127.0.0.1:port are established, polling every 100 ms, or until ctx ends.
func waitConns(ctx context.Context, port, n int) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := connected(port)
		if err != nil {
			return err
		}
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d connections established: %w", got, n, context.Cause(ctx))
		case <-tick.C:
		}
	}
}
