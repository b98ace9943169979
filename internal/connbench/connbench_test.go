package main

import (
	"context"
	"flag"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/idleprobe/idleprobe/configs"
	"github.com/idleprobe/idleprobe/internal/responder"
	"github.com/idleprobe/idleprobe/service"
)

// profileDir, when set, receives heap and goroutine profiles taken while
// the connections are held.
var profileDir = flag.String("connbench.profile", "", "write heap and goroutine profiles of TestIdleConnectionCost here")

// TestIdleConnectionCost runs the benchmark's pipeline in one process at a
// small scale: the real service (config file, scheduler, limiter, prober)
// holds n idle trial connections to the real responder, and the Go heap
// and goroutine stacks they cost, both sides together, must stay under a
// bound per connection, as must the goroutines.
func TestIdleConnectionCost(t *testing.T) {
	if testing.Short() {
		t.Skip("opens hundreds of connections")
	}
	const n = 400
	for _, tc := range []struct {
		scheme string
		// maxBytes bounds heap + stacks per connection, serve and responder
		// together; maxGoroutines bounds the goroutines per connection.
		maxBytes      int
		maxGoroutines float64
	}{
		// Measured on 2026-11-30 (with the paths' own state): http 13 KB
		// and 2.2 goroutines (39 KB and 3.1 before the idle connections
		// shed their buffers and goroutines and the responder its net/http
		// connections), tcp 12 KB and 2.2, h2c 16 KB and 2.3 (41 KB and
		// 3.2 while net/http's HTTP/2 server held the responder's side with
		// two goroutines; 60 KB, 5.1 before that).
		{"http", 20 << 10, 2.6},
		{"tcp", 16 << 10, 2.6},
		{"h2c", 24 << 10, 2.6},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			opt := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, opt) })
			// Ten connections a path: each path opens them within seconds.
			bytes, gs := holdIdle(t, setup{Conns: n, Scheme: tc.scheme, Paths: n / 10, MinIdle: 2 * time.Minute})
			t.Logf("%s: %d bytes and %.2f goroutines per idle connection (serve and responder)", tc.scheme, bytes, gs)
			if limit := int(float64(tc.maxBytes) * raceScale); bytes > limit {
				t.Errorf("%d bytes of heap and stack per idle %s connection, want at most %d", bytes, tc.scheme, limit)
			}
			if gs > tc.maxGoroutines {
				t.Errorf("%.2f goroutines per idle %s connection, want at most %.2f", gs, tc.scheme, tc.maxGoroutines)
			}
		})
	}
}

// holdIdle starts a responder and a service in this process, lets the
// service open s.Conns connections, and returns the heap and stack bytes
// and the goroutines they added, per connection.
func holdIdle(t *testing.T, s setup) (int, float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if *profileDir != "" {
		runtime.MemProfileRate = 1
	}
	base := memNow()
	baseG := runtime.NumGoroutine()

	r, err := responder.Start(ctx, responder.Config{HTTPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	dir := t.TempDir()
	file := filepath.Join(dir, "idleprobe.yml")
	if err := os.WriteFile(file, s.config(r.HTTPAddr().String(), r.TCPAddr().String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := configs.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	svc := service.New(cfg, service.Options{ConfigFile: file, StatePath: filepath.Join(dir, "state.json")})
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	port := r.HTTPAddr().(*net.TCPAddr).Port
	if s.Scheme == "tcp" {
		port = r.TCPAddr().(*net.TCPAddr).Port
	}
	if err := waitConns(ctx, port, s.Conns); err != nil {
		t.Fatal(err)
	}
	held := settledMem(ctx, t)
	gs := runtime.NumGoroutine() - baseG
	if *profileDir != "" {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		t.Logf("heap %d, stacks %d bytes", m.HeapAlloc, m.StackInuse)
	}
	if *profileDir != "" {
		for _, name := range []string{"heap", "goroutine"} {
			f, err := os.Create(filepath.Join(*profileDir, s.Scheme+"."+name+".pprof"))
			if err != nil {
				t.Fatal(err)
			}
			if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
	return int(held-base) / s.Conns, float64(gs) / float64(s.Conns)
}

// settledMem returns memNow once two readings 200 ms apart agree within
// 2 %: the last first exchanges have ended and given their buffers back.
func settledMem(ctx context.Context, t *testing.T) uint64 {
	t.Helper()
	prev := memNow()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			t.Fatalf("memory did not settle: %v", ctx.Err())
		case <-tick.C:
		}
		now := memNow()
		if diff := int64(now) - int64(prev); diff*50 < int64(prev) && -diff*50 < int64(prev) {
			return now
		}
		prev = now
	}
}

// memNow returns the live heap and the goroutine stacks after a GC.
func memNow() uint64 {
	// The second cycle frees the stack spans the first one emptied.
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}
