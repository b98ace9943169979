package prober_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/middlebox"
	"github.com/idleprobe/idleprobe/internal/responder"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
	"go.uber.org/goleak"
)

// End-to-end measurements on real loopback sockets: the responder holds
// connections forever, the userspace middlebox forgets idle flows, and a Go
// http.Server closes idle connections itself.

func startResponder(t *testing.T) *responder.Server {
	t.Helper()
	srv, err := responder.Start(context.Background(), responder.Config{HTTPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv
}

func startMiddlebox(t *testing.T, upstream net.Addr, timeout time.Duration, mode middlebox.Mode) net.Addr {
	t.Helper()
	p, err := middlebox.New(context.Background(), middlebox.Config{Upstream: upstream.String(), Timeout: timeout, Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p.Addr()
}

func fastSettings(st plan.Strategy, maxIdle time.Duration) plan.Settings {
	s := plan.Defaults()
	s.Strategy = st
	s.Min = 200 * time.Millisecond
	s.Max = maxIdle
	return s
}

func mustTarget(t *testing.T, s string) prober.Target {
	t.Helper()
	tg, err := prober.ParseTarget(s)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func fdCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// checkNoLeaks asserts that the test leaves no goroutine and no descriptor.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	before := fdCount(t)
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, opt)
		// Descriptors close asynchronously in the runtime's poller: give
		// them a moment, bounded.
		deadline := time.Now().Add(2 * time.Second)
		for fdCount(t) > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // the poll interval
		}
		if after := fdCount(t); after > before {
			t.Errorf("%d file descriptors leaked", after-before)
		}
	})
}

// resetAfter is when the middlebox of the resetting-middlebox tests forgets
// an idle flow.
const resetAfter = 1500 * time.Millisecond

// measureThroughReset measures rawURL (MB stands for the middlebox's
// address) through a middlebox to up that resets flows idle for
// resetAfter, with a 2 s timeout on top of o, and fails the test unless
// it finds a bracket at most 250 ms wide around resetAfter, in reset mode.
func measureThroughReset(t *testing.T, up net.Addr, rawURL string, st plan.Strategy, o prober.TransportOptions) prober.Result {
	t.Helper()
	const T = resetAfter
	mb := startMiddlebox(t, up, T, middlebox.Reset)
	o.Timeout = 2 * time.Second
	r, err := prober.Measure(context.Background(), mustTarget(t, strings.Replace(rawURL, "MB", mb.String(), 1)),
		prober.Options{Plan: fastSettings(st, 5*time.Second), Transport: o})
	if err != nil {
		t.Fatalf("measure: %v", err)
	}
	if !r.Found || r.Lower >= T || r.Upper < T {
		t.Fatalf("bracket found=%v (%s, %s] does not contain %s", r.Found, r.Lower, r.Upper, T)
	}
	if w := r.Upper - r.Lower; w > 250*time.Millisecond {
		t.Errorf("bracket %s wide, want <= 250ms", w)
	}
	if r.Mode != plan.Reset {
		t.Errorf("mode %s, want reset", r.Mode)
	}
	t.Logf("%s: (%s, %s] %s %s in %s, %d connections", rawURL, r.Lower, r.Upper, r.Mode, r.Kind, r.Duration(), r.ConnectionsOpened)
	return r
}

func TestMeasureThroughResettingMiddlebox(t *testing.T) {
	for _, tc := range []struct {
		name     string
		strategy plan.Strategy
		scheme   string
	}{
		{"parallel/http", plan.Parallel, "http"},
		{"parallel/tcp", plan.Parallel, "tcp"},
		{"sequential/http", plan.Sequential, "http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startResponder(t)
			up := srv.HTTPAddr()
			if tc.scheme == "tcp" {
				up = srv.TCPAddr()
			}
			r := measureThroughReset(t, up, tc.scheme+"://MB/", tc.strategy, prober.TransportOptions{})
			if !r.Complete || r.PeakConnections > r.Settings.Budget {
				t.Errorf("complete=%v peak=%d", r.Complete, r.PeakConnections)
			}
		})
	}
}

