package diagnose

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/idleprobe/idleprobe/internal/middlebox"
	"github.com/idleprobe/idleprobe/internal/responder"
	"github.com/idleprobe/idleprobe/internal/testdns"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
	"github.com/idleprobe/idleprobe/schedule"
)

// peakLimiter is the shared cap, recording the most connections held at once.
type peakLimiter struct {
	*schedule.Limiter
	mu         sync.Mutex
	held, peak int
}

func (l *peakLimiter) Acquire(ctx context.Context) error {
	if err := l.Limiter.Acquire(ctx); err != nil {
		return err
	}
	l.mu.Lock()
	l.held++
	l.peak = max(l.peak, l.held)
	l.mu.Unlock()
	return nil
}

func (l *peakLimiter) Release() {
	l.mu.Lock()
	l.held--
	l.mu.Unlock()
	l.Limiter.Release()
}

// TestBothFamilies: one name, dual.test, with 127.0.0.1 and ::1. Over IPv4
// it reaches the responder directly; over IPv6 the demo middlebox, which
// resets flows idle for 1 s, in front of the same responder. Measured
// over both at once from one cap of 6 connections (each path's budget is
// 6): IPv4 has no limit, IPv6 a reset near 1 s and owns it; the cap held.
func TestBothFamilies(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) }) // after the other cleanups
	dns := testdns.Start(t, map[string][]netip.Addr{"dual.test": {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}})
	l4, l6 := testdns.ListenBoth(t)
	addr4, addr6 := l4.Addr().String(), l6.Addr().String()
	l4.Close()
	l6.Close()
	resp, err := responder.Start(context.Background(), responder.Config{HTTPAddr: addr4})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp.Shutdown(ctx)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mb, err := middlebox.New(ctx, middlebox.Config{Listen: addr6, Upstream: addr4, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()

	_, port, _ := net.SplitHostPort(addr4)
	target, err := prober.ParseTarget("http://dual.test:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	settings := plan.Defaults()
	settings.Min, settings.Max, settings.Budget, settings.Deadline = 200*time.Millisecond, 2500*time.Millisecond, 6, 20*time.Second
	var paths []Path
	for _, fam := range []string{prober.FamilyIPv4, prober.FamilyIPv6} {
		paths = append(paths, Path{Name: prober.FamilyName(fam), Target: target, Options: prober.Options{
			Plan: settings, Transport: prober.TransportOptions{Timeout: time.Second, Family: fam, Resolver: dns.Resolver()}}})
	}
	lim := &peakLimiter{Limiter: schedule.NewLimiter(6)}
	start := time.Now()
	rep := Run(context.Background(), paths, lim, nil)
	if took := time.Since(start); took > settings.Deadline+3*time.Second {
		t.Errorf("Run took %s, past the deadline %s plus closing", took, settings.Deadline)
	}
	var out bytes.Buffer
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	v4, v6 := rep.Paths[0].Result, rep.Paths[1].Result
	if v4.Status != plan.Measured || v4.Found {
		t.Errorf("IPv4: %s, want no limit", out.String())
	}
	if v6.Status != plan.Measured || !v6.Found || v6.Mode != plan.Reset || v6.Lower > time.Second || v6.Upper < 900*time.Millisecond {
		t.Errorf("IPv6: %+v, want a reset bracketing 1s", v6)
	}
	if rep.Verdict.Owner != 1 || !strings.Contains(out.String(), "-> the IPv6 hop owns it: reset at ") {
		t.Errorf("verdict %+v", rep.Verdict)
	}
	if lim.peak > 6 || lim.peak < 2 || lim.held != 0 {
		t.Errorf("shared cap 6: peak %d held at the end %d", lim.peak, lim.held)
	}
}
