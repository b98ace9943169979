package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// Tests of the scheduler's timing run inside synctest bubbles: a
// time.Sleep there advances the bubble's fake clock at once, and
// synctest.Wait returns when every goroutine is blocked, so assertions
// never depend on how fast the machine is.

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a slog.Handler that keeps every message, for assertions.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Level.String()+" "+rec.Message)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// count returns how many messages contain s.
func (r *recorder) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

// newScheduler returns a started Scheduler logging into a recorder, stopped
// in t.Cleanup.
func newScheduler(t *testing.T, jobs ...Job) (*Scheduler, *recorder) {
	t.Helper()
	rec := &recorder{}
	s := New(Options{Logger: slog.New(rec)})
	if err := s.Update(jobs); err != nil {
		t.Fatalf("Update: %v", err)
	}
	s.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s, rec
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, spec string
		ok         bool
	}{
		{"five fields", "*/15 * * * *", true},
		{"six fields with seconds", "0 */5 * * * *", true},
		{"every", "@every 6h", true},
		{"hourly", "@hourly", true},
		{"time zone", "CRON_TZ=Europe/Berlin 30 3 * * *", true},
		{"empty", "", false},
		{"bad duration", "@every 6x", false},
		{"too many fields", "0 0 0 * * * *", false},
		{"out of range", "61 * * * *", false},
		{"time zone without schedule", "CRON_TZ=UTC", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.spec)
			if (err == nil) != tc.ok {
				t.Fatalf("Parse(%q) err = %v, want ok=%v", tc.spec, err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "examples:") {
				t.Errorf("error %q gives no example", err)
			}
		})
	}
}

func TestSkipIfStillRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var running, maxRunning, runs atomic.Int32
		var starts []time.Duration
		var mu sync.Mutex
		t0 := time.Now()
		_, rec := newScheduler(t, Job{
			Name: "slow", Spec: "@every 1s", Key: "k",
			Run: func(ctx context.Context) {
				n := running.Add(1)
				defer running.Add(-1)
				for {
					m := maxRunning.Load()
					if n <= m || maxRunning.CompareAndSwap(m, n) {
						break
					}
				}
				runs.Add(1)
				mu.Lock()
				starts = append(starts, time.Since(t0))
				mu.Unlock()
				// Outlasts three periods.
				select {
				case <-ctx.Done():
				case <-time.After(3500 * time.Millisecond):
				}
			},
		})
		time.Sleep(10500 * time.Millisecond)
		synctest.Wait()

		// Fires at 1..10 s; runs start at 1, 5, 9 and the fires at
		// 2, 3, 4, 6, 7, 8 and 10 find a run in progress.
		if got := maxRunning.Load(); got != 1 {
			t.Errorf("max concurrent runs = %d, want 1", got)
		}
		mu.Lock()
		want := []time.Duration{time.Second, 5 * time.Second, 9 * time.Second}
		if fmt.Sprint(starts) != fmt.Sprint(want) {
			t.Errorf("runs started at %v, want %v", starts, want)
		}
		mu.Unlock()
		if got := rec.count("INFO run skipped"); got != 7 {
			t.Errorf("%d skips logged at info, want 7 (log: %q)", got, rec.msgs)
		}
	})
}

func TestJitter(t *testing.T) {
	tests := []struct {
		name   string
		jitter time.Duration
	}{
		{"none", 0},
		{"900ms", 900 * time.Millisecond},
		{"1ns", time.Nanosecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				var delays []time.Duration
				newScheduler(t, Job{
					Name: "j", Spec: "@every 1s", Jitter: tc.jitter, Key: "k",
					Run: func(context.Context) {
						now := time.Now()
						mu.Lock()
						// The schedule fires on whole seconds of the fake clock.
						delays = append(delays, now.Sub(now.Truncate(time.Second)))
						mu.Unlock()
					},
				})
				time.Sleep(30*time.Second + 950*time.Millisecond)
				synctest.Wait()

				mu.Lock()
				defer mu.Unlock()
				if len(delays) != 30 {
					t.Fatalf("%d runs in 30 periods, want 30", len(delays))
				}
				distinct := map[time.Duration]bool{}
				for _, d := range delays {
					distinct[d] = true
					if d < 0 || (tc.jitter > 0 && d >= tc.jitter) || (tc.jitter == 0 && d != 0) {
						t.Errorf("run started %s after its schedule, want within [0, %s)", d, tc.jitter)
					}
				}
				if tc.jitter >= time.Millisecond && len(distinct) < 10 {
					t.Errorf("only %d distinct delays in 30 runs: jitter is not random (%v)", len(distinct), delays)
				}
			})
		})
	}
}

func TestJitterCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ran atomic.Bool
		s := New(Options{})
		if err := s.Update([]Job{{Name: "j", Spec: "@every 1s", Jitter: time.Hour, Key: "k",
			Run: func(context.Context) { ran.Store(true) }}}); err != nil {
			t.Fatal(err)
		}
		s.Start()
		time.Sleep(1500 * time.Millisecond) // fired at 1s, now in its jitter wait
		synctest.Wait()
		if st := s.Jobs(); !st[0].Running {
			t.Fatalf("job not running during its jitter wait: %+v", st)
		}
		start := time.Now()
		if err := s.Stop(t.Context()); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("Stop took %s during a jitter wait, want at once", d)
		}
		if ran.Load() {
			t.Error("Run was called although the jitter wait was cancelled")
		}
	})
}

// blocker is a Run that records its context and blocks until it ends.
type blocker struct {
	mu   sync.Mutex
	ctxs []context.Context
}

func (b *blocker) run(ctx context.Context) {
	b.mu.Lock()
	b.ctxs = append(b.ctxs, ctx)
	b.mu.Unlock()
	<-ctx.Done()
}

func (b *blocker) contexts() []context.Context {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]context.Context(nil), b.ctxs...)
}

func TestUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bs := map[string]*blocker{"keep": {}, "change": {}, "remove": {}, "add": {}, "respec": {}}
		job := func(name, spec, key string) Job {
			return Job{Name: name, Spec: spec, Key: key, Run: bs[name].run}
		}
		s, _ := newScheduler(t,
			job("keep", "@every 1s", "a"),
			job("change", "@every 1s", "a"),
			job("remove", "@every 1s", "a"),
			job("respec", "@every 1s", "a"),
		)
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		for _, name := range []string{"keep", "change", "remove", "respec"} {
			if n := len(bs[name].contexts()); n != 1 {
				t.Fatalf("%s: %d runs after 1.5 s, want 1", name, n)
			}
		}
		s.mu.Lock()
		keepEntry := s.entries["keep"]
		s.mu.Unlock()

		if err := s.Update([]Job{
			job("keep", "@every 1s", "a"),
			job("change", "@every 1s", "b"),
			job("respec", "@every 2s", "a"),
			job("add", "@every 1s", "a"),
		}); err != nil {
			t.Fatalf("Update: %v", err)
		}
		synctest.Wait()

		s.mu.Lock()
		if s.entries["keep"] != keepEntry {
			t.Error("unchanged job got a new entry")
		}
		if s.entries["remove"] != nil {
			t.Error("removed job still has an entry")
		}
		s.mu.Unlock()
		if err := bs["keep"].contexts()[0].Err(); err != nil {
			t.Errorf("unchanged job's run was cancelled: %v", err)
		}
		for _, name := range []string{"change", "remove", "respec"} {
			if bs[name].contexts()[0].Err() == nil {
				t.Errorf("%s: the old run was not cancelled", name)
			}
		}

		// By 3.5 s: the changed jobs have started again under their new
		// entries ("respec" first fires at 3 s), "keep" is still running
		// (its fires are skipped), the removed job never ran again.
		time.Sleep(2 * time.Second)
		synctest.Wait()
		want := map[string]int{"keep": 1, "change": 2, "remove": 1, "respec": 2, "add": 1}
		for name, n := range want {
			if got := len(bs[name].contexts()); got != n {
				t.Errorf("%s: %d runs after the update, want %d", name, got, n)
			}
		}
		if err := bs["keep"].contexts()[0].Err(); err != nil {
			t.Errorf("unchanged job's run was cancelled later: %v", err)
		}
		names := []string{}
		for _, st := range s.Jobs() {
			names = append(names, st.Name)
			if !st.Running || st.Next.IsZero() {
				t.Errorf("status %+v: want running with a next time", st)
			}
		}
		if got := strings.Join(names, ","); got != "add,change,keep,respec" {
			t.Errorf("Jobs() = %s", got)
		}
	})
}

