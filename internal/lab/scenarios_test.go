package lab

// End-to-end scenarios: the real idleprobe binary, run in the client
// namespace, measures paths built from kernel NAT/conntrack, nginx and
// HAProxy. Each scenario has its own lab, so they run in parallel.

import (
	"bufio"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/hop"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Tolerances of "the bracket contains T" for a conntrack timeout T.
const (
	// LAB.md: the flow dies between T-4 ms and T after its last packet
	// (one jiffy at HZ=250), never late.
	jiffySlack = 10 * time.Millisecond
	// The flow's last packet can be the client's delayed ACK of the reply,
	// sent up to ~40 ms after the client saw the reply and started its idle
	// clock: the path then holds up to that much longer than T.
	ackSlack = 50 * time.Millisecond
	// JSON durations are rounded to the microsecond.
	roundSlack = time.Millisecond
)

// trialTimeout is the --timeout given to every measurement: how long one
// reuse may wait for an answer (it bounds black-hole trials).
const trialTimeout = 2 * time.Second

// measureArgs are the flags every scenario passes, then its own, then target.
func measureArgs(max time.Duration, extra []string, target string) []string {
	args := []string{
		"--min", "1s",
		"--max", max.String(),
		"--precision", "0.02",
		"--precision-floor", "250ms",
		"--timeout", trialTimeout.String(),
	}
	args = append(args, extra...)
	return append(args, target)
}

// wantWidth is the precision rule: max(2 % of T, 0.25 s).
func wantWidth(T time.Duration) time.Duration {
	w := T / 50
	if w < 250*time.Millisecond {
		w = 250 * time.Millisecond
	}
	return w
}

// checkMiddleboxLimit asserts that r found the conntrack limit T: the
// bracket contains T, is narrow enough, and the failure mode is mode.
func checkMiddleboxLimit(t *testing.T, r plan.Result, T time.Duration, mode plan.Outcome) {
	t.Helper()
	if !r.Found {
		t.Fatalf("no limit found up to %s; the middlebox forgets flows after T=%s", r.Settings.Max, T)
	}
	if r.Mode != mode {
		t.Errorf("mode %q, want %q", r.Mode, mode)
	}
	if r.Lower > T+ackSlack || r.Upper < T-jiffySlack {
		t.Errorf("bracket (%s, %s] does not contain T=%s (tolerance -%s/+%s)", r.Lower, r.Upper, T, jiffySlack, ackSlack)
	}
	if w := r.Width(); w > wantWidth(T)+roundSlack {
		t.Errorf("bracket width %s, want <= max(2%% of T, 250ms) = %s", w, wantWidth(T))
	}
	if !r.Complete {
		t.Errorf("result marked incomplete")
	}
}

// checkServerClose asserts that r found a server's own idle close at K:
// seen while idle (closed_idle), exact, and quickly (no search needed).
func checkServerClose(t *testing.T, r plan.Result, K time.Duration) {
	t.Helper()
	if !r.Found {
		t.Fatalf("no limit found up to %s; the server closes idle connections at K=%s", r.Settings.Max, K)
	}
	if r.Mode != plan.ClosedIdle {
		t.Errorf("mode %q, want %q (the server's FIN is seen while idle)", r.Mode, plan.ClosedIdle)
	}
	// LAB.md: servers close at the configured time to within ~2 ms.
	if r.Upper < K-5*time.Millisecond || r.Upper > K+50*time.Millisecond {
		t.Errorf("upper %s, want K=%s within [-5ms, +50ms]", r.Upper, K)
	}
	if r.CloseAge != 0 && (r.CloseAge < K-5*time.Millisecond || r.CloseAge > K+50*time.Millisecond) {
		t.Errorf("close_age %s, want K=%s within [-5ms, +50ms]", r.CloseAge, K)
	}
	if d := r.Duration(); d >= 2*K {
		t.Errorf("measurement took %s, want < 2K = %s: a close seen while idle needs no search", d, 2*K)
	}
}

// startResponder runs the idleprobe responder in the server namespace:
// HTTP on :80, TCP echo on :7, holding idle connections forever.
func startResponder(t *testing.T, l *Lab) {
	t.Helper()
	l.StartResponder(t, l.Server, ":80", ":7")
}

func vipURL(l *Lab, port int) string { return fmt.Sprintf("http://%s:%d/", l.VIP, port) }

// Scenario 1: the middlebox resets flows idle longer than T (IPVS-like).
func TestScenario1Reset(t *testing.T) {
	Require(t)
	t.Parallel()
	const T = 3 * time.Second
	l := New(t, Options{Timeout: T, Mode: Reset})
	startResponder(t, l)
	l.StartEcho(t, l.Server, 7007)
	for _, target := range []string{
		vipURL(l, 80),
		fmt.Sprintf("tcp://%s:7007", l.VIP), // a raw TCP service (socat echo)
	} {
		t.Run(strings.SplitN(target, ":", 2)[0], func(t *testing.T) {
			r := l.Measure(t, measureArgs(10*time.Second, nil, target)...)
			checkMiddleboxLimit(t, r, T, plan.Reset)
			// The lb's RST, TTL 64, against the server's 63.
			checkEndedBy(t, r, hop.Hop, 1)
		})
	}
}

// Scenario 2: the middlebox silently drops flows idle longer than T (a
// black hole, like Azure LB or a NAT gateway). The trial that falls in it
// must end at its trial timeout, not after minutes of retransmissions.
func TestScenario2Drop(t *testing.T) {
	Require(t)
	t.Parallel()
	const T = 3 * time.Second
	l := New(t, Options{Timeout: T, Mode: Drop})
	startResponder(t, l)
	for _, target := range []string{
		vipURL(l, 80),
		fmt.Sprintf("tcp://%s:7", l.VIP),
	} {
		t.Run(strings.SplitN(target, ":", 2)[0], func(t *testing.T) {
			r := l.Measure(t, measureArgs(10*time.Second, nil, target)...)
			checkMiddleboxLimit(t, r, T, plan.Dropped)
			dropped := 0
			for _, tr := range r.Trials {
				if tr.Outcome != plan.Dropped {
					continue
				}
				dropped++
				if took := tr.End.Sub(tr.Start); took > trialTimeout+500*time.Millisecond {
					t.Errorf("dropped trial (conn %d, age %s) took %s, want within the trial timeout %s", tr.Conn, tr.Age, took, trialTimeout)
				}
			}
			if dropped == 0 {
				t.Errorf("no trial has outcome %q", plan.Dropped)
			}
		})
	}
}

// Scenario 3: the control. Conntrack forgets the flow after T, but with
// nf_conntrack_tcp_loose=1 it adopts the next packet again and the
// connection survives: idleprobe must never report a limit.
func TestScenario3None(t *testing.T) {
	Require(t)
	t.Parallel()
	const T = 2 * time.Second
	const max = 6 * time.Second
	l := New(t, Options{Timeout: T, Mode: None})
	startResponder(t, l)
	for i := 1; i <= 3; i++ {
		t.Run(fmt.Sprintf("run%d", i), func(t *testing.T) {
			r := l.Measure(t, measureArgs(max, nil, vipURL(l, 80))...)
			if r.Found {
				t.Errorf("false limit: (%s, %s] mode %s; the path has no limit", r.Lower, r.Upper, r.Mode)
			}
			for _, tr := range r.Trials {
				if tr.Outcome.Failed() {
					t.Errorf("trial conn %d age %s failed with %s (%s) on a path without limit", tr.Conn, tr.Age, tr.Outcome, tr.Detail)
				}
			}
			// The connections outlived the conntrack entry, or the control
			// proves nothing.
			if r.Lower <= T {
				t.Errorf("lower bound %s, want > T=%s (an idle longer than the conntrack timeout survived)", r.Lower, T)
			}
		})
	}
}

// serverCloseScenario measures a server that closes idle connections at K,
// directly and through a middlebox with a longer timeout T > K.
func serverCloseScenario(t *testing.T, K time.Duration, start func(l *Lab)) {
	t.Helper()
	const T = 5 * time.Second
	l := New(t, Options{Timeout: T, Mode: Reset})
	start(l)
	for _, tc := range []struct{ name, target string }{
		{"direct", fmt.Sprintf("http://%s:80/", l.ServerAddr)},
		{"behind-middlebox", vipURL(l, 80)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := l.Measure(t, measureArgs(10*time.Second, nil, tc.target)...)
			checkServerClose(t, r, K)
			checkEndedBy(t, r, hop.Server, 0)
		})
	}
}

