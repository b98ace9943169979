package prober_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/middlebox"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// The keepalive check on loopback. The userspace middlebox times flows by
// the bytes it relays, and TCP keepalive probes carry no payload: the
// middlebox's own kernel socket ACKs them and the proxy never hears of them.
// So through it keepalive must NOT rescue the path, and that is what this
// asserts. (Kernel conntrack is refreshed by probes: the lab's "keepalive
// rescues" scenario proves the rescued case against it.)
func TestMeasureKeepaliveThroughUserspaceMiddlebox(t *testing.T) {
	checkNoLeaks(t) // not parallel: goleak would see the other tests' goroutines
	const T = 1500 * time.Millisecond
	srv := startResponder(t)
	mb := startMiddlebox(t, srv.HTTPAddr(), T, middlebox.Reset)
	var sawCheck atomic.Bool
	var maxLeft atomic.Int64
	r, err := prober.Measure(context.Background(), mustTarget(t, "http://"+mb.String()+"/"), prober.Options{
		Plan:      fastSettings(plan.Parallel, 5*time.Second),
		Transport: prober.TransportOptions{Timeout: 2 * time.Second},
		Keepalive: &prober.KeepaliveCheck{Idle: time.Second, Interval: time.Second, Count: 3},
		Progress: func(p prober.Progress) {
			if p.Keepalive {
				sawCheck.Store(true)
				if p.Partial.Complete || !p.Partial.Found {
					t.Errorf("progress during the check: partial complete=%v found=%v, want the search's bracket, not final", p.Partial.Complete, p.Partial.Found)
				}
				if int64(p.Remaining) > maxLeft.Load() {
					maxLeft.Store(int64(p.Remaining))
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Complete || !r.Found || r.Mode != plan.Reset || r.Lower >= T || r.Upper < T {
		t.Fatalf("search: complete=%v (%s, %s] %s, want a reset bracket around %s", r.Complete, r.Lower, r.Upper, r.Mode, T)
	}
	if !r.KeepaliveChecked || r.KeepaliveRescues {
		t.Fatalf("keepalive: checked=%v rescues=%v (%s), want checked and not rescued", r.KeepaliveChecked, r.KeepaliveRescues, r.KeepaliveDetail)
	}
	if r.KeepaliveIdle != time.Second || r.KeepaliveInterval != time.Second || r.KeepaliveCount != 3 {
		t.Errorf("keepalive settings %s/%s/%d, want 1s/1s/3", r.KeepaliveIdle, r.KeepaliveInterval, r.KeepaliveCount)
	}
	hold := prober.KeepaliveCheck{Idle: time.Second}.HoldFor(r.Upper, r.Settings.Max)
	if r.KeepaliveHeld < hold-10*time.Millisecond || r.KeepaliveHeld > hold+500*time.Millisecond {
		t.Errorf("held %s idle, want about %s", r.KeepaliveHeld, hold)
	}
	if !strings.Contains(r.KeepaliveDetail, "reset") {
		t.Errorf("outcome %q, want the middlebox's reset on reuse", r.KeepaliveDetail)
	}
	if !sawCheck.Load() {
		t.Error("no progress snapshot during the keepalive check")
	} else if left := time.Duration(maxLeft.Load()); left < hold {
		t.Errorf("progress during the check said %s left, want at least the hold %s", left, hold)
	}
	// The search is untouched by the check: its time ends before it.
	if r.Duration() >= r.KeepaliveHeld+r.Upper {
		t.Errorf("duration %s includes the check", r.Duration())
	}
}

// No limit up to max: nothing to rescue, the check is not run.
func TestMeasureKeepaliveNotNeeded(t *testing.T) {
	t.Parallel()
	srv := startResponder(t)
	r, err := prober.Measure(context.Background(), mustTarget(t, "http://"+srv.HTTPAddr().String()+"/"), prober.Options{
		Plan:      fastSettings(plan.Parallel, time.Second),
		Keepalive: &prober.KeepaliveCheck{Idle: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Found || r.KeepaliveChecked || r.KeepaliveHeld != 0 {
		t.Errorf("found=%v checked=%v held=%s, want no limit and no check", r.Found, r.KeepaliveChecked, r.KeepaliveHeld)
	}
	if r.KeepaliveIdle != time.Second || !strings.Contains(r.KeepaliveDetail, "not needed") {
		t.Errorf("idle %s, outcome %q: want the asked settings and why it was not run", r.KeepaliveIdle, r.KeepaliveDetail)
	}
}

// Cancelled during the check: the search result is returned complete, with
// no error, and the check is marked not done.
func TestMeasureKeepaliveInterrupted(t *testing.T) {
	checkNoLeaks(t) // not parallel: goleak would see the other tests' goroutines
	srv := startResponder(t)
	mb := startMiddlebox(t, srv.HTTPAddr(), time.Second, middlebox.Reset)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once atomic.Bool
	r, err := prober.Measure(ctx, mustTarget(t, "http://"+mb.String()+"/"), prober.Options{
		Plan:      fastSettings(plan.Parallel, 5*time.Second),
		Keepalive: &prober.KeepaliveCheck{Idle: 5 * time.Second},
		Progress: func(p prober.Progress) {
			if p.Keepalive && !once.Swap(true) {
				// Progress says the check holds its connection idle (for
				// 5 s): cancel during that hold, not at its very start.
				time.AfterFunc(200*time.Millisecond, cancel)
			}
		},
	})
	if err != nil {
		t.Fatalf("err = %v, want nil: the search finished", err)
	}
	if !r.Complete || !r.Found {
		t.Fatalf("complete=%v found=%v, want the complete search result", r.Complete, r.Found)
	}
	if r.KeepaliveChecked || !strings.Contains(r.KeepaliveDetail, "interrupted") {
		t.Errorf("checked=%v outcome %q, want not checked, interrupted", r.KeepaliveChecked, r.KeepaliveDetail)
	}
}

func TestMeasureRejectsBadKeepalive(t *testing.T) {
	_, err := prober.Measure(context.Background(), mustTarget(t, "http://127.0.0.1:1/"), prober.Options{
		Keepalive: &prober.KeepaliveCheck{Idle: 500 * time.Millisecond},
	})
	if err == nil || !strings.Contains(err.Error(), "whole number of seconds") {
		t.Errorf("err = %v, want the keepalive idle rejected", err)
	}
}
