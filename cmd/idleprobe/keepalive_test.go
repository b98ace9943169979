package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

func TestParseKeepalive(t *testing.T) {
	const s = time.Second
	tests := []struct {
		in   string
		want prober.KeepaliveCheck
		err  string // fragment of the error; "" for valid input
	}{
		{in: "30s", want: prober.KeepaliveCheck{Idle: 30 * s}},
		{in: "30s,75s", want: prober.KeepaliveCheck{Idle: 30 * s, Interval: 75 * s}},
		{in: "30s,75s,9", want: prober.KeepaliveCheck{Idle: 30 * s, Interval: 75 * s, Count: 9}},
		{in: "2m, 1m, 3", want: prober.KeepaliveCheck{Idle: 2 * time.Minute, Interval: time.Minute, Count: 3}},
		{in: "", err: `"": idle is empty`},
		{in: "30", err: `idle "30" is not a duration (example: 30s,75s,9)`},
		{in: "500ms", err: "idle 500ms is not a whole number of seconds"},
		{in: "30s,1.5s", err: "interval 1.5s is not a whole number of seconds"},
		{in: "0s", err: "idle 0s must be positive"},
		{in: "30s,-1s", err: "interval -1s must be positive"},
		{in: "30s,,9", err: "interval is empty"},
		{in: "30s,75s,0", err: `count "0" must be a whole number of probes, at least 1`},
		{in: "30s,75s,many", err: `count "many" must be a whole number`},
		{in: "1s,1s,1,1", err: "has 4 parts, want IDLE[,INTERVAL[,COUNT]]"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			k, err := parseKeepalive(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseKeepalive(%q) = %v, %v; want an error containing %q", tc.in, k, err, tc.err)
				}
				return
			}
			if err != nil || *k != tc.want {
				t.Fatalf("parseKeepalive(%q) = %+v, %v; want %+v", tc.in, k, err, tc.want)
			}
			if err := k.Validate(); err != nil {
				t.Errorf("the prober rejects what the flag accepted: %v", err)
			}
		})
	}
}