// Scenario 4: nginx keepalive_timeout K.
func TestScenario4NginxKeepalive(t *testing.T) {
	Require(t)
	t.Parallel()
	const K = 2 * time.Second
	serverCloseScenario(t, K, func(l *Lab) {
		l.StartNginx(t, l.Server, NginxKeepaliveServer(":80", K), ":80")
	})
}

// Scenario 5: HAProxy timeout http-keep-alive H.
func TestScenario5HAProxyKeepalive(t *testing.T) {
	Require(t)
	t.Parallel()
	const H = 2 * time.Second
	serverCloseScenario(t, H, func(l *Lab) {
		l.StartHAProxy(t, l.Server, HAProxyKeepaliveServer(":80", H), ":80")
	})
}

// Scenario 6: two limits on one path, server K and middlebox T < K: the
// smaller (the middlebox's reset) wins.
func TestScenario6SmallerLimitWins(t *testing.T) {
	Require(t)
	t.Parallel()
	const T, K = 2 * time.Second, 4 * time.Second
	l := New(t, Options{Timeout: T, Mode: Reset})
	l.StartNginx(t, l.Server, NginxKeepaliveServer(":80", K), ":80")
	r := l.Measure(t, measureArgs(10*time.Second, nil, vipURL(l, 80))...)
	checkMiddleboxLimit(t, r, T, plan.Reset)
	checkEndedBy(t, r, hop.Hop, 1)
	if r.Found && r.Upper >= K {
		t.Errorf("upper %s is the server's K=%s, not the middlebox's T=%s", r.Upper, K, T)
	}
}

