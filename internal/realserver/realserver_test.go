package realserver_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/realserver"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// These tests check that each server behaves as its start helper says,
// so that the measurements in package prober test the prober, not the
// helpers. Each holds one connection idle and times the server's close.

// dial opens a connection with TCP keepalive off.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: -1}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedAfter waits (at most limit) for the peer to end c and returns how
// long after since that was seen.
func closedAfter(t *testing.T, c net.Conn, since time.Time, limit time.Duration) time.Duration {
	t.Helper()
	if err := c.SetReadDeadline(since.Add(limit)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, syscall.ECONNRESET) {
		err = nil
	}
	if err != nil {
		t.Fatalf("connection not closed by the server within %s: %v", limit, err)
	}
	return time.Since(since)
}

// exchange sends a GET on c and returns the response (body read).
func exchange(t *testing.T, c net.Conn, br *bufio.Reader) *http.Response {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %s, want 200", resp.Status)
	}
	return resp
}

// assertStopped checks that p and its whole process group are gone.
func assertStopped(t *testing.T, p *realserver.Proc) {
	t.Helper()
	if exited, _ := p.Exited(); !exited {
		t.Errorf("%s (pid %d) still running after Stop", p.Name, p.Pid())
	}
	if err := syscall.Kill(-p.Pid(), 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d of %s still has members after Stop (kill 0: %v)", p.Pid(), p.Name, err)
	}
}

func TestPostgresEndsUnauthenticatedConnectionsAtTheirAge(t *testing.T) {
	t.Parallel()
	const T = 2 * time.Second
	pg := realserver.StartPostgres(t, realserver.PostgresOptions{AuthenticationTimeout: T})
	c := dial(t, pg.Addr)
	opened := time.Now()
	// Half a startup packet, sent late: the timeout still counts from the
	// connection's start, not from the last bytes.
	time.Sleep(T / 2) // the write's lateness is the case, not a wait for a condition
	if _, err := c.Write([]byte("\x00\x00\x27\x10")); err != nil {
		t.Fatal(err)
	}
	if late := time.Since(opened); late >= T {
		// Overslept: the write did not come before the timeout, so the
		// check below would not test that it does not restart it.
		t.Fatalf("the late write came %s after the connection opened, want about %s (< %s): the machine is too slow for this check", late, T/2, T)
	}
	got := closedAfter(t, c, opened, 3*T)
	if got < T || got > T+500*time.Millisecond {
		t.Errorf("closed %s after the connection opened, want authentication_timeout %s (+500ms)", got, T)
	}
	pg.Stop(t)
	assertStopped(t, pg.Proc)
	if c, err := net.DialTimeout("tcp", pg.Addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Stop", pg.Addr)
	}
}

func TestRedisClosesIdleClients(t *testing.T) {
	t.Parallel()
	const T = time.Second
	r := realserver.StartRedis(t, T)
	c := dial(t, r.Addr)
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "+PONG\r\n" {
		t.Fatalf("PING answered %q (%v), want +PONG", line, err)
	}
	idle := time.Now()
	// Whole-second bookkeeping: between about T-0.1s and T+1.15s (StartRedis).
	lo, hi := T-100*time.Millisecond, 2*T+300*time.Millisecond
	if got := closedAfter(t, c, idle, 3*T); got < lo || got > hi {
		t.Errorf("closed after %s idle, want within [%s, %s]", got, lo, hi)
	}
}

func TestPythonHTTPClosesIdleConnections(t *testing.T) {
	t.Parallel()
	const T = 700 * time.Millisecond
	p := realserver.StartPythonHTTP(t, T)
	c := dial(t, p.Addr)
	br := bufio.NewReader(c)
	exchange(t, c, br)
	exchange(t, c, br) // kept alive
	idle := time.Now()
	// About 40 ms early: see StartPythonHTTP.
	if got := closedAfter(t, c, idle, 5*T); got < T-pythonEarly || got > T+200*time.Millisecond {
		t.Errorf("closed after %s idle, want %s (-%s/+200ms)", got, T, pythonEarly)
	}
}

