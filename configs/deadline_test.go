package configs

import (
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// TestWorstCase checks that a path's worst case is its deadline: the
// explicit one, or plan.AutoDeadline for its settings and trial timeout
// (one definition, which the prober enforces).
func TestWorstCase(t *testing.T) {
	cfg, _ := mustParse(t, `paths:
  - name: auto
    target: http://192.0.2.1/
    max_idle: 10m
    trial_timeout: 2s
  - name: seq
    target: http://192.0.2.1/
    max_idle: 10m
    trial_timeout: 2s
    strategy: sequential
  - name: explicit
    target: http://192.0.2.1/
    max_idle: 10m
    deadline: 45m
`, "w.yml")
	tests := []struct {
		name string
		want time.Duration
	}{
		// 3 x 10m + 2 x (1 + 2) x 2s
		{"auto", 30*time.Minute + 12*time.Second},
		// 12 x 10m + 2 x (1 + 2) x 2s
		{"seq", 120*time.Minute + 12*time.Second},
		{"explicit", 45 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := cfg.Path(tc.name)
			if got := p.WorstCase(); got != tc.want {
				t.Errorf("WorstCase = %s, want %s", got, tc.want)
			}
			if got := p.EffectiveDeadline(); got != plan.AutoDeadline(p.Settings(), p.TrialTimeout) && p.Deadline == 0 {
				t.Errorf("EffectiveDeadline = %s, want plan.AutoDeadline %s", got, plan.AutoDeadline(p.Settings(), p.TrialTimeout))
			}
			// The prober runs with the same deadline.
			if _, opts := p.Measurement(); opts.Plan.Deadline != tc.want {
				t.Errorf("Measurement().Plan.Deadline = %s, want %s", opts.Plan.Deadline, tc.want)
			}
		})
	}
	huge := builtin()
	huge.Name, huge.Target, huge.Strategy = "h", "tcp://192.0.2.1:1", plan.Sequential
	huge.MaxIdle = time.Duration(1<<63 - 1)
	if got := huge.WorstCase(); got <= 0 {
		t.Errorf("worst case overflowed to %v", got)
	}
}
