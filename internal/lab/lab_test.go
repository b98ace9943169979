package lab

// Tests of the lab itself. They need no idleprobe code: the test process
// dials from inside the client namespace and times the idle periods itself,
// which shows the lab behaves as LAB.md says before any measurement is
// trusted to it.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := Main(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines left behind: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// echo writes a line on c and expects it back within timeout.
func echo(c net.Conn, br *bufio.Reader, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	line, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if line != "ping\n" {
		return fmt.Errorf("echo answered %q, want %q", line, "ping\n")
	}
	return nil
}

// idleConn is a connection with one exchange done, idle since idleSince.
type idleConn struct {
	c         *net.TCPConn
	br        *bufio.Reader
	idleSince time.Time
}

func openIdle(t *testing.T, l *Lab, addr string) idleConn {
	t.Helper()
	c := l.Dial(t, l.Client, addr)
	br := bufio.NewReader(c)
	if err := echo(c, br, 2*time.Second); err != nil {
		t.Fatalf("first exchange with %s: %v", addr, err)
	}
	return idleConn{c: c, br: br, idleSince: time.Now()}
}

// sleepUntil waits until deadline (bounded by the test's own timeouts). It
// lets a connection reach an idle age: the kernel's real conntrack timer is
// what the lab tests measure, so this is no wait for a condition.
func sleepUntil(deadline time.Time) { time.Sleep(time.Until(deadline)) }

// TestLabMiddleboxModes checks the lb against LAB.md for each mode: with T
// whole seconds, an idle of T-250ms always survives; an idle of T+250ms is
// answered by a reset, vanishes, or survives, per mode; and connections to
// the server's own address (no timeout policy) survive in every mode.
func TestLabMiddleboxModes(t *testing.T) {
	Require(t)
	t.Parallel()
	const T = 2 * time.Second
	// Expiry happens between T-4ms and T after the flow's last packet
	// (LAB.md); the last packet may be our delayed ACK, up to ~40 ms after
	// the exchange. 250 ms on each side is far outside both.
	const margin = 250 * time.Millisecond
	for _, tc := range []struct {
		mode Mode
		want string // what the reuse after T+margin meets: ok, reset, dropped
	}{
		{None, "ok"},
		{Reset, "reset"},
		{Drop, "dropped"},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			t.Parallel()
			l := New(t, Options{Timeout: T, Mode: tc.mode})
			l.StartEcho(t, l.Server, 7)
			vip := net.JoinHostPort(l.VIP.String(), "7")
			direct := net.JoinHostPort(l.ServerAddr.String(), "7")

			short := openIdle(t, l, vip)
			long := openIdle(t, l, vip)
			longDirect := openIdle(t, l, direct)

			sleepUntil(short.idleSince.Add(T - margin))
			idle := time.Since(short.idleSince)
			if idle >= T {
				// Overslept: the check below would not test an idle below T.
				t.Fatalf("VIP connection reused after %s idle, want about %s (< T=%s): the machine is too slow for this check", idle, T-margin, T)
			}
			if err := echo(short.c, short.br, time.Second); err != nil {
				t.Errorf("VIP connection idle %s (< T=%s) did not survive: %v", idle.Round(time.Millisecond), T, err)
			}

			sleepUntil(long.idleSince.Add(T + margin))
			start := time.Now()
			err := echo(long.c, long.br, 1500*time.Millisecond)
			took := time.Since(start)
			var got string
			switch {
			case err == nil:
				got = "ok"
			case errors.Is(err, syscall.ECONNRESET):
				got = "reset"
			case errors.Is(err, os.ErrDeadlineExceeded):
				got = "dropped"
			default:
				got = err.Error()
			}
			t.Logf("VIP connection idle %s (> T=%s), mode %v: %s after %s (err %v)", T+margin, T, tc.mode, got, took, err)
			if got != tc.want {
				t.Errorf("VIP connection idle %s (> T=%s) in mode %v: got %s, want %s", T+margin, T, tc.mode, got, tc.want)
			}
			if tc.want == "reset" && took > 100*time.Millisecond {
				// LAB.md: ECONNRESET ~0.1 ms after the write.
				t.Errorf("reset took %s, want well under 100ms", took)
			}
			if tc.want == "dropped" {
				// Free the black-holed socket now rather than let the
				// kernel retransmit into the void until teardown.
				_ = long.c.SetLinger(0)
			}

			sleepUntil(longDirect.idleSince.Add(T + margin))
			if err := echo(longDirect.c, longDirect.br, time.Second); err != nil {
				t.Errorf("direct connection to %s idle %s did not survive (the timeout policy must apply to the VIP only): %v", direct, T+margin, err)
			}
		})
	}
}