// pythonEarly is how much earlier than its timeout http.server's close
// can come, seen from the client (the delayed ACK, see StartPythonHTTP).
const pythonEarly = 60 * time.Millisecond

func TestNginxRetiresConnections(t *testing.T) {
	t.Parallel()
	t.Run("keepalive_requests", func(t *testing.T) {
		t.Parallel()
		n := realserver.StartNginx(t, realserver.NginxKeepalive{Timeout: time.Minute, Requests: 3})
		c := dial(t, n.Addr)
		br := bufio.NewReader(c)
		for i := 1; i <= 3; i++ {
			resp := exchange(t, c, br)
			if want := i == 3; resp.Close != want {
				t.Errorf("request %d: Connection: close is %v, want %v", i, resp.Close, want)
			}
		}
		n.Stop(t)
		assertStopped(t, n.Proc)
	})
	t.Run("keepalive_time", func(t *testing.T) {
		t.Parallel()
		const T = time.Second
		n := realserver.StartNginx(t, realserver.NginxKeepalive{Timeout: time.Minute, Time: T})
		c := dial(t, n.Addr)
		br := bufio.NewReader(c)
		if resp := exchange(t, c, br); resp.Close {
			t.Errorf("a young connection was answered with Connection: close")
		}
		time.Sleep(T + 100*time.Millisecond) // the condition is the connection's age
		if resp := exchange(t, c, br); !resp.Close {
			t.Errorf("a connection older than keepalive_time %s was not answered with Connection: close", T)
		}
	})
}

func TestCloseOnData(t *testing.T) {
	t.Parallel()
	addr := realserver.StartCloseOnData(t)
	c := dial(t, addr)
	if _, err := io.WriteString(c, "\r\n"); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if got := closedAfter(t, c, sent, 2*time.Second); got > 500*time.Millisecond {
		t.Errorf("closed %s after the first byte, want at once", got)
	}
}

func TestIdleCloser(t *testing.T) {
	t.Parallel()
	const T = 300 * time.Millisecond
	addr := realserver.StartIdleCloser(t, T)
	c := dial(t, addr)
	if _, err := io.WriteString(c, "hello\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "hello\n" {
		t.Fatalf("echo answered %q (%v)", line, err)
	}
	idle := time.Now()
	if got := closedAfter(t, c, idle, 10*T); got < T-20*time.Millisecond || got > T+200*time.Millisecond {
		t.Errorf("closed after %s idle, want %s (-20ms/+200ms)", got, T)
	}
}

func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 50 {
		p, err := realserver.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("FreePort returned %d twice", p)
		}
		seen[p] = true
	}
}

func TestDescribeNamesEverything(t *testing.T) {
	// A result built by hand: Describe must show what a failing test needs.
	var r = describeSample()
	got := realserver.Describe(r)
	for _, want := range []string{`status "inconclusive"`, `reason "deadline"`, "(2.900s, 3.100s]", "kind idle", "mode closed_idle",
		"disagree 2", "spread: failures from 3.050s to 3.900s", "retired 4", "closed_idle 1", "conn 7 idle 3.050s conn-age 9.000s reuse 2 -> closed_idle"} {
		if !strings.Contains(got, want) {
			t.Errorf("Describe lacks %q:\n%s", want, got)
		}
	}
}

func describeSample() plan.Result {
	start := time.Now()
	return plan.Result{
		Target: "tcp://127.0.0.1:1", Status: plan.Inconclusive, Reason: "deadline", Found: true,
		Lower: 2900 * time.Millisecond, Upper: 3100 * time.Millisecond, Kind: plan.Idle, Mode: plan.ClosedIdle,
		Agree: 5, Disagree: 2, Spread: plan.Spread{First: 3050 * time.Millisecond, Last: 3900 * time.Millisecond},
		Server: plan.Server{Retired: 4}, Started: start, Finished: start.Add(4 * time.Second),
		Trials: []plan.Trial{{Conn: 7, Age: 3050 * time.Millisecond, ConnAge: 9 * time.Second, Reuse: 2,
			Outcome: plan.ClosedIdle, End: start.Add(3 * time.Second)}},
	}
}
