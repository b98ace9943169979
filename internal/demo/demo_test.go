package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestDemoEndToEnd runs the demo in-process: the real responder, the
// userspace middlebox and the measure code path over loopback sockets.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end demo takes a few seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	r, code := runDemo(ctx, demoConfig{limit: demoLimit}, &stdout, &stderr)
	took := time.Since(start)
	t.Logf("demo output:\n%s%s", stdout.String(), stderr.String())
	if code != exitOK {
		t.Fatalf("exit code %d, want 0", code)
	}
	if !r.Complete || !r.Found {
		t.Fatalf("result complete=%v found=%v, want a complete result with a limit", r.Complete, r.Found)
	}
	if !(r.Lower < demoLimit+demoTolerance && r.Upper >= demoLimit-demoTolerance) {
		t.Errorf("bracket (%v, %v] does not contain the middlebox timeout %v", r.Lower, r.Upper, demoLimit)
	}
	maxWidth := max(time.Duration(0.02*float64(demoLimit)), 250*time.Millisecond)
	if w := r.Upper - r.Lower; w > maxWidth {
		t.Errorf("bracket width %v, want <= %v", w, maxWidth)
	}
	if r.Mode != "reset" {
		t.Errorf("mode %q, want reset", r.Mode)
	}
	if took > 30*time.Second {
		t.Errorf("demo took %v, want well under a minute", took)
	}
	out := stdout.String()
	for _, w := range []string{
		"A pretend load balancer forgets idle connections after 3s",
		"reset by a hop (RST) after",
		"Advice: keep client idle timeouts",
		"Found it:",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("demo output lacks %q", w)
		}
	}
	if strings.Contains(out, "\r") {
		t.Errorf("demo redrew a progress line into a buffer (not a terminal)")
	}
}
