package prober_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/middlebox"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// TestMeasureWSThroughResettingMiddlebox: WebSocket to the responder's echo
// through a middlebox that forgets idle flows: a reuse (an echoed message)
// finds its timeout.
func TestMeasureWSThroughResettingMiddlebox(t *testing.T) {
	checkNoLeaks(t)
	const T = 1500 * time.Millisecond
	srv := startResponder(t)
	mb := startMiddlebox(t, srv.HTTPAddr(), T, middlebox.Reset)
	r, err := prober.Measure(context.Background(), mustTarget(t, "ws://"+mb.String()+"/"),
		prober.Options{Plan: fastSettings(plan.Parallel, 5*time.Second), Transport: prober.TransportOptions{Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatalf("measure: %v", err)
	}
	if !r.Found || r.Lower >= T || r.Upper < T {
		t.Fatalf("bracket found=%v (%s, %s] does not contain %s", r.Found, r.Lower, r.Upper, T)
	}
	if w := r.Upper - r.Lower; w > 250*time.Millisecond {
		t.Errorf("bracket %s wide, want <= 250ms", w)
	}
	if r.Mode != plan.Reset || r.Kind != plan.Idle {
		t.Errorf("mode %s kind %s, want reset, idle", r.Mode, r.Kind)
	}
	for _, tr := range r.Trials {
		if tr.Outcome == plan.OK && !strings.HasPrefix(tr.Detail, "answered") {
			t.Errorf("ok trial with detail %q, want an echoed message", tr.Detail)
		}
	}
	t.Logf("ws: (%s, %s] %s in %s, %d connections", r.Lower, r.Upper, r.Mode, r.Duration(), r.ConnectionsOpened)
}

// TestMeasureGRPCThroughResettingMiddlebox: gRPC health checks to the
// responder through a middlebox that forgets idle flows.
func TestMeasureGRPCThroughResettingMiddlebox(t *testing.T) {
	checkNoLeaks(t)
	const T = 1500 * time.Millisecond
	srv := startResponder(t)
	mb := startMiddlebox(t, srv.HTTPAddr(), T, middlebox.Reset)
	r, err := prober.Measure(context.Background(), mustTarget(t, "grpc://"+mb.String()),
		prober.Options{Plan: fastSettings(plan.Parallel, 5*time.Second), Transport: prober.TransportOptions{Timeout: 2 * time.Second, GRPCService: "idleprobe"}})
	if err != nil {
		t.Fatalf("measure: %v", err)
	}
	if !r.Found || r.Lower >= T || r.Upper < T {
		t.Fatalf("bracket found=%v (%s, %s] does not contain %s", r.Found, r.Lower, r.Upper, T)
	}
	if w := r.Upper - r.Lower; w > 250*time.Millisecond {
		t.Errorf("bracket %s wide, want <= 250ms", w)
	}
	if r.Mode != plan.Reset || r.Kind != plan.Idle {
		t.Errorf("mode %s kind %s, want reset, idle", r.Mode, r.Kind)
	}
	for _, tr := range r.Trials {
		if tr.Outcome == plan.OK && tr.Detail != "SERVING" {
			t.Errorf("ok trial with detail %q, want SERVING", tr.Detail)
		}
	}
	t.Logf("grpc: (%s, %s] %s in %s, %d connections", r.Lower, r.Upper, r.Mode, r.Duration(), r.ConnectionsOpened)
}