// --- Scenario 7: the incident ---------------------------------------------
//
// A reverse proxy (nginx) keeps a pool of idle upstream connections. Between
// it and the backend sits a load balancer that forgets idle flows after T and
// answers the next packet with a reset (IPVS does exactly this). nginx's
// upstream keepalive_timeout defaults to 60 s, far above T, so after a quiet
// spell nginx reuses a connection the load balancer has forgotten: a POST
// (which nginx will not retry) comes back as 502 Bad Gateway.

// startBackend runs the application: nginx in the server namespace, which
// keeps idle client connections far longer than any test.
func startBackend(t *testing.T, l *Lab) *Nginx {
	t.Helper()
	return l.StartNginx(t, l.Server, NginxKeepaliveServer(":80", 300*time.Second), ":80")
}

// proxyListen is where the reverse proxy listens, in the client namespace.
const proxyListen = "127.0.0.1:8080"

// proxyConf is the reverse proxy: an upstream pool to the VIP. poolIdle is
// the upstream keepalive_timeout; 0 keeps nginx's default (60 s).
func proxyConf(l *Lab, poolIdle time.Duration) string {
	keepaliveTimeout := "        # keepalive_timeout not set: nginx's default, 60s"
	if poolIdle > 0 {
		keepaliveTimeout = fmt.Sprintf("        keepalive_timeout %dms;", poolIdle.Milliseconds())
	}
	return fmt.Sprintf(`    upstream u {
        server %s:80;
        keepalive 8;
%s
    }
    server {
        listen %s;
        location / {
            proxy_pass http://u;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }`, l.VIP, keepaliveTimeout, proxyListen)
}

func startProxy(t *testing.T, l *Lab, poolIdle time.Duration) *Nginx {
	t.Helper()
	return l.StartNginx(t, l.Client, proxyConf(l, poolIdle), proxyListen)
}

