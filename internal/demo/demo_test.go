package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/idleprobe/idleprobe/prober"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDemoEndToEnd runs the demo: the real responder, the
// userspace middlebox and the measure code path over loopback sockets.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end demo takes a few seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	var stdout bytes.Buffer
	start := time.Now()
	r, err := Run(ctx, Config{Limit: Limit}, &stdout)
	took := time.Since(start)
	t.Logf("demo output:\n%s", stdout.String())
	if err != nil {
		t.Fatalf("Run: %v, want success (exit 0)", err)
	}
	if !r.Complete || !r.Found {
		t.Fatalf("result complete=%v found=%v, want a complete result with a limit", r.Complete, r.Found)
	}
	if !(r.Lower < Limit+tolerance && r.Upper >= Limit-tolerance) {
		t.Errorf("bracket (%v, %v] does not contain the middlebox timeout %v", r.Lower, r.Upper, Limit)
	}
	maxWidth := max(time.Duration(0.02*float64(Limit)), 250*time.Millisecond)
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

func TestContains(t *testing.T) {
	r := func(found bool, lo, hi time.Duration) prober.Result {
		return prober.Result{Found: found, Lower: lo, Upper: hi}
	}
	tests := []struct {
		name string
		r    prober.Result
		want bool
	}{
		{"holds it", r(true, 2900*time.Millisecond, 3100*time.Millisecond), true},
		{"upper a clock tick below", r(true, 2800*time.Millisecond, 2995*time.Millisecond), true},
		{"too low", r(true, 2*time.Second, 2900*time.Millisecond), false},
		{"too high", r(true, 3020*time.Millisecond, 3200*time.Millisecond), false},
		{"no limit", r(false, 10*time.Second, 0), false},
	}
	for _, tc := range tests {
		if got := Contains(tc.r, Limit); got != tc.want {
			t.Errorf("%s: Contains = %v, want %v", tc.name, got, tc.want)
		}
	}
}