func TestUpdateRejectsBadJobs(t *testing.T) {
	run := func(context.Context) {}
	tests := []struct {
		name string
		jobs []Job
		want string
	}{
		{"empty name", []Job{{Spec: "@hourly", Run: run}}, "jobs[0]: name is empty"},
		{"duplicate", []Job{{Name: "a", Spec: "@hourly", Run: run}, {Name: "a", Spec: "@hourly", Run: run}}, `jobs[1]: name "a" is used twice`},
		{"bad spec", []Job{{Name: "a", Spec: "@every x", Run: run}}, `jobs[0] (a): schedule "@every x"`},
		{"negative jitter", []Job{{Name: "a", Spec: "@hourly", Jitter: -time.Second, Run: run}}, "jitter -1s must not be negative"},
		{"nil run", []Job{{Name: "a", Spec: "@hourly"}}, "jobs[0] (a): Run is nil"},
		{"all reported", []Job{{Name: "a", Spec: "bad"}, {Name: "b", Spec: "@hourly"}}, "jobs[1] (b): Run is nil"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newScheduler(t, Job{Name: "old", Spec: "@hourly", Run: run})
			err := s.Update(tc.jobs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Update err = %v, want it to contain %q", err, tc.want)
			}
			if jobs := s.Jobs(); len(jobs) != 1 || jobs[0].Name != "old" {
				t.Errorf("a rejected update changed the jobs: %+v", jobs)
			}
		})
	}
}

func TestRunNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &blocker{}
		s := New(Options{})
		if err := s.Update([]Job{{Name: "a", Spec: "@every 1h", Jitter: time.Hour, Key: "k", Run: b.run}}); err != nil {
			t.Fatal(err)
		}
		// Before Start, and without waiting the jitter: runs at once.
		start := time.Now()
		if err := s.RunNow("a"); err != nil {
			t.Fatalf("RunNow: %v", err)
		}
		synctest.Wait()
		if n := len(b.contexts()); n != 1 || time.Since(start) != 0 {
			t.Fatalf("%d runs %s after RunNow, want 1 at once", n, time.Since(start))
		}
		if err := s.RunNow("a"); !errors.Is(err, ErrRunning) {
			t.Errorf("RunNow while running = %v, want ErrRunning", err)
		}
		if err := s.RunNow("nope"); !errors.Is(err, ErrUnknownJob) {
			t.Errorf("RunNow(unknown) = %v, want ErrUnknownJob", err)
		}
		if err := s.Stop(t.Context()); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if err := s.RunNow("a"); !errors.Is(err, ErrStopped) {
			t.Errorf("RunNow after Stop = %v, want ErrStopped", err)
		}
		if err := s.Update(nil); !errors.Is(err, ErrStopped) {
			t.Errorf("Update after Stop = %v, want ErrStopped", err)
		}
	})
}

func TestStop(t *testing.T) {
	tests := []struct {
		name     string
		ignore   time.Duration // how long Run ignores its cancelled context
		bound    time.Duration
		wantErr  error
		wantTook time.Duration
	}{
		{"cancels in-flight runs at once", 0, 5 * time.Second, nil, 0},
		{"run finishing within the bound", 2 * time.Second, 5 * time.Second, nil, 2 * time.Second},
		{"bound exceeded", 10 * time.Second, time.Second, context.DeadlineExceeded, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var ended atomic.Int32
				run := func(ctx context.Context) {
					<-ctx.Done()
					time.Sleep(tc.ignore)
					ended.Add(1)
				}
				s := New(Options{})
				var jobs []Job
				for i := range 5 {
					jobs = append(jobs, Job{Name: fmt.Sprint("p", i), Spec: "@every 1s", Key: "k", Run: run})
				}
				if err := s.Update(jobs); err != nil {
					t.Fatal(err)
				}
				s.Start()
				time.Sleep(1500 * time.Millisecond)
				synctest.Wait()

				ctx, cancel := context.WithTimeout(t.Context(), tc.bound)
				defer cancel()
				start := time.Now()
				err := s.Stop(ctx)
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("Stop = %v, want %v", err, tc.wantErr)
				}
				if took := time.Since(start); took != tc.wantTook {
					t.Errorf("Stop took %s, want %s", took, tc.wantTook)
				}
				if tc.wantErr == nil && ended.Load() != 5 {
					t.Errorf("%d runs ended before Stop returned, want 5", ended.Load())
				}
				// Let runs that outlived the bound finish, so the bubble can end.
				time.Sleep(tc.ignore)
				synctest.Wait()
				if ended.Load() != 5 {
					t.Errorf("%d runs ended, want 5", ended.Load())
				}
			})
		})
	}
}