// request sends one request to the proxy on a fresh client connection.
func request(t *testing.T, l *Lab, method, body string) int {
	t.Helper()
	c := l.Dial(t, l.Client, proxyListen)
	defer c.Close()
	status, _, err := Exchange(c, bufio.NewReader(c), method, "app.example", "/", body, 10*time.Second)
	if err != nil {
		t.Fatalf("%s through the proxy: %v", method, err)
	}
	return status
}

// postAfterIdle is the traffic of the incident: a request that leaves a
// connection in the proxy's upstream pool, a quiet spell of idle, then a
// POST. It returns the POST's status.
func postAfterIdle(t *testing.T, proxy *Nginx, idle time.Duration) int {
	t.Helper()
	l := proxy.lab
	if status := request(t, l, "GET", ""); status != 200 {
		t.Fatalf("first GET through the proxy: status %d, want 200", status)
	}
	time.Sleep(idle) // the quiet spell of the incident: real idle for the real pool and hop
	status := request(t, l, "POST", `{"order": 42}`)
	t.Logf("POST after %s idle: %d", idle, status)
	return status
}

// adviceDuration extracts the idle time recommended on the line of the
// human output that contains "Advice".
var (
	goDuration   = regexp.MustCompile(`\b(?:\d+(?:\.\d+)?(?:ms|h|m|s))+\b`)
	wordDuration = regexp.MustCompile(`(\d+(?:\.\d+)?)\s*(ms|s|sec|secs|seconds?)\b`)
)

func adviceDuration(out string) (line string, d time.Duration, err error) {
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, "Advice") {
			continue
		}
		// The first duration on the line, in either spelling.
		g := goDuration.FindStringIndex(l)
		w := wordDuration.FindStringSubmatchIndex(l)
		switch {
		case g != nil && (w == nil || g[0] <= w[0]):
			d, err := time.ParseDuration(l[g[0]:g[1]])
			return l, d, err
		case w != nil:
			unit := "s"
			if l[w[4]:w[5]] == "ms" {
				unit = "ms"
			}
			d, err := time.ParseDuration(l[w[2]:w[3]] + unit)
			return l, d, err
		}
		return l, 0, fmt.Errorf("advice line has no duration: %q", l)
	}
	return "", 0, fmt.Errorf("no line contains \"Advice\"")
}

func TestAdviceDuration(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want time.Duration
		bad  bool
	}{
		{"Limit: (2.9s, 3s] reset\nAdvice: keep client idle timeouts below 2.9s, or TCP keepalive below that\n", 2900 * time.Millisecond, false},
		{"Advice: keep idle below 2m58s\n", 178 * time.Second, false},
		{"Advice: keep idle below 2.95 s\n", 2950 * time.Millisecond, false},
		{"Advice: keep idle below 900 ms\n", 900 * time.Millisecond, false},
		{"Advice: keep client idle timeouts (nginx upstream keepalive_timeout, Go IdleConnTimeout, pool max-idle) below 2.7 s, or enable TCP keepalive with an idle time below that.", 2700 * time.Millisecond, false},
		{"Advice: keep client idle timeouts below 130 s (2m10s).", 130 * time.Second, false},
		{"Advice: none\n", 0, true},
		{"no advice here\n", 0, true},
	} {
		t.Run(strings.SplitN(tc.out, "\n", 2)[0], func(t *testing.T) {
			_, got, err := adviceDuration(tc.out)
			if (err != nil) != tc.bad || got != tc.want {
				t.Errorf("adviceDuration = %s, %v; want %s, error %v", got, err, tc.want, tc.bad)
			}
		})
	}
}

