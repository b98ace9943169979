// Package schedule runs one job per path on its own cron schedule, the way
// `idleprobe serve` measures its paths: a run never overlaps the previous run
// of the same job (it is skipped and logged), each run waits a random jitter
// first so that paths do not all start together, a config reload swaps the
// job set without touching jobs whose settings did not change, and Stop
// cancels in-flight runs and waits for them within a bound.
//
// The package knows nothing about configs or exporters: a Job is a name, a
// schedule, a jitter, a key that changes whenever the job's settings change,
// and a function to run. Limiter is the global cap on live trial connections
// shared by all measurements.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Job is one scheduled measurement.
type Job struct {
	// Name identifies the job (the path name). Unique within one Update.
	Name string
	// Spec is the schedule, in the syntax Parse accepts.
	Spec string
	// Jitter: each scheduled run first waits a random delay in [0, Jitter)
	// (RunNow does not).
	Jitter time.Duration
	// Key must change whenever anything Run depends on changes (the path's
	// measurement settings). A job whose Name, Spec, Jitter and Key are all
	// unchanged keeps its schedule and its running measurement across an
	// Update; otherwise it is replaced.
	Key string
	// Run does the work. It must return soon after ctx ends: ctx is
	// cancelled when the job is removed or replaced, and on Stop.
	Run func(ctx context.Context)
}

// Options configure a Scheduler.
type Options struct {
	// Logger receives skipped runs (info), job set changes (info), run
	// starts and ends (debug) and panics in Run (error). Nil discards.
	Logger *slog.Logger
}

// Errors returned by RunNow (and Update after Stop).
var (
	// ErrUnknownJob: no job has that name.
	ErrUnknownJob = errors.New("no job with that name")
	// ErrRunning: a run of the job is still in progress, so this one was skipped.
	ErrRunning = errors.New("previous run still in progress")
	// ErrStopped: the scheduler has been stopped.
	ErrStopped = errors.New("scheduler stopped")
)

// Scheduler runs Jobs on their schedules. Its methods are safe for
// concurrent use.
type Scheduler struct {
	log    *slog.Logger
	ctx    context.Context // parent of every job context; cancelled by Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup // loops and runs

	mu      sync.Mutex
	started bool
	stopped bool
	entries map[string]*entry
	// gates hold one token per job name while a run of that name is in
	// progress. They outlive entries so that a replaced job's new entry does
	// not overlap the old entry's cancelled run that is still winding down.
	gates map[string]chan struct{}
}

// entry is one scheduled job.
type entry struct {
	job     Job
	sched   cron.Schedule
	ctx     context.Context
	cancel  context.CancelFunc
	gate    chan struct{}
	looping bool
}

// Status describes one job for display.
type Status struct {
	Name string
	Spec string
	// Next is when the schedule fires next (zero when not started or never).
	Next time.Time
	// Running is true while a run (including its jitter wait) is in progress.
	Running bool
}

// New returns a Scheduler with no jobs. Add jobs with Update and start the
// clocks with Start.
func New(opts Options) *Scheduler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{
		log:     log,
		ctx:     ctx,
		cancel:  cancel,
		entries: make(map[string]*entry),
		gates:   make(map[string]chan struct{}),
	}
}

// Start starts the schedules of all jobs, present and future. Calling it
// again, or after Stop, does nothing.
func (s *Scheduler) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return
	}
	s.started = true
	for _, e := range s.entries {
		s.startLoop(e)
	}
}

// Update replaces the job set. Every job is checked first (non-empty unique
// names, a schedule Parse accepts, a non-nil Run); on any problem nothing
// changes and the error lists them all. Otherwise the swap is atomic: jobs
// whose Name, Spec, Jitter and Key are unchanged keep their schedule entry
// and any running measurement; jobs no longer present are cancelled; new and
// changed jobs are added (a changed job's old run is cancelled, and its new
// schedule skips while that run winds down).
func (s *Scheduler) Update(jobs []Job) error {
	next := make(map[string]*entry, len(jobs))
	var errs []error
	for i, j := range jobs {
		switch {
		case j.Name == "":
			errs = append(errs, fmt.Errorf("jobs[%d]: name is empty", i))
			continue
		case next[j.Name] != nil:
			errs = append(errs, fmt.Errorf("jobs[%d]: name %q is used twice", i, j.Name))
			continue
		}
		sched, err := Parse(j.Spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("jobs[%d] (%s): %w", i, j.Name, err))
		}
		if j.Jitter < 0 {
			errs = append(errs, fmt.Errorf("jobs[%d] (%s): jitter %s must not be negative", i, j.Name, j.Jitter))
		}
		if j.Run == nil {
			errs = append(errs, fmt.Errorf("jobs[%d] (%s): Run is nil", i, j.Name))
		}
		next[j.Name] = &entry{job: j, sched: sched}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	var added, changed, removed, kept []string
	for name, old := range s.entries {
		n, ok := next[name]
		switch {
		case !ok:
			old.cancel()
			removed = append(removed, name)
		case sameJob(old.job, n.job):
			next[name] = old
			kept = append(kept, name)
		default:
			old.cancel()
			changed = append(changed, name)
		}
	}
	for name, e := range next {
		if e.ctx != nil {
			continue // kept
		}
		if _, ok := s.entries[name]; !ok {
			added = append(added, name)
		}
		e.ctx, e.cancel = context.WithCancel(s.ctx)
		e.gate = s.gates[name]
		if e.gate == nil {
			e.gate = make(chan struct{}, 1)
			s.gates[name] = e.gate
		}
		if s.started {
			s.startLoop(e)
		}
	}
	for name, g := range s.gates {
		if next[name] == nil && len(g) == 0 {
			delete(s.gates, name)
		}
	}
	s.entries = next
	for _, l := range [][]string{added, changed, removed, kept} {
		sort.Strings(l)
	}
	s.log.Info("schedule updated", "added", added, "changed", changed, "removed", removed, "kept", kept)
	return nil
}