func TestPanicInRunIsRecovered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int32
		_, rec := newScheduler(t, Job{Name: "p", Spec: "@every 1s", Key: "k", Run: func(context.Context) {
			runs.Add(1)
			panic("boom")
		}})
		time.Sleep(2500 * time.Millisecond)
		synctest.Wait()
		if runs.Load() != 2 {
			t.Errorf("%d runs, want 2 (a panic must not stop the schedule)", runs.Load())
		}
		if rec.count("ERROR run panicked") != 2 {
			t.Errorf("panics not logged at error: %q", rec.msgs)
		}
	})
}

// TestLimiterAcrossJobs runs 20 jobs of 10 connections each against a cap of
// 15, on real goroutines and real time.
func TestLimiterAcrossJobs(t *testing.T) {
	const jobs, conns, limit = 20, 10, 15
	lim := NewLimiter(limit)
	var held, maxHeld atomic.Int32
	var done sync.WaitGroup
	done.Add(jobs)
	run := func(ctx context.Context) {
		defer done.Done()
		var wg sync.WaitGroup
		for range conns {
			wg.Go(func() {
				for range 3 {
					if err := lim.Acquire(ctx); err != nil {
						t.Errorf("Acquire: %v", err)
						return
					}
					n := held.Add(1)
					for {
						m := maxHeld.Load()
						if n <= m || maxHeld.CompareAndSwap(m, n) {
							break
						}
					}
					// Holding the slot a moment makes the 200 contenders
					// overlap: the load, not a wait for a condition.
					timer := time.NewTimer(time.Millisecond)
					select {
					case <-ctx.Done():
					case <-timer.C:
					}
					timer.Stop()
					held.Add(-1)
					lim.Release()
				}
			})
		}
		wg.Wait()
	}
	var js []Job
	for i := range jobs {
		js = append(js, Job{Name: fmt.Sprint("path", i), Spec: "@every 1h", Key: "k", Run: run})
	}
	s, _ := newScheduler(t, js...)
	for _, j := range js {
		if err := s.RunNow(j.Name); err != nil {
			t.Fatalf("RunNow(%s): %v", j.Name, err)
		}
	}
	ch := make(chan struct{})
	go func() { done.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("jobs did not finish within 10 s")
	}
	if got := maxHeld.Load(); got > limit {
		t.Errorf("%d connections held at once, cap is %d", got, limit)
	}
	if got := lim.Peak(); got != limit {
		t.Errorf("limiter peak = %d, want the cap %d to be reached with 200 contenders", got, limit)
	}
	if lim.InUse() != 0 || lim.Waiting() != 0 {
		t.Errorf("after all jobs: %d held, %d waiting, want 0, 0", lim.InUse(), lim.Waiting())
	}
}

