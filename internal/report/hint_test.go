package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// The summary says where a hinted search started and whether the limit
// was still there; an unhinted one says nothing about hints.
func TestSummaryHint(t *testing.T) {
	found := func(r *prober.Result) {
		r.Found, r.Lower, r.Upper, r.Mode, r.Status, r.Kind = true, 899*time.Second, 903*time.Second, plan.Reset, plan.Measured, plan.Idle
	}
	for _, tc := range []struct {
		name string
		hint plan.HintInfo
		want string
	}{
		{"none", plan.HintInfo{}, ""},
		{"held", plan.HintInfo{From: 15 * time.Minute, Held: true}, "  Hint:           started from 15m (the previous answer): the limit has not moved\n"},
		{"moved", plan.HintInfo{From: 12 * time.Minute}, "  Hint:           started from 12m (the previous answer): the trials contradicted it; the search went on from what they showed\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			WriteSummary(&b, result(func(r *prober.Result) { found(r); r.Hint = tc.hint }))
			got := b.String()
			if tc.want == "" && strings.Contains(got, "Hint") || !strings.Contains(got, tc.want) {
				t.Errorf("summary:\n%s\nwant the line %q", got, tc.want)
			}
		})
	}
}
