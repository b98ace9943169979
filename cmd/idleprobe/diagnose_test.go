package main

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/middlebox"
)

// TestDiagnoseMiddlebox: the responder measured directly and through the
// demo middlebox (it forgets flows idle for 1 s and resets them) at once,
// from one budget: the direct path has no limit, the middlebox path a reset
// near 1 s, and the verdict names the middlebox path, in text and JSON.
// The whole run ends within the measurement deadline.
func TestDiagnoseMiddlebox(t *testing.T) {
	resp := startResponder(t)
	mb := startDemoMiddlebox(t, resp.HTTPAddr())
	direct := "http://" + resp.HTTPAddr().String() + "/"
	via := "http://" + mb.Addr().String() + "/"
	args := []string{"diagnose", "--min", "200ms", "--max", "2500ms", "--timeout", "1s", "--budget", "12", "--max-connections", "16", "--deadline", "20s"}

	start := time.Now()
	code, out, errOut := runCmd(t, context.Background(), append(args, "--output", "json", "pod="+direct, "nodeport="+via)...)
	if took := time.Since(start); took > 20*time.Second+5*time.Second {
		t.Errorf("diagnose took %s, more than its 20s deadline plus closing", took)
	}
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s\nstdout:\n%s", code, errOut, out)
	}
	var got struct {
		Paths []struct {
			Name, Target, Status, Limit string
			Result                      struct {
				Mode         string   `json:"mode"`
				LowerSeconds float64  `json:"lower_seconds"`
				UpperSeconds *float64 `json:"upper_seconds"`
			}
		}
		Verdict struct {
			Owner string
			Steps []string
			Text  string
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(got.Paths) != 2 || got.Paths[0].Name != "pod" || got.Paths[1].Name != "nodeport" || got.Paths[1].Target != via {
		t.Fatalf("paths not in the order given: %+v", got.Paths)
	}
	pod, np := got.Paths[0], got.Paths[1]
	if pod.Status != "measured" || pod.Result.UpperSeconds != nil || pod.Result.LowerSeconds < 2.5 {
		t.Errorf("direct path: %+v, want measured, no limit up to 2.5s", pod)
	}
	if np.Status != "measured" || np.Result.Mode != "reset" || np.Result.UpperSeconds == nil ||
		np.Result.LowerSeconds > 1.0 || *np.Result.UpperSeconds < 0.9 || *np.Result.UpperSeconds > 1.5 {
		t.Errorf("middlebox path: %+v, want a reset bracketing 1s", np)
	}
	if got.Verdict.Owner != "nodeport" || len(got.Verdict.Steps) != 1 || !strings.HasPrefix(got.Verdict.Text, "the nodeport hop owns it: reset at ") {
		t.Errorf("verdict %+v, want the nodeport hop", got.Verdict)
	}
	t.Logf("json verdict: %s", got.Verdict.Text)

	// Text, with the paths the other way round: the middlebox path first
	// has the limit already, so it is named as the nearest path.
	code, out, errOut = runCmd(t, context.Background(), append(args, via, direct)...)
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	t.Logf("text output:\n%s", out)
	ls := lines(out)
	if len(ls) != 4 || !strings.HasPrefix(ls[0], "PATH") || !strings.HasPrefix(ls[1], mb.Addr().String()+" ") ||
		!strings.Contains(ls[1], "reset at ") || !strings.Contains(ls[2], "no limit up to 2.50s") ||
		!strings.HasPrefix(ls[3], "-> "+mb.Addr().String()+" owns it: reset at ") {
		t.Errorf("text output:\n%s", out)
	}
}

// TestDiagnoseFailures: a path that cannot be measured is reported on its
// line and on stderr, the others are still compared, and the exit code is
// 1; bad arguments are usage errors naming the argument or flag.
func TestDiagnoseFailures(t *testing.T) {
	resp := startResponder(t)
	direct := "tcp://" + resp.TCPAddr().String()
	refused := "tcp://" + closedPort(t)
	code, out, errOut := runCmd(t, context.Background(), "diagnose", "--min", "100ms", "--max", "300ms", "--timeout", "1s", "a="+direct, "b="+refused)
	if code != exitFailed || !strings.Contains(errOut, "idleprobe: b: unusable: ") || !strings.Contains(errOut, "connection refused") {
		t.Errorf("exit %d, stderr %q, want 1 and b's reason", code, errOut)
	}
	if !strings.Contains(out, "-> no path has a limit: every measured path survived its longest idle time (not measured, left out: b)") {
		t.Errorf("stdout lacks the verdict without b:\n%s", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{direct}, "diagnose needs two or more PATHs to compare, got 1"},
		{[]string{"a=" + direct, "a=" + refused}, `PATH 2: "a" is given twice`},
		{[]string{direct, direct}, `PATH 2: "` + direct + `" is given twice`},
		{[]string{direct, "x=ftp://h/"}, `PATH 2: target "ftp://h/": unknown scheme "ftp"`},
		{[]string{"--ip-family", "5", direct, refused}, `--ip-family: "5" is not an address family (valid: 4, 6, both`},
		{[]string{"--max-connections", "1", direct, refused}, "--max-connections: 1 is too few"},
		{[]string{"--min", "2s", "--max", "1s", direct, refused}, "--min"},
	} {
		code, _, errOut := runCmd(t, context.Background(), append([]string{"diagnose"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("diagnose %v: exit %d, stderr %q, want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

// startDemoMiddlebox runs the demo middlebox (it forgets flows idle for
// 1 s) in front of upstream for the test.
func startDemoMiddlebox(t *testing.T, upstream net.Addr) *middlebox.Proxy {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	mb, err := middlebox.New(ctx, middlebox.Config{Upstream: upstream.String(), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mb.Close() })
	return mb
}