func TestKeepaliveFlagUsageErrors(t *testing.T) {
	url := "http://127.0.0.1:1/"
	for _, tc := range []struct {
		name string
		arg  string
		want string
	}{
		{"sub-second", "300ms", `idleprobe: --keepalive: "300ms": idle 300ms is not a whole number of seconds`},
		{"bad count", "1s,1s,x", `idleprobe: --keepalive: "1s,1s,x": count "x" must be a whole number of probes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, context.Background(), "measure", "--keepalive", tc.arg, url)
			if code != exitUsage || stdout != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing", code, stdout, exitUsage)
			}
			if got := lines(stderr); len(got) != 1 || !strings.HasPrefix(got[0], tc.want) {
				t.Errorf("stderr = %q, want one line starting %q", stderr, tc.want)
			}
		})
	}
}

// checked returns a 3 s reset result with a keepalive check at idle 1s.
func checked(rescues bool, detail string) prober.Result {
	r := prober.Result{
		Target: "http://192.0.2.1/", Settings: plan.Defaults(), Complete: true, Found: true, Mode: plan.Reset,
		Lower: 2900 * time.Millisecond, Upper: 3100 * time.Millisecond,
		KeepaliveIdle: time.Second, KeepaliveInterval: time.Second, KeepaliveCount: 9,
		KeepaliveChecked: true, KeepaliveRescues: rescues, KeepaliveHeld: 5650 * time.Millisecond, KeepaliveDetail: detail,
	}
	r.Finished = r.Started.Add(3200 * time.Millisecond)
	return r
}

func TestKeepaliveSummary(t *testing.T) {
	notChecked := checked(false, "not checked: interrupted after 1.2s of 5.65s idle")
	notChecked.KeepaliveChecked, notChecked.KeepaliveHeld = false, 1200*time.Millisecond
	noCheck := checked(false, "")
	noCheck.KeepaliveIdle, noCheck.KeepaliveChecked = 0, false
	tests := []struct {
		name       string
		r          prober.Result
		wantLine   string // "" for no keepalive line
		wantAdvice string
	}{
		{
			name:       "rescued",
			r:          checked(true, "reuse after 5.65s idle: ok (200 OK)"),
			wantLine:   "  TCP keepalive (idle 1s, interval 1s): keeps the path alive past its limit (held 5.65s)\n",
			wantAdvice: "below 2.6 s, or keep TCP keepalive as it is (idle 1s): it keeps this path alive.\n",
		},
		{
			name:       "not rescued",
			r:          checked(false, "reuse after 5.65s idle: reset (connection reset by peer)"),
			wantLine:   "  TCP keepalive (idle 1s, interval 1s): does NOT keep it alive past its limit (reuse after 5.65s idle: reset (connection reset by peer))\n",
			wantAdvice: "below 2.6 s. TCP keepalive at idle 1s, interval 1s does not help on this path (a shorter keepalive idle and interval, below the limit, might).\n",
		},
		{
			name:       "not checked",
			r:          notChecked,
			wantLine:   "  TCP keepalive (idle 1s, interval 1s): not checked: interrupted after 1.2s of 5.65s idle\n",
			wantAdvice: "below 2.6 s, or enable TCP keepalive with an idle time below that.\n",
		},
		{
			name:       "not asked",
			r:          noCheck,
			wantAdvice: "below 2.6 s, or enable TCP keepalive with an idle time below that.\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			writeSummary(&b, tc.r)
			out := b.String()
			if tc.wantLine != "" && !strings.Contains(out, "\n"+tc.wantLine) {
				t.Errorf("summary lacks %q:\n%s", tc.wantLine, out)
			}
			if tc.wantLine == "" && strings.Contains(out, "TCP keepalive (") {
				t.Errorf("summary has a keepalive line without a check:\n%s", out)
			}
			adv := lineWith(out, "Advice:")
			if !strings.HasSuffix(adv+"\n", tc.wantAdvice) {
				t.Errorf("advice = %q, want it to end with %q", adv, tc.wantAdvice)
			}
			// The keepalive line comes before the advice.
			if tc.wantLine != "" && strings.Index(out, "TCP keepalive (") > strings.Index(out, "Advice:") {
				t.Errorf("keepalive line after the advice:\n%s", out)
			}
		})
	}
}

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

func TestProgressLineKeepalive(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := progressSnap{at: start.Add(4 * time.Second), started: start, lower: 2900 * time.Millisecond, upper: 3100 * time.Millisecond,
		found: true, live: 1, trials: 30, remaining: 7 * time.Second, keepalive: true}
	want := "5.0s elapsed | limit in (2.90s, 3.10s] | checking TCP keepalive... | 1 live conn | 30 trials | about 6s left"
	if got := progressLine(s, start.Add(5*time.Second)); got != want {
		t.Errorf("progressLine = %q\nwant %q", got, want)
	}
	if got := snapOf(prober.Progress{Keepalive: true}); !got.keepalive {
		t.Error("snapOf drops Progress.Keepalive")
	}
}

// measure --keepalive on a path without a limit: the summary says why the
// check was not run, and JSON carries the asked settings.
func TestMeasureKeepaliveNoLimit(t *testing.T) {
	s := startResponder(t)
	target := "http://" + s.HTTPAddr().String() + "/"
	args := []string{"measure", "--min", "100ms", "--max", "400ms", "--timeout", "2s", "--keepalive", "30s,75s,9"}
	code, out, stderr := runCmd(t, context.Background(), append(args, target)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := "  TCP keepalive (idle 30s, interval 75s): not needed: no idle limit up to 400ms"; !strings.Contains(out, want) {
		t.Errorf("summary lacks %q:\n%s", want, out)
	}
	code, out, stderr = runCmd(t, context.Background(), append(args, "--output", "json", target)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := `"keepalive":{"idle_seconds":30,"interval_seconds":75,"count":9,"held_seconds":0,"rescues":null,`; !strings.Contains(out, want) {
		t.Errorf("JSON lacks %s:\n%s", want, out)
	}
}
