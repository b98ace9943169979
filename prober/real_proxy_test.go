package prober_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/realserver"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Measurements through real forward proxies on loopback: Squid (HTTP
// CONNECT) and Dante (SOCKS5), each with an idle timeout of its own shorter
// than the server's behind it. The bracket must hold the proxy's timeout,
// and JudgeProxy must say the proxy closed.

// proxyTimeout is the proxies' idle timeout; serverIdle the longer one of
// the echo server behind them.
const (
	proxyTimeout = 2 * time.Second
	serverIdle   = 8 * time.Second
)

func proxyOf(t *testing.T, rawURL string, idle time.Duration) *prober.Proxy {
	t.Helper()
	u, err := prober.ParseProxyURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return &prober.Proxy{URL: u, IdleTimeout: idle}
}

// checkProxyClosed measures target through p and checks that the bracket
// holds the proxy's timeout (Squid and Dante close between about T-1 s
// and T+1.6 s, see realserver), that the tunnel was closed while idle, and
// that the verdict names the proxy.
func checkProxyClosed(t *testing.T, target string, p *prober.Proxy) {
	t.Helper()
	tr := prober.TransportOptions{Proxy: p, Send: []byte("x\n"), Expect: []byte("x")}
	if !strings.HasPrefix(target, "tcp:") {
		tr.Send, tr.Expect = nil, nil
	}
	r, _ := measureReal(t, target, realSettings(6*time.Second, 0), tr)
	// Squid and Dante check their timers once a second, so connections
	// whose last exchange fell in the same second close together: the
	// search reads that as a lifetime in about one run of four (as with
	// Redis). The kind is the planner's business; the bracket, the mode and
	// the verdict are checked.
	checkBracket(t, r, limit{proxyTimeout - time.Second, proxyTimeout + 1600*time.Millisecond}, r.Kind, plan.ClosedIdle)
	v := prober.JudgeProxy(r, p)
	t.Logf("verdict: %+v", v)
	if v.ClosedBy != prober.ClosedByProxy || !strings.Contains(v.Detail, p.URL.String()) {
		t.Errorf("verdict %+v, want closed by %q naming %s", v, prober.ClosedByProxy, p.URL)
	}
}

func TestRealSquidProxy(t *testing.T) {
	t.Parallel()
	squid := realserver.StartSquid(t, proxyTimeout)
	p := proxyOf(t, squid.URL, proxyTimeout)
	t.Run("tcp", func(t *testing.T) {
		t.Parallel()
		checkProxyClosed(t, "tcp://"+realserver.StartIdleCloser(t, serverIdle), p)
	})
	t.Run("http", func(t *testing.T) {
		t.Parallel()
		checkProxyClosed(t, "http://"+realserver.StartPythonHTTP(t, serverIdle).Addr+"/", p)
	})
	t.Run("target refused", func(t *testing.T) {
		t.Parallel()
		addr := prober.ClosedPort(t)
		openErr(t, "tcp://"+addr, p, "proxy "+squid.URL+" could not connect to "+addr+" (503 Service Unavailable, ERR_CONNECT_FAIL 111)")
	})
}

// TestRealSquidAuth: a Squid that requires Basic authentication answers
// 407 without credentials (one line), and opens the tunnel with them.
func TestRealSquidAuth(t *testing.T) {
	t.Parallel()
	squid := realserver.StartSquidAuth(t, proxyTimeout)
	echo := "tcp://" + realserver.StartIdleCloser(t, serverIdle)
	p := proxyOf(t, squid.URL, 0)
	openErr(t, echo, p, "proxy "+squid.URL+" requires authentication (407 Proxy Authentication Required, ERR_CACHE_ACCESS_DENIED 0): give user:password in a credentials file")
	p.CredentialsFile = writeCreds(t, "alice:s3:cret")
	reuseThrough(t, echo, p, "Squid with credentials")
}

