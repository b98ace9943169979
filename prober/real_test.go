package prober_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/realserver"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Measurements of real servers on loopback (PostgreSQL, Redis, nginx and
// Python's http.server from Debian packages, and two misbehaving Go
// servers), each started by the test on its own port and stopped by PID.
// Each asserts the bracket, the limit's kind, the failure mode, the status,
// and that the measurement ended within its bound; a failure prints the
// whole result (realserver.Describe).

// realTimeout is the trial timeout of every real measurement.
const realTimeout = 2 * time.Second

// realSettings are small settings that keep each measurement to a few
// seconds: min 250ms, precision floor 100ms, and deadline (0: Measure's
// automatic one).
func realSettings(max, deadline time.Duration) plan.Settings {
	s := plan.Defaults()
	s.Min = 250 * time.Millisecond
	s.Max = max
	s.PrecisionFloor = 100 * time.Millisecond
	s.Deadline = deadline
	return s
}

// measureReal measures rawURL and checks what every measurement must do:
// end within its bound (Settings.Deadline + 1s), say so in Settings, and
// return an error that matches its Status. The result is printed in full
// if the test fails.
func measureReal(t *testing.T, rawURL string, s plan.Settings, tr prober.TransportOptions) (plan.Result, error) {
	t.Helper()
	if tr.Timeout == 0 {
		tr.Timeout = realTimeout
	}
	// A safety net only: a measurement that overruns its own deadline is
	// cancelled well after it, and the bound check below fails. Measure's
	// automatic deadline is AutoDeadline with a trial timeout of at most
	// the default.
	safety := s.WithDeadline(max(tr.Timeout, prober.DefaultTimeout)).Deadline + 10*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	r, err := prober.Measure(ctx, mustTarget(t, rawURL), prober.Options{Plan: s, Transport: tr})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("measure %s: err %v\n%s", rawURL, err, realserver.Describe(r))
		}
	})
	if ctx.Err() != nil {
		t.Errorf("measurement did not end by itself: cancelled after %s", safety)
	}
	bound := r.Settings.Deadline
	switch {
	case s.Deadline != 0 && bound != s.Deadline:
		t.Errorf("result's Settings.Deadline %s, want the explicit %s", bound, s.Deadline)
		bound = s.Deadline
	case s.Deadline == 0 && bound < s.WithDeadline(tr.Timeout).Deadline:
		t.Errorf("result's Settings.Deadline %s, want Measure's automatic deadline, at least AutoDeadline %s", bound, s.WithDeadline(tr.Timeout).Deadline)
	}
	if d := r.Duration(); d > bound+time.Second {
		t.Errorf("took %s, want at most its deadline %s + 1s", d, bound)
	}
	switch r.Status {
	case plan.Measured:
		if err != nil {
			t.Errorf("status %s with error %v", r.Status, err)
		}
	case plan.Unusable:
		if !errors.Is(err, prober.ErrUnusable) {
			t.Errorf("status %s, error %v does not wrap ErrUnusable", r.Status, err)
		}
	case plan.Inconclusive:
		if !errors.Is(err, prober.ErrInconclusive) {
			t.Errorf("status %s, error %v does not wrap ErrInconclusive", r.Status, err)
		}
	default:
		t.Errorf("status %q (error %v), want measured, unusable or inconclusive", r.Status, err)
	}
	t.Logf("%s: status %s found %v (%s, %s] kind %s mode %s in %s, %d trials", rawURL, r.Status, r.Found,
		r.Lower, r.Upper, r.Kind, r.Mode, r.Duration(), len(r.Trials))
	return r, err
}

// limit is the truth a bracket must hold: the shortest limit a client can
// meet lies in [lo, hi] (a server's close time has some slack).
type limit struct{ lo, hi time.Duration }

func (l limit) String() string { return fmt.Sprintf("[%s, %s]", l.lo, l.hi) }