func TestMeasureServerIdleClose(t *testing.T) {
	checkNoLeaks(t)
	const K = 800 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler:     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }),
		IdleTimeout: K,
	}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })

	r, err := prober.Measure(context.Background(), mustTarget(t, "http://"+ln.Addr().String()+"/"),
		prober.Options{Plan: fastSettings(plan.Parallel, 5*time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != plan.ClosedIdle {
		t.Fatalf("mode %q, want closed_idle", r.Mode)
	}
	// The server's timer starts when it has written the response, a moment
	// before the client has read it: the client's idle age at the close can
	// be a hair under K.
	const early = prober.StampLag
	if d := r.CloseAge - K; d < -early || d > 50*time.Millisecond {
		t.Errorf("close seen at %s idle, want %s (-%s, +50ms)", r.CloseAge, K, early)
	}
	if r.Lower >= r.CloseAge || r.Upper < K-early {
		t.Errorf("bracket (%s, %s] does not hold %s", r.Lower, r.Upper, K)
	}
	// Not a search: the close itself gives the answer.
	if r.Duration() > 2*K+time.Second {
		t.Errorf("took %s, want about %s", r.Duration(), K)
	}
}

func TestMeasureNoLimit(t *testing.T) {
	srv := startResponder(t)
	r, err := prober.Measure(context.Background(), mustTarget(t, "http://"+srv.HTTPAddr().String()+"/"),
		prober.Options{Plan: fastSettings(plan.Parallel, 1500*time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Found {
		t.Fatalf("false limit (%s, %s] %s", r.Lower, r.Upper, r.Mode)
	}
	if r.Lower < 1500*time.Millisecond {
		t.Errorf("lower bound %s, want max proven", r.Lower)
	}
}

func TestMeasureUnusableTarget(t *testing.T) {
	checkNoLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	start := time.Now()
	_, err = prober.Measure(context.Background(), mustTarget(t, "http://"+addr+"/"),
		prober.Options{Plan: fastSettings(plan.Parallel, 5*time.Second)})
	if !errors.Is(err, prober.ErrUnusable) {
		t.Fatalf("got %v, want ErrUnusable", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("took %s to notice a refused target", time.Since(start))
	}
}

func TestMeasureCancelReturnsPartial(t *testing.T) {
	checkNoLeaks(t)
	srv := startResponder(t)
	mb := startMiddlebox(t, srv.HTTPAddr(), time.Second, middlebox.Reset)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	r, err := prober.Measure(ctx, mustTarget(t, "http://"+mb.String()+"/"),
		prober.Options{Plan: fastSettings(plan.Parallel, 5*time.Second)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's error", err)
	}
	if r.Complete {
		t.Error("a cancelled measurement says complete")
	}
	if r.Found || r.Lower < 200*time.Millisecond {
		t.Errorf("partial result (%s, %s] found=%v: want the ages proven so far", r.Lower, r.Upper, r.Found)
	}
}

// countingLimiter records how many connections are held at once.
type countingLimiter struct {
	mu         sync.Mutex
	held, peak int
	cap        int
	slot       chan struct{}
	acquired   atomic.Int64
}

func newCountingLimiter(n int) *countingLimiter {
	return &countingLimiter{cap: n, slot: make(chan struct{}, n)}
}

func (l *countingLimiter) Acquire(ctx context.Context) error {
	select {
	case l.slot <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	l.acquired.Add(1)
	l.mu.Lock()
	l.held++
	l.peak = max(l.peak, l.held)
	l.mu.Unlock()
	return nil
}

func (l *countingLimiter) Release() {
	l.mu.Lock()
	l.held--
	l.mu.Unlock()
	<-l.slot
}

func TestMeasureRespectsLimiter(t *testing.T) {
	srv := startResponder(t)
	mb := startMiddlebox(t, srv.HTTPAddr(), time.Second, middlebox.Reset)
	lim := newCountingLimiter(6)
	r, err := prober.Measure(context.Background(), mustTarget(t, "http://"+mb.String()+"/"),
		prober.Options{Plan: fastSettings(plan.Parallel, 3*time.Second), Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Found || r.Lower >= time.Second || r.Upper < time.Second {
		t.Errorf("bracket (%s, %s] misses 1s under a tight limiter", r.Lower, r.Upper)
	}
	if lim.peak > 6 {
		t.Errorf("limiter peak %d > 6", lim.peak)
	}
	if lim.held != 0 {
		t.Errorf("%d limiter slots not released", lim.held)
	}
	if lim.acquired.Load() == 0 {
		t.Error("limiter never asked")
	}
}