// TestLabServersCloseIdle checks that nginx keepalive_timeout and HAProxy
// timeout http-keep-alive close an idle connection at K (LAB.md: to within
// ~2 ms), both directly and through the VIP with a longer middlebox timeout.
func TestLabServersCloseIdle(t *testing.T) {
	Require(t)
	t.Parallel()
	const K = 2 * time.Second
	l := New(t, Options{Timeout: 5 * time.Second, Mode: Reset})
	l.StartNginx(t, l.Server, NginxKeepaliveServer(":80", K), ":80")
	l.StartHAProxy(t, l.Server, HAProxyKeepaliveServer(":8080", K), ":8080")
	for _, tc := range []struct {
		name string
		addr string
	}{
		{"nginx/direct", net.JoinHostPort(l.ServerAddr.String(), "80")},
		{"nginx/via-vip", net.JoinHostPort(l.VIP.String(), "80")},
		{"haproxy/direct", net.JoinHostPort(l.ServerAddr.String(), "8080")},
		{"haproxy/via-vip", net.JoinHostPort(l.VIP.String(), "8080")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := l.Dial(t, l.Client, tc.addr)
			br := bufio.NewReader(c)
			status, body, err := Exchange(c, br, "GET", tc.addr, "/", "", 2*time.Second)
			if err != nil || status != 200 {
				t.Fatalf("GET %s: status %d body %q err %v", tc.addr, status, body, err)
			}
			idleSince := time.Now()
			if err := c.SetReadDeadline(idleSince.Add(K + 2*time.Second)); err != nil {
				t.Fatal(err)
			}
			n, err := br.Read(make([]byte, 1))
			closedAfter := time.Since(idleSince)
			if n != 0 || !errors.Is(err, io.EOF) {
				t.Fatalf("pending read on idle connection: n=%d err=%v, want EOF (a FIN at K=%s)", n, err, K)
			}
			t.Logf("%s: FIN after %s idle (K=%s)", tc.name, closedAfter, K)
			if d := closedAfter - K; d < -5*time.Millisecond || d > 50*time.Millisecond {
				t.Errorf("%s closed the idle connection after %s, want K=%s within [-5ms, +50ms]", tc.name, closedAfter, K)
			}
		})
	}
}

// TestLabIncidentWithoutIdleprobe reproduces the incident with the lab alone
// (see TestIncident for the full story with idleprobe): a pooled upstream
// connection idle longer than T makes a POST fail with 502, and an upstream
// keepalive_timeout below T makes it succeed.
func TestLabIncidentWithoutIdleprobe(t *testing.T) {
	Require(t)
	t.Parallel()
	const T = 2 * time.Second
	l := New(t, Options{Timeout: T, Mode: Reset})
	startBackend(t, l)
	proxy := startProxy(t, l, 0)

	status := postAfterIdle(t, proxy, T+time.Second)
	if status != 502 {
		t.Errorf("POST after %s idle (T=%s) through the pooled upstream: status %d, want 502", T+time.Second, T, status)
	}
	if log := readFile(t, proxy.ErrorLog); !strings.Contains(log, "Connection reset by peer") {
		t.Errorf("nginx error log lacks \"Connection reset by peer\":\n%s", log)
	}

	proxy.Restart(t, proxyConf(l, T-time.Second))
	if status := postAfterIdle(t, proxy, T+time.Second); status != 200 {
		t.Errorf("with upstream keepalive_timeout %s < T=%s, POST after %s idle: status %d, want 200", T-time.Second, T, T+time.Second, status)
	}
}

