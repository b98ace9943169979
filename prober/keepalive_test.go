package prober

import (
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

func TestKeepaliveCheckValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		k    KeepaliveCheck
		want string // "" for valid
	}{
		{"valid", KeepaliveCheck{Idle: 30 * time.Second, Interval: 75 * time.Second, Count: 9}, ""},
		{"defaults", KeepaliveCheck{Idle: time.Second}, ""},
		{"no idle", KeepaliveCheck{}, "keepalive idle: 0s must be positive"},
		{"negative interval", KeepaliveCheck{Idle: time.Second, Interval: -time.Second}, "keepalive interval: -1s must be positive"},
		{"sub-second idle", KeepaliveCheck{Idle: 300 * time.Millisecond}, "keepalive idle: 300ms is not a whole number of seconds"},
		{"fractional interval", KeepaliveCheck{Idle: time.Second, Interval: 1500 * time.Millisecond}, "keepalive interval: 1.5s is not a whole number of seconds"},
		{"negative count", KeepaliveCheck{Idle: time.Second, Count: -1}, "keepalive count: -1 must be at least 1"},
		{"negative hold", KeepaliveCheck{Idle: time.Second, Hold: -time.Second}, "keepalive hold: -1s must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.k.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestKeepaliveHoldFor(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct {
		name       string
		k          KeepaliveCheck
		upper, max time.Duration
		want       time.Duration
	}{
		// Idle below the limit: the first probe refreshes the flow, which
		// then expires at Idle+limit unless later probes refresh it too.
		{"idle below the limit", KeepaliveCheck{Idle: 30 * s}, 900 * s, 3600 * s, 1380 * s},
		{"short limit", KeepaliveCheck{Idle: 1 * s}, 3 * s, 10 * s, 5500 * time.Millisecond},
		// Idle at or above the limit: the flow dies before any probe.
		{"idle above the limit", KeepaliveCheck{Idle: 5 * s}, 3 * s, 10 * s, 4500 * time.Millisecond},
		{"capped at 2 x max", KeepaliveCheck{Idle: 90 * s}, 100 * s, 100 * s, 200 * s},
		{"explicit hold", KeepaliveCheck{Idle: 30 * s, Hold: 7 * s}, 100 * s, 200 * s, 7 * s},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.k.HoldFor(tc.upper, tc.max)
			if got != tc.want {
				t.Errorf("HoldFor(%s, %s) = %s, want %s", tc.upper, tc.max, got, tc.want)
			}
			if tc.k.Hold == 0 && got <= tc.upper && tc.upper < tc.max {
				t.Errorf("hold %s does not go past the limit %s", got, tc.upper)
			}
		})
	}
}

func TestKeepaliveConfigDefaults(t *testing.T) {
	c := KeepaliveCheck{Idle: 7 * time.Second}.config()
	if !c.Enable || c.Idle != 7*time.Second || c.Interval != 7*time.Second || c.Count != DefaultKeepaliveCount {
		t.Errorf("config() = %+v, want enabled, idle 7s, interval 7s (= idle), count %d", *c, DefaultKeepaliveCount)
	}
	c = KeepaliveCheck{Idle: 30 * time.Second, Interval: 75 * time.Second, Count: 3}.config()
	if c.Interval != 75*time.Second || c.Count != 3 {
		t.Errorf("config() = %+v, want interval 75s, count 3", *c)
	}
}

func TestKeepaliveCheckableByKind(t *testing.T) {
	base := plan.Result{Complete: true, Found: true, Upper: 5 * time.Second, Kind: plan.Idle}
	if ok, why := checkable(base); !ok {
		t.Errorf("an idle limit is checkable, got %q", why)
	}
	life := base
	life.Kind = plan.Lifetime
	if ok, why := checkable(life); ok || !strings.Contains(why, "lifetime") {
		t.Errorf("a lifetime: got checkable=%v %q, want not checked, saying why", ok, why)
	}
}
