package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/idleprobe/idleprobe/prober"
	"time"

	"github.com/prometheus/common/version"
	"go.uber.org/goleak"

	"github.com/idleprobe/idleprobe/internal/durfmt"
	"github.com/idleprobe/idleprobe/internal/responder"
)

// TestMain runs the tests, or the command line itself in the child
// processes some tests start (runMainEnv).
func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) != "" {
		os.Exit(run())
	}
	goleak.VerifyTestMain(m)
}

// outBuf is a bytes.Buffer safe for a writer goroutine and a reader.
type outBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *outBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *outBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runCmd runs the command line in-process and returns its exit code and
// output.
func runCmd(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e outBuf
	code = dispatch(ctx, args, &o, &e)
	return code, o.String(), e.String()
}

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startResponder runs a responder on loopback for the test.
func startResponder(t *testing.T) *responder.Server {
	t.Helper()
	s, err := responder.Start(context.Background(), responder.Config{HTTPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

func TestUsageErrors(t *testing.T) {
	url := "http://" + closedPort(t) + "/"
	tests := []struct {
		name string
		args []string
		want []string // one entry per expected stderr line, as fragments
	}{
		{"no command", nil, []string{"usage: idleprobe [<flags>] <command>"}},
		{"unknown command", []string{"mesure"}, []string{`idleprobe: expected command but got "mesure" (commands: help, measure, serve, `}},
		{"unknown scheme", []string{"measure", "ftp://example.com/"}, []string{`idleprobe: target "ftp://example.com/": unknown scheme "ftp" (valid: ` + strings.Join(prober.Schemes, ", ") + ")"}},
		{"not a url", []string{"measure", "example.com"}, []string{`is not a URL`}},
		{"tcp without port", []string{"measure", "tcp://example.com"}, []string{"tcp targets need a port"}},
		{"bad duration", []string{"measure", "--max", "90x", url}, []string{`idleprobe: --max: "90x" is not a duration (examples: 250ms, 90s, 15m, 1h)`}},
		{"min above max", []string{"measure", "--min", "10s", "--max", "5s", url}, []string{"idleprobe: --max: 5s must be greater than --min (10s)"}},
		{"min equals max", []string{"measure", "--min", "5s", "--max", "5s", url}, []string{"idleprobe: --max: 5s must be greater than --min (5s)"}},
		{"budget 1", []string{"measure", "--budget", "1", url}, []string{"idleprobe: --budget: 1 is too few: a path needs at least 2 connections"}},
		{"budget not a number", []string{"measure", "--budget", "many", url}, []string{`idleprobe: --budget: "many" is not a whole number`}},
		{"two problems", []string{"measure", "--budget", "1", "--precision", "2", url}, []string{"--precision: 2 must be between 0 and 1, or a percentage below 100%", "--budget: 1 is too few"}},
		{"bad strategy", []string{"measure", "--strategy", "fast", url}, []string{`idleprobe: --strategy: enum value must be one of parallel,sequential, got 'fast'`}},
		{"bad output", []string{"measure", "--output", "xml", url}, []string{`idleprobe: --output: enum value must be one of text,json,prom,svg,html, got 'xml'`}},
		{"unknown flag", []string{"measure", "--bogus", url}, []string{"idleprobe: unknown long flag '--bogus' (see idleprobe measure --help)"}},
		{"flag without value", []string{"measure", url, "--max"}, []string{"idleprobe: expected argument for flag '--max' (see idleprobe measure --help)"}},
		{"no target", []string{"measure"}, []string{"idleprobe: measure needs a TARGET"}},
		{"two targets", []string{"measure", url, url}, []string{"idleprobe: measure takes one TARGET, got 2"}},
		{"send on http", []string{"measure", "--send", `PING\r\n`, url}, []string{"idleprobe: --send: only for tcp, ws and wss targets, not http://"}},
		{"tls flag on http", []string{"measure", "--insecure", url}, []string{"idleprobe: --insecure: only for https, h2, wss, grpcs, rediss and postgres (with sslmode) targets, not http://"}},
		{"method on tcp", []string{"measure", "--method", "POST", "tcp://127.0.0.1:1"}, []string{"idleprobe: --method: only for http(s) and h2(c) targets, not tcp://"}},
		{"ping on http", []string{"measure", "--ping", "10s", url}, []string{"idleprobe: --ping: http:// has no protocol ping (only ws, wss, grpc, grpcs do; use --keepalive instead)"}},
		{"ping and keepalive", []string{"measure", "--ping", "10s", "--keepalive", "30s", "grpc://127.0.0.1:1"}, []string{"idleprobe: --ping: give either --keepalive or --ping, not both"}},
		{"grpc service on ws", []string{"measure", "--grpc-service", "x", "ws://127.0.0.1:1/"}, []string{"idleprobe: --grpc-service: only for grpc and grpcs targets, not ws://"}},
		{"body on grpc", []string{"measure", "--body", "x", "grpc://127.0.0.1:1"}, []string{"idleprobe: --body: only for http(s) and h2(c) targets, not grpc://"}},
		{"empty ws send", []string{"measure", "--send", "", "ws://127.0.0.1:1/"}, []string{`idleprobe: --send: must not be empty: a reuse has to send a message`}},
		{"bad header", []string{"measure", "--header", "no colon", url}, []string{`idleprobe: --header: "no colon" is not a header`}},
		{"bad escape", []string{"measure", "--send", `\q`, "tcp://127.0.0.1:1"}, []string{`idleprobe: --send: "\\q" unknown escape \q`}},
		{"missing body file", []string{"measure", "--body-file", "/nonexistent/body", url}, []string{"idleprobe: --body-file: open /nonexistent/body: no such file or directory"}},
		{"body twice", []string{"measure", "--body", "x", "--body-file", "/etc/hostname", url}, []string{"idleprobe: --body-file: give either --body or --body-file, not both"}},
		// The config file's rules (configs.Path.Check), in the flags' names.
		{"lower-case method", []string{"measure", "--method", "get", url}, []string{`idleprobe: --method: "get": methods are case-sensitive, write GET`}},
		{"managed header", []string{"measure", "--header", "Connection: close", url}, []string{"idleprobe: --header: Connection is managed by idleprobe"}},
		{"header twice", []string{"measure", "--header", "X-A: 1", "--header", "x-a: 2", url}, []string{"idleprobe: --header: x-a: duplicate name (X-A is given already"}},
		{"max above a week", []string{"measure", "--max", "200h", url}, []string{"--max: 200h is more than 168h"}},
		{"hint above max", []string{"measure", "--max", "10m", "--hint", "15m", url}, []string{"idleprobe: --hint: 15m0s must be within min (1s) and max (10m0s)"}},
		{"hint with sequential", []string{"measure", "--strategy", "sequential", "--hint", "5m", url}, []string{"idleprobe: --hint: 5m0s cannot be used with the sequential strategy"}},
		{"negative hint", []string{"measure", "--hint=-5m", url}, []string{"idleprobe: --hint: -5m0s must be positive"}},
		{"empty send", []string{"measure", "--send=", "tcp://127.0.0.1:1"}, []string{"idleprobe: --send: must not be empty"}},
		{"zero timeout", []string{"measure", "--timeout", "0s", url}, []string{"idleprobe: --timeout: 0s must be positive"}},
		{"deadline not above max", []string{"measure", "--max", "1m", "--deadline", "1m", url}, []string{"idleprobe: --deadline: 1m must be longer than --max (1m), or 0 for the automatic deadline (3 x --max + 2 x (--confirm + 2) x --timeout for parallel: 3m30s here)"}},
		{"negative deadline", []string{"measure", "--deadline=-5s", url}, []string{"idleprobe: --deadline: -5s must not be negative (0 or leave it out for the automatic deadline)"}},
		{"simulate deadline", []string{"simulate", "--max", "10m", "--deadline", "5m"}, []string{"idleprobe: --deadline: 5m must be longer than --max (10m), or 0 for the automatic deadline"}},
		{"bad log level", []string{"measure", "--log.level", "loud", url}, []string{`idleprobe: --log.level: unrecognized log level loud (valid: debug, info, warn, error)`}},
		{"simulate bad mode", []string{"simulate", "--mode", "slow"}, []string{`idleprobe: --mode: enum value must be one of reset,closed_idle,dropped,closed_on_reuse, got 'slow'`}},
		{"simulate strategy", []string{"simulate", "--strategy", "sequential"}, []string{"idleprobe: --strategy: simulate always runs both strategies"}},
		{"simulate flaky", []string{"simulate", "--flaky", "1.5"}, []string{"idleprobe: --flaky: 1.5 must be a probability in [0, 1)"}},
		{"simulate argument", []string{"simulate", "900s"}, []string{`idleprobe: simulate takes no arguments, got "900s"`}},
		{"responder no listener", []string{"responder", "--http.listen-address", "", "--tcp.listen-address", "", "--udp.listen-address", "", "--push.listen-address", ""}, []string{"every listener is disabled"}},
		{"demo argument", []string{"demo", "now"}, []string{`idleprobe: demo takes no arguments, got "now"`}},
		{"version argument", []string{"version", "x"}, []string{`idleprobe: version takes no arguments, got "x"`}},
		{"help for an unknown command", []string{"help", "mesure"}, []string{`idleprobe: error: expected command but got "mesure"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, context.Background(), tc.args...)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d (stderr %q)", code, exitUsage, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			got := lines(stderr)
			if tc.args == nil {
				if !strings.Contains(stderr, tc.want[0]) {
					t.Errorf("stderr lacks %q: %q", tc.want[0], stderr)
				}
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("stderr has %d lines, want %d:\n%s", len(got), len(tc.want), stderr)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], "idleprobe: ") || !strings.Contains(got[i], w) {
					t.Errorf("stderr line %d = %q, want \"idleprobe: ...%s...\"", i, got[i], w)
				}
			}
		})
	}
}

func TestUnreachableTarget(t *testing.T) {
	addr := closedPort(t)
	tests := []struct {
		name, target, output string
		// stdout must contain every one of these.
		stdout []string
	}{
		{"http", "http://" + addr + "/", "text", []string{
			"idleprobe result: UNUSABLE target (nothing below is a limit)\n",
			"  Status:         unusable: connect " + addr + ": connection refused",
			"Advice: check that the target is reachable from here",
		}},
		{"tcp", "tcp://" + addr, "text", []string{"UNUSABLE", "connection refused"}},
		{"json", "tcp://" + addr, "json", []string{`"status":"unusable"`, `"reason":"connect ` + addr + `: connection refused`, `"complete":false`}},
		{"prom", "tcp://" + addr, "prom", []string{"# idleprobe: the measurement of tcp://" + addr + " ended without a result (unusable: connect"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			code, stdout, stderr := runCmd(t, context.Background(), "measure", "--timeout", "2s", "--output", tc.output, tc.target)
			if code != exitFailed {
				t.Errorf("exit code %d, want %d", code, exitFailed)
			}
			// The evidence goes to stdout in the chosen format, marked.
			for _, w := range tc.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			if tc.output == "prom" && strings.Contains(stdout, "idleprobe_idle_limit") {
				t.Errorf("an unusable result was exported:\n%s", stdout)
			}
			l := lines(stderr)
			if len(l) != 1 {
				t.Fatalf("stderr has %d lines, want 1:\n%s", len(l), stderr)
			}
			if !strings.HasPrefix(l[0], "idleprobe: measuring "+tc.target+": unusable: ") || !strings.Contains(l[0], "refused") {
				t.Errorf("stderr = %q, want one line naming the target and saying the connection was refused", l[0])
			}
			for _, bad := range []string{"goroutine ", "panic", ".go:"} {
				if strings.Contains(stderr, bad) {
					t.Errorf("stderr contains %q: %s", bad, stderr)
				}
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v to give up on a refused connection", d)
			}
		})
	}
}

// measureResponder runs a full, short measurement of a path with no limit.
func TestMeasureOutputs(t *testing.T) {
	s := startResponder(t)
	httpURL := "http://" + s.HTTPAddr().String() + "/health"
	tcpURL := "tcp://" + s.TCPAddr().String()
	short := []string{"--min", "100ms", "--max", "400ms", "--timeout", "2s"}
	tests := []struct {
		name   string
		args   []string
		check  func(t *testing.T, stdout string)
		target string
	}{
		{
			name: "text", target: httpURL, args: []string{"--output", "text"},
			check: func(t *testing.T, out string) {
				for _, w := range []string{"idleprobe result\n", "Target:         " + httpURL, "no limit up to 400ms (lower bound)", "Advice: nothing to change"} {
					if !strings.Contains(out, w) {
						t.Errorf("summary lacks %q:\n%s", w, out)
					}
				}
				if strings.Contains(out, "\r") {
					t.Errorf("progress redraw written to a non-terminal: %q", out)
				}
			},
		},
		{
			name: "json", target: tcpURL, args: []string{"--output", "json", "--send", `PING\r\n`, "--expect", "PING"},
			check: func(t *testing.T, out string) {
				if !strings.HasSuffix(out, "}\n") || strings.Count(out, "\n") != 1 {
					t.Errorf("want one JSON object and a newline, got %q", out)
				}
				var doc map[string]any
				if err := json.Unmarshal([]byte(out), &doc); err != nil {
					t.Fatalf("output is not JSON: %v\n%s", err, out)
				}
				if doc["target"] != tcpURL || doc["upper_seconds"] != nil || doc["complete"] != true {
					t.Errorf("target %v, upper_seconds %v, complete %v; want %s, null, true", doc["target"], doc["upper_seconds"], doc["complete"], tcpURL)
				}
				if doc["status"] != "measured" || doc["limit_kind"] != "idle" {
					t.Errorf("status %v, limit_kind %v; want measured, idle", doc["status"], doc["limit_kind"])
				}
				// The automatic deadline, resolved with --timeout:
				// 3 x 0.4s + 2 x (1 + 2) x 2s.
				if st, _ := doc["settings"].(map[string]any); st["deadline_seconds"] != 13.2 {
					t.Errorf("settings.deadline_seconds = %v, want 13.2", st["deadline_seconds"])
				}
				if lo, _ := doc["lower_seconds"].(float64); lo < 0.4 {
					t.Errorf("lower_seconds = %v, want >= max (0.4)", doc["lower_seconds"])
				}
				if tr, _ := doc["trials"].([]any); len(tr) == 0 {
					t.Errorf("no trials in the JSON output")
				}
			},
		},
		{
			name: "prom", target: httpURL, args: []string{"--output", "prom", "--name", "web", "--method", "POST", "--body", "hello", "--header", "X-Test: 1"},
			check: func(t *testing.T, out string) {
				for _, w := range []string{
					`idleprobe_idle_limit_seconds{bound="lower",path="web"} 0.4`,
					`idleprobe_idle_limit_found{path="web"} 0`,
					"# TYPE idleprobe_measurement_duration_seconds gauge",
				} {
					if !strings.Contains(out, w) {
						t.Errorf("exposition lacks %q:\n%s", w, out)
					}
				}
				if strings.Contains(out, `,bound="upper"}`) {
					t.Errorf("upper bound exported although no limit was found:\n%s", out)
				}
				promtoolCheck(t, out)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"measure"}, short...), tc.args...)
			code, stdout, stderr := runCmd(t, context.Background(), append(args, tc.target)...)
			if code != exitOK {
				t.Fatalf("exit code %d, want 0; stderr:\n%s", code, stderr)
			}
			tc.check(t, stdout)
		})
	}
}

// promtoolCheck runs `promtool check metrics` on an exposition when
// promtool is installed.
func promtoolCheck(t *testing.T, exposition string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed; skipping its check")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s\n%s", err, out, exposition)
	}
}