// TestLabLeavesNothingBehind builds a lab with servers in it, lets the
// subtest end (failing or not, cleanup is the same), and checks that its
// namespaces, processes and slot are gone.
func TestLabLeavesNothingBehind(t *testing.T) {
	Require(t)
	var (
		names []string
		pids  []int
		slot  int
	)
	t.Run("lab", func(t *testing.T) {
		l := New(t, Options{Timeout: 2 * time.Second, Mode: Drop})
		names, slot = l.Namespaces(), l.slot
		pids = append(pids, l.StartEcho(t, l.Server, 7).Pid())
		pids = append(pids, l.StartNginx(t, l.Server, NginxKeepaliveServer(":80", time.Second), ":80").Pid())
		pids = append(pids, l.Start(t, l.Client, "sleeper", "sleep", "600").Pid())
		for _, ns := range names {
			if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
				t.Fatalf("namespace %s missing while the lab is up: %v", ns, err)
			}
		}
	})
	for _, ns := range names {
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s still exists after the lab was torn down (stat: %v)", ns, err)
		}
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still exists after the lab was torn down (kill -0: %v)", pid, err)
		}
	}
	if owned, err := slotOwned(slot); err != nil || owned {
		t.Errorf("slot %d still held after teardown (owned=%v, err=%v)", slot, owned, err)
	}
	left, err := Leftovers()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range left {
		t.Errorf("namespace %s left behind by some lab", ns)
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"fractional timeout", Options{Timeout: 1500 * time.Millisecond, Mode: Reset}},
		{"negative timeout", Options{Timeout: -time.Second, Mode: Reset}},
		{"mode without timeout", Options{Mode: Drop}},
		{"unknown mode", Options{Timeout: time.Second, Mode: Mode(7)}},
		{"three backends", Options{Backends: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			Require(t)
			ft := &fatalRecorder{TB: t}
			func() {
				defer func() { _ = recover() }()
				New(ft, tc.opts)
			}()
			if ft.msg == "" || !strings.Contains(ft.msg, "lab.Options") {
				t.Errorf("New(%+v) accepted bad options (fatal message %q)", tc.opts, ft.msg)
			}
		})
	}
}

// fatalRecorder captures a Fatalf instead of ending the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f.msg)
}

func TestListening(t *testing.T) {
	out := "LISTEN 0 511 0.0.0.0:80 0.0.0.0:*\nLISTEN 0 5 127.0.0.1:8080 0.0.0.0:*\nLISTEN 0 5 [::]:9000 [::]:*\n"
	for _, tc := range []struct {
		host, port string
		want       bool
	}{
		{"", "80", true},
		{"198.51.100.2", "80", true},
		{"127.0.0.1", "8080", true},
		{"", "8080", true},
		{"198.51.100.2", "8080", false},
		{"", "9000", true},
		{"", "81", false},
	} {
		t.Run(tc.host+":"+tc.port, func(t *testing.T) {
			if got := listening(out, tc.host, tc.port); got != tc.want {
				t.Errorf("listening(%s:%s) = %v, want %v", tc.host, tc.port, got, tc.want)
			}
		})
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRuleset(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      Options
		want, not []string
	}{
		{"reset", Options{Timeout: 3 * time.Second, Mode: Reset},
			[]string{"established: 3 }", `ct state new ct timeout set "idle"`, "dnat to 198.51.100.2"},
			[]string{"invalid"}},
		{"drop", Options{Timeout: 2 * time.Second, Mode: Drop},
			[]string{"established: 2 }", "ip daddr 203.0.113.1 ct state invalid drop"},
			nil},
		{"none", Options{Timeout: 2 * time.Second, Mode: None},
			[]string{"established: 2 }"},
			[]string{"invalid"}},
		{"no timeout", Options{},
			[]string{"dnat to 198.51.100.2"},
			[]string{"ct timeout", "invalid", "numgen"}},
		{"two backends", Options{Backends: 2},
			[]string{"dnat to numgen inc mod 2 map { 0 : 198.51.100.2, 1 : 203.0.113.129 }"},
			[]string{"ct timeout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &Lab{VIP: netip.MustParseAddr("203.0.113.1"), ServerAddr: netip.MustParseAddr("198.51.100.2"), Options: tc.opts}
			if tc.opts.Backends == 2 {
				l.ServerAddr2 = netip.MustParseAddr("203.0.113.129")
			}
			rs := l.ruleset()
			for _, w := range tc.want {
				if !strings.Contains(rs, w) {
					t.Errorf("ruleset lacks %q:\n%s", w, rs)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(rs, n) {
					t.Errorf("ruleset has %q:\n%s", n, rs)
				}
			}
		})
	}
}

func TestMeasureTimeout(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{[]string{"--max", "10s", "http://x/"}, 60 * time.Second},
		{[]string{"--max=6s", "http://x/"}, 44 * time.Second},
		{[]string{"-max", "1m", "http://x/"}, 260 * time.Second},
		{[]string{"http://x/"}, 3 * time.Minute},
		{[]string{"--max", "bogus", "http://x/"}, 3 * time.Minute},
		{[]string{"--max"}, 3 * time.Minute},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if got := measureTimeout(tc.args); got != tc.want {
				t.Errorf("measureTimeout(%q) = %s, want %s", tc.args, got, tc.want)
			}
		})
	}
}
