package prober_test

import (
	"strings"
	"testing"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// TestMeasureWSThroughResettingMiddlebox: WebSocket to the responder's echo
// through a middlebox that forgets idle flows: a reuse (an echoed message)
// finds its timeout.
func TestMeasureWSThroughResettingMiddlebox(t *testing.T) {
	checkNoLeaks(t)
	r := measureThroughReset(t, startResponder(t).HTTPAddr(), "ws://MB/", plan.Parallel, prober.TransportOptions{})
	if r.Kind != plan.Idle {
		t.Errorf("kind %s, want idle", r.Kind)
	}
	for _, tr := range r.Trials {
		if tr.Outcome == plan.OK && !strings.HasPrefix(tr.Detail, "answered") {
			t.Errorf("ok trial with detail %q, want an echoed message", tr.Detail)
		}
	}
}

// TestMeasureGRPCThroughResettingMiddlebox: gRPC health checks to the
// responder through a middlebox that forgets idle flows.
func TestMeasureGRPCThroughResettingMiddlebox(t *testing.T) {
	checkNoLeaks(t)
	r := measureThroughReset(t, startResponder(t).HTTPAddr(), "grpc://MB", plan.Parallel, prober.TransportOptions{GRPCService: "idleprobe"})
	if r.Kind != plan.Idle {
		t.Errorf("kind %s, want idle", r.Kind)
	}
	for _, tr := range r.Trials {
		if tr.Outcome == plan.OK && tr.Detail != "SERVING" {
			t.Errorf("ok trial with detail %q, want SERVING", tr.Detail)
		}
	}
}