// checkBracket asserts that r found a limit, that (Lower, Upper] holds l,
// that it is no wider than the precision asks, and its kind and mode.
func checkBracket(t *testing.T, r plan.Result, l limit, kind plan.Kind, mode plan.Outcome) {
	t.Helper()
	if r.Status != plan.Measured {
		t.Errorf("status %q (%s), want %q", r.Status, r.Reason, plan.Measured)
	}
	if !r.Found {
		t.Errorf("no limit found up to %s; want one in %s", r.Settings.Max, l)
		return
	}
	if !(r.Lower < l.hi && r.Upper >= l.lo) {
		t.Errorf("bracket (%s, %s] does not hold the limit %s", r.Lower, r.Upper, l)
	}
	if w, want := r.Width(), r.Settings.Width(r.Upper); w > want+time.Millisecond {
		t.Errorf("bracket %s wide, want at most %s", w, want)
	}
	if r.Kind != kind {
		t.Errorf("kind %q, want %q", r.Kind, kind)
	}
	if r.Mode != mode {
		t.Errorf("mode %q, want %q", r.Mode, mode)
	}
}

// PostgreSQL closes a connection that has not logged in
// authentication_timeout after it opened, whatever was sent since: a
// lifetime, not an idle limit.
func TestRealPostgresAuthenticationTimeout(t *testing.T) {
	t.Parallel()
	const T = 5 * time.Second
	pg := realserver.StartPostgres(t, realserver.PostgresOptions{AuthenticationTimeout: T})
	// The timer starts when the backend starts, just after the handshake.
	// Our clock starts when the dial returns, the server's at its fork: under
	// load ours may start late, and a close then looks that much early.
	truth := limit{T - prober.StampLag, T + 100*time.Millisecond}
	target := "tcp://" + pg.Addr

	t.Run("startup length prefix", func(t *testing.T) {
		t.Parallel()
		// A startup-packet length of 10000: every reuse only adds bytes to
		// a packet PostgreSQL is still waiting for, so nothing but its
		// authentication_timeout ends a connection.
		r, _ := measureReal(t, target, realSettings(8*time.Second, 20*time.Second),
			prober.TransportOptions{Send: []byte("\x00\x00\x27\x10")})
		checkBracket(t, r, truth, plan.Lifetime, plan.ClosedIdle)
		if l := r.Lifetime; r.Kind == plan.Lifetime && (!l.Found || l.Lower != r.Lower || l.Upper != r.Upper) {
			t.Errorf("kind lifetime, but Lifetime (found %v, (%s, %s]) does not repeat the bracket", l.Found, l.Lower, l.Upper)
		}
	})
	t.Run("default payload", func(t *testing.T) {
		t.Parallel()
		// "\r\n" twice is a 4-byte startup length 0x0d0a0d0a: invalid, so
		// PostgreSQL closes on the second reuse whatever the age, and every
		// connection closes at its lifetime too: the re-tests of the edges
		// near 5 s, one fresh connection 5 s old each, can outlast the
		// deadline. The measurement must end within its bound (measureReal
		// checks it), as measured (the lifetime), unusable, or inconclusive
		// with a bracket so far that holds the lifetime; never with a wrong
		// limit. (postgres:// logs in and measures the real session.)
		r, _ := measureReal(t, target, realSettings(8*time.Second, 20*time.Second), prober.TransportOptions{})
		if r.Status != plan.Measured && r.Status != plan.Unusable && r.Status != plan.Inconclusive {
			t.Errorf("status %q (%s), want measured, unusable or inconclusive", r.Status, r.Reason)
		}
		if r.Found && !(r.Lower < truth.hi && r.Upper >= truth.lo) {
			t.Errorf("bracket (%s, %s] (kind %s) does not hold the authentication timeout %s", r.Lower, r.Upper, r.Kind, truth)
		}
	})
}