func TestMeasureInterrupted(t *testing.T) {
	s := startResponder(t)
	target := "http://" + s.HTTPAddr().String() + "/"
	for _, output := range []string{"text", "json"} {
		t.Run(output, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			timer := time.AfterFunc(1500*time.Millisecond, cancel)
			defer timer.Stop()
			defer cancel()
			start := time.Now()
			code, stdout, stderr := runCmd(t, ctx, "measure", "--min", "250ms", "--max", "1m", "--output", output, target)
			if code != exitInterrupted {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitInterrupted, stderr)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v to stop after the interrupt", d)
			}
			if !strings.Contains(stderr, "interrupted; the result above is partial") {
				t.Errorf("stderr does not say the result is partial: %q", stderr)
			}
			switch output {
			case "text":
				if !strings.Contains(stdout, "PARTIAL result (interrupted") || !strings.Contains(stdout, "no limit seen yet") {
					t.Errorf("text output not marked partial:\n%s", stdout)
				}
			case "json":
				var doc map[string]any
				if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
					t.Fatalf("not JSON: %v\n%s", err, stdout)
				}
				if doc["complete"] != false {
					t.Errorf("complete = %v, want false", doc["complete"])
				}
			}
		})
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, []string{"Commands:", "measure", "simulate", "responder", "demo", "version"}},
		{[]string{"--help"}, []string{"Commands:"}},
		{[]string{"measure", "--help"}, []string{"usage: idleprobe measure", "Exit codes:", "130", "--max=1h", "--header=\"Name: value\"", "--timeout=5s", "--log.level=info"}},
		{[]string{"help", "measure"}, []string{"usage: idleprobe measure"}},
		{[]string{"simulate", "-h"}, []string{"usage: idleprobe simulate", "--limit=15m"}},
		{[]string{"responder", "--help"}, []string{"--http.listen-address=:8080", "--tcp.listen-address=:9090", "--udp.listen-address=:9090", "--push.listen-address=:9092"}},
		{[]string{"demo", "--help"}, []string{"usage: idleprobe demo"}},
		{[]string{"serve", "--help"}, []string{"usage: idleprobe serve", "--web.listen-address=:9958 ...", "--web.config.file", "web.systemd-socket"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCmd(t, context.Background(), tc.args...)
			if code != exitOK {
				t.Errorf("exit code %d, want 0 (stderr %q)", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("help lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	want := version.Print("idleprobe") + "\n"
	if !strings.HasPrefix(want, "idleprobe, version dev (branch: ") || !strings.Contains(want, runtime.Version()) || !strings.Contains(want, runtime.GOOS+"/"+runtime.GOARCH) {
		t.Fatalf("version.Print = %q, want the version (dev without -ldflags), the Go version and the platform", want)
	}
	for _, args := range [][]string{{"version"}, {"--version"}, {"measure", "--version"}} {
		code, stdout, stderr := runCmd(t, context.Background(), args...)
		if code != exitOK || stdout != want || stderr != "" {
			t.Errorf("%v: exit %d, output %q, stderr %q; want 0, %q, nothing", args, code, stdout, stderr, want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantPos []string
		wantMax string
	}{
		{"flags first", []string{"--max", "5s", "http://a/"}, []string{"http://a/"}, "5s"},
		{"flags last", []string{"http://a/", "--max", "5s"}, []string{"http://a/"}, "5s"},
		{"mixed", []string{"x", "--max", "5s", "y"}, []string{"x", "y"}, "5s"},
		{"double dash", []string{"--max", "5s", "--", "--not-a-flag"}, []string{"--not-a-flag"}, "5s"},
		{"none", nil, nil, "1h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCLI(io.Discard, io.Discard)
			if _, err := c.app.Parse(append([]string{"measure"}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			if pos := *c.args["measure"]; strings.Join(pos, "|") != strings.Join(tc.wantPos, "|") {
				t.Errorf("positional = %q, want %q", pos, tc.wantPos)
			}
			if got := durfmt.Short(*c.measure.search.max); got != tc.wantMax {
				t.Errorf("max = %s, want %s", got, tc.wantMax)
			}
		})
	}
}

func TestSimulateCmd(t *testing.T) {
	t.Run("text", func(t *testing.T) {
		code, stdout, stderr := runCmd(t, context.Background(), "simulate", "--limit", "900s", "--mode", "reset")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, w := range []string{"Simulated path: limit 15m (reset)", "strategy", "status", "kind", "wall/T", "parallel    measured  idle", "sequential  measured  idle", "x faster than sequential", ", deadline auto\n"} {
			if !strings.Contains(stdout, w) {
				t.Errorf("table lacks %q:\n%s", w, stdout)
			}
		}
	})
	t.Run("hint", func(t *testing.T) {
		code, stdout, stderr := runCmd(t, context.Background(), "simulate", "--limit", "900s", "--hint", "900s")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, w := range []string{"parallel+hint  measured  idle", "parallel+hint: started from 15m (the previous answer): the limit has not moved",
			"with 8 connections instead of"} {
			if !strings.Contains(stdout, w) {
				t.Errorf("table lacks %q:\n%s", w, stdout)
			}
		}
	})
	t.Run("json", func(t *testing.T) {
		code, stdout, stderr := runCmd(t, context.Background(), "simulate", "--limit", "60s", "--mode", "dropped", "--output", "json")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var doc struct {
			Path struct {
				LimitSeconds float64 `json:"limit_seconds"`
				Mode         string  `json:"mode"`
			} `json:"path"`
			Runs []struct {
				Strategy      string  `json:"strategy"`
				WallOverLimit float64 `json:"wall_over_limit"`
				Result        struct {
					Lower    float64  `json:"lower_seconds"`
					Upper    *float64 `json:"upper_seconds"`
					Mode     string   `json:"mode"`
					Status   string   `json:"status"`
					Kind     string   `json:"limit_kind"`
					Settings struct {
						Deadline float64 `json:"deadline_seconds"`
					} `json:"settings"`
				} `json:"result"`
			} `json:"runs"`
		}
		if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, stdout)
		}
		if doc.Path.LimitSeconds != 60 || doc.Path.Mode != "dropped" || len(doc.Runs) != 2 {
			t.Fatalf("path %+v with %d runs; want 60 s dropped, 2 runs", doc.Path, len(doc.Runs))
		}
		for _, r := range doc.Runs {
			if r.Result.Upper == nil || r.Result.Lower >= 60 || *r.Result.Upper < 60 || r.Result.Mode != "dropped" {
				t.Errorf("%s: bracket (%v, %v] mode %s does not hold the 60 s black hole", r.Strategy, r.Result.Lower, r.Result.Upper, r.Result.Mode)
			}
			if r.Result.Status != "measured" || r.Result.Kind != "idle" || r.Result.Settings.Deadline <= 60 {
				t.Errorf("%s: status %q, kind %q, deadline %vs; want measured, idle, the automatic deadline", r.Strategy, r.Result.Status, r.Result.Kind, r.Result.Settings.Deadline)
			}
			if r.WallOverLimit < 1 {
				t.Errorf("%s: wall/T = %v, cannot be below 1", r.Strategy, r.WallOverLimit)
			}
		}
	})
}

func TestResponderCmd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr outBuf
	done := make(chan int, 1)
	go func() {
		done <- dispatch(ctx, []string{"responder", "--http.listen-address", "127.0.0.1:0", "--tcp.listen-address", "127.0.0.1:0",
			"--udp.listen-address", "127.0.0.1:0", "--push.listen-address", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	listening := []string{`protocol=http address=127.0.0.1:`, `protocol=tcp-echo address=127.0.0.1:`, `protocol=udp address=127.0.0.1:`, `protocol=tcp-push address=127.0.0.1:`}
	waitFor(t, 10*time.Second, "the responder to listen", func() bool {
		select {
		case code := <-done:
			t.Fatalf("responder ended early with exit %d: %s", code, stderr.String())
		default:
		}
		for _, l := range listening {
			if !strings.Contains(stderr.String(), l) {
				return false
			}
		}
		return true
	})
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "responder stopped") {
		t.Errorf("log lacks %q:\n%s", "responder stopped", stderr.String())
	}
}

// TestMeasurePushGateway pushes a complete result to a stand-in Pushgateway
// on loopback and checks what arrives: a PUT under the job, grouped by path.
func TestMeasurePushGateway(t *testing.T) {
	s := startResponder(t)
	target := "http://" + s.HTTPAddr().String() + "/"
	var mu sync.Mutex
	var method, path, body string
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		method, path, body = r.Method, r.URL.Path, string(b)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(gw.Close)

	code, _, stderr := runCmd(t, context.Background(), "measure", "--min", "100ms", "--max", "300ms",
		"--output", "json", "--name", "web", "--push-gateway", gw.URL, target)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if method != http.MethodPut || path != "/metrics/job/idleprobe/path/web" {
		t.Errorf("pushed %s %s, want PUT /metrics/job/idleprobe/path/web", method, path)
	}
	if !strings.Contains(body, "idleprobe_idle_limit_seconds") {
		t.Errorf("pushed body lacks the limit: %q", body)
	}

	code, _, stderr = runCmd(t, context.Background(), "measure", "--push-gateway", "pushgateway:9091", target)
	if code != exitUsage || !strings.Contains(stderr, "--push-gateway") {
		t.Errorf("bad push URL: exit %d, stderr %q; want a usage error naming the flag", code, stderr)
	}
}
