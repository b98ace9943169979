package service

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/idleprobe/idleprobe/configs"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// soakPaths writes a config of n paths, every one on "@every <period>"
// with no jitter, under a global cap of maxConns connections. Path i's
// target is tcp://192.0.2.1:<10000+i> (never dialled: the soak's
// measurement is a stand-in).
func soakPaths(t testing.TB, dir string, n, maxConns int, period time.Duration) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "max_connections: %d\ndefaults:\n  schedule: \"@every %s\"\n  jitter: 0s\n  min_idle: 1s\n  max_idle: 5s\n  budget: 8\npaths:\n", maxConns, period)
	for i := range n {
		fmt.Fprintf(&b, "  - name: p%04d\n    target: tcp://192.0.2.1:%d\n", i, 10000+i)
	}
	file := filepath.Join(dir, "idleprobe.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// soakPathsFile is soakPaths for a service that is not started: n paths
// every hour, with room for their budgets.
func soakPathsFile(t testing.TB, dir string, n int) string {
	return soakPaths(t, dir, n, 4096, time.Hour)
}

// run is one measurement of a path in the soak.
type run struct{ start, end time.Time }

// TestSoak1000Paths: 1,000 paths on 10 s schedules for two minutes of a
// fake clock, each run holding 1 or 2 connections of the real global
// limiter (max_connections 600, below what the paths want at once) for a
// few seconds, some runs longer than the period. No path ever runs
// twice at once, no scheduled run is missed while its path is free, and
// the cap is never exceeded.
func TestSoak1000Paths(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			n        = 1000
			maxConns = 600
			period   = 10 * time.Second
			soak     = 2 * time.Minute
		)
		cfg, _, err := configs.Load(soakPaths(t, t.TempDir(), n, maxConns, period))
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu      sync.Mutex
			runs    = make([][]run, n)
			running = make([]int, n)
			held    int
			peak    int
		)
		measure := func(ctx context.Context, target prober.Target, opts prober.Options) (prober.Result, error) {
			_, port, _ := net.SplitHostPort(target.Address)
			p, _ := strconv.Atoi(port)
			i := p - 10000
			mu.Lock()
			running[i]++
			if running[i] > 1 {
				t.Errorf("path %d runs twice at once", i)
			}
			runs[i] = append(runs[i], run{start: time.Now()})
			mu.Unlock()
			defer func() {
				mu.Lock()
				running[i]--
				runs[i][len(runs[i])-1].end = time.Now()
				mu.Unlock()
			}()
			// 1 or 2 connections for 1.3 to 3.3 s (all paths fire together:
			// 1,500 connections wanted at once); every tenth path 23.7 s,
			// longer than its period.
			hold := 1300*time.Millisecond + time.Duration(i%3)*time.Second
			if i%10 == 9 {
				hold = 23700 * time.Millisecond
			}
			got := 0
			defer func() {
				mu.Lock()
				held -= got
				mu.Unlock()
				for range got {
					opts.Limiter.Release()
				}
			}()
			for range 1 + i%2 {
				if err := opts.Limiter.Acquire(ctx); err != nil {
					return prober.Result{Status: plan.Interrupted}, err
				}
				got++
				mu.Lock()
				held++
				peak = max(peak, held)
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return prober.Result{Status: plan.Interrupted}, ctx.Err()
			case <-time.After(hold):
			}
			return prober.Result{Status: plan.Inconclusive, Reason: "soak"}, prober.ErrInconclusive
		}
		s := New(cfg, Options{ConfigFile: "soak", StatePath: filepath.Join(t.TempDir(), "state.json"), Measure: measure})
		start := time.Now()
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(soak)
		if err := s.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()

		if peak > maxConns || s.limiter.Peak() > maxConns {
			t.Errorf("%d connections held at once (limiter: %d), cap %d", peak, s.limiter.Peak(), maxConns)
		}
		if peak < maxConns {
			t.Errorf("at most %d connections held at once: the soak never reached the cap of %d", peak, maxConns)
		}
		total, skipped := 0, 0
		for i, rs := range runs {
			total += len(rs)
			if len(rs) == 0 || !rs[0].start.Equal(start) {
				t.Errorf("path %d: first run not at start-up", i)
				continue
			}
			// Every fire of the schedule starts a run unless the path's
			// previous run is still going (a run ending just then may go
			// either way).
			for at := start.Add(period); at.Before(start.Add(soak)); at = at.Add(period) {
				busy, started := false, false
				for _, r := range rs {
					started = started || r.start.Equal(at)
					busy = busy || (r.start.Before(at) && (r.end.IsZero() || !r.end.Before(at)))
				}
				switch {
				case busy && started && !rs[0].start.Equal(at):
					// ended exactly at the fire: fine either way
				case busy:
					skipped++
				case !started:
					t.Errorf("path %d: no run at %s although the previous one had ended", i, at.Sub(start))
				}
			}
		}
		t.Logf("%d runs of %d paths in %s (fake clock), %d fires skipped while their path was busy, peak %d connections (cap %d)",
			total, n, soak, skipped, peak, maxConns)
		if skipped == 0 {
			t.Error("no fire was skipped: the soak did not test overlapping runs")
		}
	})
}