// Redis keeps last-interaction times in whole seconds and checks idle
// clients from its cron: with `timeout 3` a connection is closeable from
// 3 to 4 s of idle time, depending on where in its second its last
// exchange fell (see realserver.StartRedis), and the cron visits only
// numclients/hz clients per tick, so with the search's 60 connections a
// closeable one waits up to about a second more (a CI run saw 4.51 s).
// The bracket holds the shortest close seen; the spread is reported, not
// taken as disagreement.
func TestRealRedisTimeout(t *testing.T) {
	t.Parallel()
	const T = 3 * time.Second
	rd := realserver.StartRedis(t, T)
	r, _ := measureReal(t, "tcp://"+rd.Addr, realSettings(8*time.Second, 20*time.Second),
		prober.TransportOptions{Send: []byte("PING\r\n"), Expect: []byte("+PONG")})
	latest := T + 2*time.Second
	checkBracket(t, r, limit{T - 100*time.Millisecond, latest}, plan.Idle, plan.ClosedIdle)
	checkShortest(t, r)
	checkSpread(t, r, latest)
}

// checkShortest asserts that the bracket holds the shortest failure seen:
// a client can meet it, so no failure may lie below Upper.
func checkShortest(t *testing.T, r plan.Result) {
	t.Helper()
	for _, tr := range r.Trials {
		if r.Found && tr.Outcome.Failed() && tr.Age < r.Upper {
			t.Errorf("trial on conn %d failed (%s) at %s idle, below the bracket's upper %s: the bracket must hold the shortest limit",
				tr.Conn, tr.Outcome, tr.Age, r.Upper)
		}
	}
}

// checkSpread asserts that closes spread in time are no disagreement, and
// that Spread lies between the bracket and the latest possible close.
func checkSpread(t *testing.T, r plan.Result, latest time.Duration) {
	t.Helper()
	if r.Disagree != 0 {
		t.Errorf("%d trials disagree; closes that spread in time are not a flaky path", r.Disagree)
	}
	sp := r.Spread
	if sp.First > sp.Last {
		t.Errorf("spread first %s after last %s", sp.First, sp.Last)
	}
	if r.Found && (sp.First < r.Lower || sp.Last > latest) {
		t.Errorf("spread [%s, %s] not within (lower %s, latest possible close %s]", sp.First, sp.Last, r.Lower, latest)
	}
}

// Python's http.server closes a connection idle for its handler's timeout
// (seen from the client about 40 ms early: realserver.StartPythonHTTP).
// This one runs with Measure's automatic deadline.
func TestRealPythonHTTPTimeout(t *testing.T) {
	t.Parallel()
	const T = 2 * time.Second
	py := realserver.StartPythonHTTP(t, T)
	r, _ := measureReal(t, "http://"+py.Addr+"/", realSettings(6*time.Second, 0), prober.TransportOptions{})
	checkBracket(t, r, limit{T - 60*time.Millisecond, T + 20*time.Millisecond}, plan.Idle, plan.ClosedIdle)
	checkShortest(t, r)
	checkSpread(t, r, T+100*time.Millisecond)
}

// nginx's keepalive_time is a lifetime: the first request after it is
// answered, with Connection: close. Idle connections survive (its
// keepalive_timeout is 60s), so there is no idle limit up to max, and the
// lifetime is reported beside it.
func TestRealNginxKeepaliveTime(t *testing.T) {
	t.Parallel()
	const T = 4 * time.Second
	n := realserver.StartNginx(t, realserver.NginxKeepalive{Timeout: time.Minute, Time: T})
	r, _ := measureReal(t, "http://"+n.Addr+"/", realSettings(10*time.Second, 25*time.Second), prober.TransportOptions{})
	if r.Status != plan.Measured {
		t.Errorf("status %q (%s), want %q", r.Status, r.Reason, plan.Measured)
	}
	if r.Found {
		t.Errorf("idle limit (%s, %s] reported; nginx keeps idle connections 60s, its %s keepalive_time is a lifetime", r.Lower, r.Upper, T)
	}
	l := r.Lifetime
	// nginx counts from accept, a little after the client's handshake.
	if !l.Found || !(l.Lower < T+50*time.Millisecond && l.Upper >= T-10*time.Millisecond) {
		t.Errorf("lifetime found %v (%s, %s], want one holding keepalive_time %s", l.Found, l.Lower, l.Upper, T)
	}
	if l.Mode != "retired" {
		t.Errorf("lifetime mode %q, want \"retired\" (answered with Connection: close)", l.Mode)
	}
	if r.Server.Retired == 0 {
		t.Errorf("no reuse counted as retired (Server.Retired 0)")
	}
}