// Scenario 7: the incident, its diagnosis by idleprobe, and the fix.
func TestScenario7Incident(t *testing.T) {
	Require(t)
	t.Parallel()
	const T = 3 * time.Second                    // the load balancer forgets idle flows after T
	const quietSpell = T + 1500*time.Millisecond // traffic pauses longer than T

	l := New(t, Options{Timeout: T, Mode: Reset})
	startBackend(t, l)
	proxy := startProxy(t, l, 0)

	t.Run("1 a POST after a quiet spell gets 502", func(t *testing.T) {
		if status := postAfterIdle(t, proxy, quietSpell); status != 502 {
			t.Errorf("POST after %s idle through the pooled upstream: status %d, want 502", quietSpell, status)
		}
		if log := readFile(t, proxy.ErrorLog); !strings.Contains(log, "Connection reset by peer") {
			t.Errorf("nginx error log lacks \"Connection reset by peer\":\n%s", log)
		} else {
			t.Logf("nginx error log: %s", lineWith(log, "Connection reset by peer"))
		}
	})

	var advice time.Duration
	t.Run("2 idleprobe measures the path and advises", func(t *testing.T) {
		args := measureArgs(10*time.Second, nil, vipURL(l, 80))
		r := l.Measure(t, args...)
		checkMiddleboxLimit(t, r, T, plan.Reset)

		out := l.MeasureText(t, args...)
		t.Logf("idleprobe measure output:\n%s", out)
		line, d, err := adviceDuration(out)
		if err != nil {
			t.Fatalf("human output: %v", err)
		}
		if d <= 0 || d >= T {
			t.Fatalf("advice %q recommends %s, want a value below T=%s", line, d, T)
		}
		advice = d
	})

	t.Run("3 applying the advice ends the 502s", func(t *testing.T) {
		if advice == 0 {
			t.Skip("no advice from step 2 to apply")
		}
		// The advice, as an nginx setting: the pool drops idle upstream
		// connections before the load balancer forgets them.
		resetsBefore := strings.Count(readFile(t, proxy.ErrorLog), "Connection reset by peer")
		proxy.Restart(t, proxyConf(l, advice.Truncate(time.Millisecond)))
		if status := postAfterIdle(t, proxy, quietSpell); status != 200 {
			t.Errorf("with upstream keepalive_timeout %s (advice), POST after %s idle: status %d, want 200", advice, quietSpell, status)
		}
		if n := strings.Count(readFile(t, proxy.ErrorLog), "Connection reset by peer") - resetsBefore; n != 0 {
			t.Errorf("with the advice applied, nginx still logged %d upstream resets", n)
		}
	})
}

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// Scenario 8: both strategies on scenario 1. Both must be right; their wall
// times and ratio are logged for the README's benchmark section.
func TestScenario8Strategies(t *testing.T) {
	Require(t)
	t.Parallel()
	const T = 3 * time.Second
	l := New(t, Options{Timeout: T, Mode: Reset})
	startResponder(t, l)
	wall := map[plan.Strategy]time.Duration{}
	for _, s := range []plan.Strategy{plan.Sequential, plan.Parallel} {
		t.Run(string(s), func(t *testing.T) {
			r := l.Measure(t, measureArgs(10*time.Second, []string{"--strategy", string(s)}, vipURL(l, 80))...)
			checkMiddleboxLimit(t, r, T, plan.Reset)
			if r.Settings.Strategy != s {
				t.Errorf("result says strategy %q, want %q", r.Settings.Strategy, s)
			}
			wall[s] = r.Duration()
			t.Logf("LAB-WALL strategy=%s T=%s wall=%.2fs wall/T=%.2f connections=%d peak=%d",
				s, T, r.Duration().Seconds(), r.Duration().Seconds()/T.Seconds(), r.ConnectionsOpened, r.PeakConnections)
		})
	}
	seq, par := wall[plan.Sequential], wall[plan.Parallel]
	if seq == 0 || par == 0 {
		t.Fatalf("missing a wall time (sequential %s, parallel %s)", seq, par)
	}
	t.Logf("LAB-RATIO sequential/parallel = %.2f (T=%s, sequential %.2fs, parallel %.2fs)", seq.Seconds()/par.Seconds(), T, seq.Seconds(), par.Seconds())
}