func TestRealDanteProxy(t *testing.T) {
	t.Parallel()
	dante := realserver.StartDante(t, "none", proxyTimeout)
	p := proxyOf(t, dante.URL, proxyTimeout)
	t.Run("tcp", func(t *testing.T) {
		t.Parallel()
		checkProxyClosed(t, "tcp://"+realserver.StartIdleCloser(t, serverIdle), p)
	})
	t.Run("target refused", func(t *testing.T) {
		t.Parallel()
		addr := prober.ClosedPort(t)
		openErr(t, "tcp://"+addr, p, "SOCKS5 proxy "+dante.URL+" could not connect to "+addr+" (connection refused)")
	})
	t.Run("no credentials", func(t *testing.T) {
		t.Parallel()
		// A second Dante that wants a user: without credentials, one line.
		d := realserver.StartDante(t, "username", proxyTimeout)
		openErr(t, "tcp://"+realserver.StartIdleCloser(t, serverIdle), proxyOf(t, d.URL, 0),
			"SOCKS5 proxy "+d.URL+" requires authentication")
	})
}

// TestRealDanteUsername: Dante's username method checks the system's
// users; the test creates one (and removes it), then connects with its
// password from a credentials file, and is refused with a wrong one.
func TestRealDanteUsername(t *testing.T) {
	u := realserver.AddSystemUser(t)
	d := realserver.StartDante(t, "username", proxyTimeout)
	echo := "tcp://" + realserver.StartIdleCloser(t, serverIdle)
	p := proxyOf(t, d.URL, 0)
	p.CredentialsFile = writeCreds(t, u.Name+":"+u.Password)
	reuseThrough(t, echo, p, "Dante with a user")
	p.CredentialsFile = writeCreds(t, u.Name+":wrong-"+u.Password)
	openErr(t, echo, p, "SOCKS5 proxy "+d.URL+" rejected the credentials of its credentials file (username/password authentication failed)")
}

// reuseThrough opens the echo target through p (via says which proxy,
// how) and fails the test unless the open succeeds and a reuse is OK.
func reuseThrough(t *testing.T, echo string, p *prober.Proxy, via string) {
	t.Helper()
	tr, err := prober.NewTransport(mustTarget(t, echo), prober.TransportOptions{Proxy: p, Send: []byte("x"), Expect: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := tr.Open(ctx)
	if err != nil {
		t.Fatalf("Open through %s: %v", via, err)
	}
	defer c.Close()
	if r := c.Reuse(ctx); r.Outcome != plan.OK {
		t.Errorf("reuse through %s: %s (%s)", via, r.Outcome, r.Detail)
	}
}

func writeCreds(t *testing.T, creds string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(f, []byte(creds+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// openErr opens target through p and wants one line, ErrUnusable,
// containing want and no password.
func openErr(t *testing.T, target string, p *prober.Proxy, want string) {
	t.Helper()
	tr, err := prober.NewTransport(mustTarget(t, target), prober.TransportOptions{Proxy: p, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := tr.Open(ctx)
	if err == nil {
		c.Close()
		t.Fatalf("Open through %s succeeded, want %q", p.URL, want)
	}
	if msg := err.Error(); !strings.Contains(msg, want) || strings.Contains(msg, "\n") || !errors.Is(err, prober.ErrUnusable) {
		t.Errorf("Open: %q, want one line (ErrUnusable) containing %q", msg, want)
	}
	if b, _ := os.ReadFile(p.CredentialsFile); len(b) > 0 {
		if _, pw, _ := strings.Cut(strings.TrimSpace(string(b)), ":"); pw != "" && strings.Contains(err.Error(), pw) {
			t.Errorf("the error shows the password: %q", err)
		}
	}
}

// TestRealProxyRedis: a database protocol (Redis's, the login and PING on
// reuse) runs unchanged through Squid and Dante.
func TestRealProxyRedis(t *testing.T) {
	t.Parallel()
	rd := realserver.StartRedis(t, 0)
	for _, p := range []*prober.Proxy{
		proxyOf(t, realserver.StartSquid(t, 60*time.Second).URL, 0),
		proxyOf(t, realserver.StartDante(t, "none", 60*time.Second).URL, 0),
	} {
		t.Run(p.URL.Scheme, func(t *testing.T) {
			tr, err := prober.NewTransport(mustTarget(t, "redis://"+rd.Addr), prober.TransportOptions{Proxy: p})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := tr.Open(ctx)
			if err != nil {
				t.Fatalf("Open redis through %s: %v", p.URL, err)
			}
			defer c.Close()
			if r := c.Reuse(ctx); r.Outcome != plan.OK {
				t.Errorf("reuse through %s: %s (%s)", p.URL, r.Outcome, r.Detail)
			}
		})
	}
}
