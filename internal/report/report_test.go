package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// endingMeasure returns a stand-in for prober.Measure that ends the way a
// measurement ends on a path with no clean answer, and records the
// deadline it was given.
func endingMeasure(status plan.Status, deadline *time.Duration) func(context.Context, prober.Target, prober.Options) (prober.Result, error) {
	return func(_ context.Context, target prober.Target, opts prober.Options) (prober.Result, error) {
		*deadline = opts.Plan.Deadline
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		r := prober.Result{
			Target: target.String(), Settings: opts.Plan, Status: status, Kind: plan.Idle,
			Started: start, Finished: start.Add(opts.Plan.Deadline), ConnectionsOpened: 40, PeakConnections: 12,
			Trials: []plan.Trial{{Conn: 1, Age: time.Second, Outcome: plan.OK}, {Conn: 2, Age: 4 * time.Second, Outcome: plan.Reset}},
		}
		switch status {
		case plan.Inconclusive:
			r.Found, r.Mode, r.Lower, r.Upper, r.Agree, r.Disagree = true, plan.Reset, 3*time.Second, 9*time.Second, 31, 7
			r.Reason = "no clean answer within the deadline of " + opts.Plan.Deadline.String()
			return r, fmt.Errorf("%w: deadline reached", prober.ErrInconclusive)
		default:
			r.Reason = "the connection is closed on every reuse whatever its idle time"
			return r, fmt.Errorf("%w: %s", prober.ErrUnusable, r.Reason)
		}
	}
}

// TestMeasureEndsWithoutCleanAnswer checks what `measure` does with a
// measurement that ends inconclusive or unusable: the partial result on
// stdout in the chosen format, marked as such, an error of one line saying
// why (the command prints it on stderr and exits 1), nothing pushed; and
// that it ran with the automatic deadline.
func TestMeasureEndsWithoutCleanAnswer(t *testing.T) {
	var pushes atomic.Int32
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { pushes.Add(1) }))
	t.Cleanup(gw.Close)
	target, err := prober.ParseTarget("http://192.0.2.7:8080/")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		status plan.Status
		output string
		stdout []string
		err    string
	}{
		{plan.Inconclusive, "text", []string{
			"idleprobe PARTIAL result (inconclusive; the bracket below is the evidence so far)\n",
			"  Status:         inconclusive: no clean answer within the deadline of 30m12s; limit in (3.0s, 9.0s] so far; 7 of 38 trials contradict it\n",
			"  Idle limit:     limit in (3.0s, 9.0s] so far (reset)\n",
		}, "measuring http://192.0.2.7:8080/: inconclusive: no clean answer within the deadline of 30m12s; limit in (3.0s, 9.0s] so far; 7 of 38 trials contradict it"},
		{plan.Inconclusive, "json", []string{`"status":"inconclusive"`, `"reason":"no clean answer within the deadline of 30m12s"`, `"disagree":7`, `"deadline_seconds":1812`}, "inconclusive: "},
		{plan.Inconclusive, "prom", []string{"# idleprobe: the measurement of http://192.0.2.7:8080/ ended without a result (inconclusive: "}, "inconclusive: "},
		{plan.Unusable, "text", []string{
			"idleprobe result: UNUSABLE target (nothing below is a limit)\n",
			"  Status:         unusable: the connection is closed on every reuse whatever its idle time\n",
			"--send and --expect",
		}, "measuring http://192.0.2.7:8080/: unusable: the connection is closed on every reuse whatever its idle time"},
		{plan.Unusable, "json", []string{`"status":"unusable"`, `"complete":false`}, "unusable: "},
	}
	for _, tc := range tests {
		t.Run(string(tc.status)+" "+tc.output, func(t *testing.T) {
			s := plan.Defaults()
			s.Max = 10 * time.Minute
			opts := prober.Options{Plan: s, Transport: prober.TransportOptions{Timeout: 2 * time.Second}}
			var deadline time.Duration
			var stdout bytes.Buffer
			before := pushes.Load()
			r, err := Measure(t.Context(), target, opts, Options{
				Output: tc.output, Name: "web", PushURL: gw.URL, Measure: endingMeasure(tc.status, &deadline),
			}, &stdout)
			if err == nil || errors.Is(err, ErrInterrupted) {
				t.Fatalf("error %v, want one that is not an interruption (exit 1)", err)
			}
			// 3 x 10m + 2 x (1 + 2) x 2s
			if want := 30*time.Minute + 12*time.Second; deadline != want {
				t.Errorf("measured with deadline %s, want the automatic %s", deadline, want)
			}
			if r.Status != tc.status {
				t.Errorf("returned status %q, want %q", r.Status, tc.status)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			if tc.output == "json" {
				// The document reads back as the result it was written from.
				var back prober.Result
				if err := json.Unmarshal(stdout.Bytes(), &back); err != nil {
					t.Fatalf("stdout is not a result: %v", err)
				}
				if back.Status != r.Status || back.Reason != r.Reason || back.Kind != r.Kind || back.Disagree != r.Disagree ||
					back.Lower != r.Lower || back.Upper != r.Upper || back.Settings.Deadline != deadline || len(back.Trials) != len(r.Trials) {
					t.Errorf("JSON reads back as %+v, want %+v", back, r)
				}
			}
			if tc.output == "prom" && strings.Contains(stdout.String(), "idleprobe_idle_limit") {
				t.Errorf("a partial result was exported:\n%s", stdout.String())
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tc.err) {
				t.Errorf("error = %q, want one line containing %q", msg, tc.err)
			}
			if n := pushes.Load() - before; n != 0 {
				t.Errorf("%d pushes to the Pushgateway, want none", n)
			}
		})
	}
}