// sameJob reports whether b can keep a's schedule entry and running run.
func sameJob(a, b Job) bool {
	return a.Name == b.Name && a.Spec == b.Spec && a.Jitter == b.Jitter && a.Key == b.Key
}

// RunNow starts a run of the named job at once, outside its schedule and
// without its jitter: the start-up measurement of a path that has no stored
// result, which the operator is waiting for (the global Limiter, not the
// jitter, keeps many such runs from overloading anything). It works before
// Start too. It returns ErrUnknownJob, ErrStopped, or
// ErrRunning when a run of the job is in progress (the new one is skipped).
func (s *Scheduler) RunNow(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	e := s.entries[name]
	if e == nil {
		return fmt.Errorf("%w: %q", ErrUnknownJob, name)
	}
	return s.fire(e, "now", false)
}

// Jobs returns the status of every job, sorted by name.
func (s *Scheduler) Jobs() []Status {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.entries))
	for _, e := range s.entries {
		st := Status{Name: e.job.Name, Spec: e.job.Spec, Running: len(e.gate) > 0}
		if s.started && !s.stopped {
			st.Next = e.sched.Next(now)
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Stop stops every schedule, cancels in-flight runs and waits for them to
// return until ctx ends. It returns ctx.Err() if some run had not returned
// by then (it is left to finish on its own). Calling Stop again waits again.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.cancel()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.log.Warn("scheduler stop: runs still in progress after the stop deadline", "err", ctx.Err())
		return ctx.Err()
	}
}

// startLoop starts e's schedule. s.mu must be held.
func (s *Scheduler) startLoop(e *entry) {
	if e.looping {
		return
	}
	e.looping = true
	s.wg.Add(1)
	go s.loop(e)
}

// loop fires e at every activation of its schedule until e is cancelled.
func (s *Scheduler) loop(e *entry) {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		at := e.sched.Next(now)
		if at.IsZero() {
			s.log.Warn("schedule never fires again", "job", e.job.Name, "schedule", e.job.Spec)
			return
		}
		timer.Reset(at.Sub(now))
		select {
		case <-e.ctx.Done():
			return
		case <-timer.C:
		}
		if e.ctx.Err() != nil {
			return
		}
		_ = s.fire(e, "schedule", true) // skips are logged by fire
	}
}

// fire starts one run of e unless one is in progress; jitter says whether
// it first waits the job's jitter. The caller holds a
// count in s.wg (a loop) or s.mu with s.stopped false (RunNow), so the Add
// below never races with Stop's Wait.
func (s *Scheduler) fire(e *entry, trigger string, jitter bool) error {
	if e.ctx.Err() != nil {
		return ErrStopped
	}
	select {
	case e.gate <- struct{}{}:
	default:
		s.log.Info("run skipped: the previous run is still in progress", "job", e.job.Name, "trigger", trigger)
		return ErrRunning
	}
	s.wg.Add(1)
	go s.run(e, trigger, jitter)
	return nil
}

// run waits the jitter (if asked) and runs the job once, holding e's gate
// throughout.
func (s *Scheduler) run(e *entry, trigger string, jitter bool) {
	defer s.wg.Done()
	defer func() { <-e.gate }()
	log := s.log.With("job", e.job.Name)
	if jitter && e.job.Jitter > 0 {
		t := time.NewTimer(rand.N(e.job.Jitter))
		select {
		case <-e.ctx.Done():
			t.Stop()
			log.Debug("run cancelled during its jitter wait", "trigger", trigger)
			return
		case <-t.C:
		}
	}
	if e.ctx.Err() != nil {
		return
	}
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			log.Error("run panicked", "err", fmt.Errorf("panic: %v", r), "stack", string(debug.Stack()))
		}
	}()
	log.Debug("run starting", "trigger", trigger)
	e.job.Run(e.ctx)
	log.Debug("run finished", "trigger", trigger, "duration", time.Since(start))
}
