package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

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
			WriteSummary(&b, tc.r)
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
	want := "5.0s elapsed | limit in (2.90s, 3.10s] | checking TCP keepalive... | about 6s left | 1 conn open | 30 trials"
	if got := progressLine(s, start.Add(5*time.Second), 0); got != want {
		t.Errorf("progressLine = %q\nwant %q", got, want)
	}
	if got := snapOf(prober.Progress{Keepalive: true}); !got.keepalive {
		t.Error("snapOf drops Progress.Keepalive")
	}
}