// nginx's keepalive_requests 3 answers the third request on a connection
// with Connection: close: the opening request is the first, so every
// connection is retired on its second reuse, whatever its age. A request
// limit only shows on connections reused that often: the sequential
// strategy reuses its connection at every step (the parallel ladder rarely
// reuses one twice).
func TestRealNginxKeepaliveRequests(t *testing.T) {
	t.Parallel()
	n := realserver.StartNginx(t, realserver.NginxKeepalive{Timeout: time.Minute, Requests: 3})
	s := realSettings(3*time.Second, 30*time.Second)
	s.Strategy = plan.Sequential
	r, _ := measureReal(t, "http://"+n.Addr+"/", s, prober.TransportOptions{})
	if r.Status != plan.Measured {
		t.Errorf("status %q (%s), want %q", r.Status, r.Reason, plan.Measured)
	}
	if r.Found {
		t.Errorf("false idle limit (%s, %s] mode %s: nginx retires connections after 3 requests, it keeps idle ones 60s", r.Lower, r.Upper, r.Mode)
	}
	if r.Lifetime.Found {
		t.Errorf("false lifetime (%s, %s]: retirements come by request count, not age", r.Lifetime.Lower, r.Lifetime.Upper)
	}
	if r.Server.RetiredAtReuse != 2 {
		t.Errorf("Server.RetiredAtReuse %d, want 2 (keepalive_requests 3: the opening request, then two reuses)", r.Server.RetiredAtReuse)
	}
	retired := 0
	for _, tr := range r.Trials {
		if tr.Retired {
			retired++
			if tr.Reuse != 2 {
				t.Errorf("conn %d retired on reuse %d, want 2", tr.Conn, tr.Reuse)
			}
		}
	}
	if retired == 0 || r.Server.Retired != retired {
		t.Errorf("%d trials retired, Server.Retired %d: want the same, more than 0", retired, r.Server.Retired)
	}
}

// A server that closes a connection on its first byte (a protocol
// mismatch) kills every reuse whatever the idle time: unusable, known
// within a few trials.
func TestRealCloseOnFirstByte(t *testing.T) {
	t.Parallel()
	addr := realserver.StartCloseOnData(t)
	const max = 5 * time.Second
	r, err := measureReal(t, "tcp://"+addr, realSettings(max, 15*time.Second), prober.TransportOptions{})
	if !errors.Is(err, prober.ErrUnusable) {
		t.Errorf("error %v, want one wrapping prober.ErrUnusable", err)
	}
	if r.Status != plan.Unusable {
		t.Errorf("status %q, want %q", r.Status, plan.Unusable)
	}
	if err != nil && !strings.Contains(err.Error(), "reuse") {
		t.Errorf("error %q does not say that every reuse is closed", err)
	}
	if len(r.Trials) > 10 {
		t.Errorf("%d trials, want at most 10 to recognise a protocol mismatch", len(r.Trials))
	}
	if d := r.Duration(); d > max/2 {
		t.Errorf("took %s, want well under max %s", d, max)
	}
}

// A server that closes idle connections after 300 ms, measured with min
// 1s: the limit lies below min and is still found.
func TestRealLimitBelowMin(t *testing.T) {
	t.Parallel()
	const T = 300 * time.Millisecond
	addr := realserver.StartIdleCloser(t, T)
	s := realSettings(5*time.Second, 15*time.Second)
	s.Min = time.Second
	r, _ := measureReal(t, "tcp://"+addr, s, prober.TransportOptions{})
	checkBracket(t, r, limit{T - 5*time.Millisecond, T + 30*time.Millisecond}, plan.Idle, plan.ClosedIdle)
}
