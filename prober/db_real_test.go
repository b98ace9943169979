//go:build linux

package prober_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Helpers of the PostgreSQL, MariaDB and Redis tests: each protocol's test
// starts its real server once and runs its cases as subtests.

// dbTimeout is the trial timeout of the database tests.
const dbTimeout = 2 * time.Second

// passwordFile writes password to a fresh file and returns its name.
func passwordFile(t *testing.T, password string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(f, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// dbOpen opens one connection to rawURL.
func dbOpen(t *testing.T, rawURL string, o prober.TransportOptions) prober.Conn {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = dbTimeout
	}
	tr, err := prober.NewTransport(mustTarget(t, rawURL), o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tr.Open(context.Background())
	if err != nil {
		t.Fatalf("open %s: %v", rawURL, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// checkReuseSilent checks that c sends nothing while idle for idle (no
// byte: no ping, no query; and TCP keepalive off), then that a reuse
// answers with want in its detail.
func checkReuseSilent(t *testing.T, c prober.Conn, idle time.Duration, want string) {
	t.Helper()
	before, keepalive := prober.BytesSent(t, c)
	if keepalive {
		t.Error("SO_KEEPALIVE is on: keepalive probes would refresh the path while idle")
	}
	// The bound checked: nothing sent for this long.
	time.Sleep(idle)
	if after, _ := prober.BytesSent(t, c); after != before {
		t.Errorf("sent %d bytes while idle %s, want 0", after-before, idle)
	}
	r := c.Reuse(context.Background())
	if r.Outcome != plan.OK || !strings.Contains(r.Detail, want) {
		t.Errorf("reuse: %s (%s), want ok with %q", r.Outcome, r.Detail, want)
	}
	if after, _ := prober.BytesSent(t, c); after == before {
		t.Error("no byte counted for the reuse: the silence check cannot see traffic")
	}
}

// checkOpenError opens rawURL, which must fail with one line wrapping
// ErrUnusable that contains every want and never the secret.
func checkOpenError(t *testing.T, rawURL string, o prober.TransportOptions, secret string, want ...string) {
	t.Helper()
	o.Timeout = dbTimeout
	tr, err := prober.NewTransport(mustTarget(t, rawURL), o)
	if err == nil {
		var c prober.Conn
		c, err = tr.Open(context.Background())
		if err == nil {
			c.Close()
			t.Fatalf("open %s succeeded, want an error containing %q", rawURL, want)
		}
		if !errors.Is(err, prober.ErrUnusable) {
			t.Errorf("error %q does not wrap ErrUnusable", err)
		}
	}
	msg := err.Error()
	t.Logf("open %s: %s", rawURL, msg)
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	if secret != "" && strings.Contains(msg, secret) {
		t.Errorf("error %q shows the password", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
}

// checkServerIdleTimeout measures rawURL, whose server closes sessions idle
// for T: the close is seen while idle, the bracket holds [lo, hi], and the
// server's own setting is reported as the server's. goodbye, when set, is
// the server's termination message that a close's detail must quote.
func checkServerIdleTimeout(t *testing.T, rawURL string, o prober.TransportOptions, T time.Duration, l limit, goodbye string) {
	t.Helper()
	r, _ := measureReal(t, rawURL, realSettings(T+3*time.Second, 0), o)
	// The kind is the planner's to tell: with a login before the first
	// idle period, a connection's age and idle time differ only by the
	// login's few milliseconds, and the parallel search reuses few
	// connections twice. The server's own setting and message say idle.
	checkBracket(t, r, l, r.Kind, plan.ClosedIdle)
	if r.Server.KeepAliveTimeout != T {
		t.Errorf("Server.KeepAliveTimeout %s, want the server's own idle timeout %s", r.Server.KeepAliveTimeout, T)
	}
	if goodbye == "" {
		return
	}
	for _, tr := range r.Trials {
		if tr.Outcome == plan.ClosedIdle && strings.Contains(tr.Detail, goodbye) {
			return
		}
	}
	t.Errorf("no closed_idle trial quotes the server's %q", goodbye)
}

// setEnv sets a variable that only this test reads, for the length of the
// test (t.Setenv would forbid t.Parallel).
func setEnv(t *testing.T, name, value string) {
	t.Helper()
	if err := os.Setenv(name, value); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Unsetenv(name) })
}