func TestLimiter(t *testing.T) {
	t.Run("acquire honours ctx", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := NewLimiter(1)
			if err := l.Acquire(t.Context()); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			start := time.Now()
			if err := l.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Acquire on a full limiter = %v, want DeadlineExceeded", err)
			}
			if took := time.Since(start); took != time.Second {
				t.Errorf("Acquire gave up after %s, want 1s", took)
			}
			if l.InUse() != 1 || l.Waiting() != 0 {
				t.Errorf("after a timed-out Acquire: %d held, %d waiting, want 1, 0", l.InUse(), l.Waiting())
			}
		})
	})
	t.Run("cancelled ctx never acquires", func(t *testing.T) {
		l := NewLimiter(5)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := l.Acquire(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Acquire(cancelled) = %v", err)
		}
		if l.InUse() != 0 {
			t.Errorf("%d held after a cancelled Acquire", l.InUse())
		}
	})
	t.Run("first come first served", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := NewLimiter(1)
			if err := l.Acquire(t.Context()); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var order []int
			var wg sync.WaitGroup
			for i := range 5 {
				wg.Go(func() {
					if err := l.Acquire(t.Context()); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					order = append(order, i)
					mu.Unlock()
					l.Release()
				})
				synctest.Wait() // i is queued before i+1
			}
			l.Release()
			wg.Wait()
			if fmt.Sprint(order) != "[0 1 2 3 4]" {
				t.Errorf("served in order %v, want arrival order", order)
			}
		})
	})
	t.Run("raising the limit wakes waiters", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := NewLimiter(1)
			if err := l.Acquire(t.Context()); err != nil {
				t.Fatal(err)
			}
			var got atomic.Int32
			for range 3 {
				go func() {
					if l.Acquire(t.Context()) == nil {
						got.Add(1)
					}
				}()
			}
			synctest.Wait()
			if got.Load() != 0 {
				t.Fatalf("%d acquired past the cap", got.Load())
			}
			l.SetLimit(3)
			synctest.Wait()
			if got.Load() != 2 || l.InUse() != 3 {
				t.Errorf("after SetLimit(3): %d woke, %d held; want 2, 3", got.Load(), l.InUse())
			}
			l.SetLimit(0) // unlimited
			synctest.Wait()
			if got.Load() != 3 {
				t.Errorf("after SetLimit(0): %d woke, want 3", got.Load())
			}
			if l.Limit() != 0 {
				t.Errorf("Limit() = %d", l.Limit())
			}
		})
	})
	t.Run("lowering the limit", func(t *testing.T) {
		l := NewLimiter(3)
		for range 3 {
			if err := l.Acquire(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		l.SetLimit(1)
		l.Release()
		l.Release()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		defer cancel()
		if err := l.Acquire(ctx); err == nil {
			t.Error("acquired with 1 held and a cap of 1")
		}
		l.Release()
		if err := l.Acquire(t.Context()); err != nil {
			t.Errorf("Acquire under the new cap: %v", err)
		}
	})
	t.Run("nil limiter never blocks", func(t *testing.T) {
		var l *Limiter
		for range 100 {
			if err := l.Acquire(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		l.Release()
		l.SetLimit(3)
		if l.InUse() != 0 || l.Peak() != 0 || l.Limit() != 0 || l.Waiting() != 0 {
			t.Error("nil limiter reports usage")
		}
	})
	t.Run("release without acquire panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("no panic")
			}
		}()
		NewLimiter(1).Release()
	})
	t.Run("cancel racing with grant keeps the count", func(t *testing.T) {
		l := NewLimiter(2)
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(t.Context(), time.Duration(i%7)*50*time.Microsecond)
				defer cancel()
				if l.Acquire(ctx) == nil {
					l.Release()
				}
			})
		}
		wg.Wait()
		if l.InUse() != 0 || l.Waiting() != 0 {
			t.Errorf("after racing cancels: %d held, %d waiting, want 0, 0", l.InUse(), l.Waiting())
		}
		if l.Peak() > 2 {
			t.Errorf("peak %d above the cap 2", l.Peak())
		}
	})
}

// TestNoLeaksAcrossUpdates cycles New/Update/RunNow/Update/Stop on real
// time and checks that no goroutine survives.
func TestNoLeaksAcrossUpdates(t *testing.T) {
	for cycle := range 5 {
		s := New(Options{})
		b := &blocker{}
		var jobs []Job
		for i := range 5 {
			jobs = append(jobs, Job{Name: fmt.Sprint("p", i), Spec: "@every 1s", Jitter: time.Millisecond, Key: "a", Run: b.run})
		}
		if err := s.Update(jobs); err != nil {
			t.Fatal(err)
		}
		s.Start()
		for _, j := range jobs {
			if err := s.RunNow(j.Name); err != nil {
				t.Fatal(err)
			}
		}
		jobs[cycle%5].Key = "b"
		if err := s.Update(jobs[1:]); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("cycle %d: Stop: %v", cycle, err)
		}
		cancel()
	}
	goleak.VerifyNone(t)
}

func TestPeriod(t *testing.T) {
	tests := []struct {
		spec string
		want time.Duration
	}{
		{"@every 6h", 6 * time.Hour},
		{"@every 90s", 90 * time.Second},
		{"*/15 * * * *", 15 * time.Minute},
		{"0 */5 * * * *", 5 * time.Minute},
		{"@daily", 24 * time.Hour},
		{"30 3 * * *", 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := Period(tc.spec)
			if err != nil || got != tc.want {
				t.Errorf("Period(%q) = %s, %v; want %s", tc.spec, got, err, tc.want)
			}
		})
	}
	if _, err := Period("bad"); err == nil {
		t.Error("Period(bad) gave no error")
	}
}
