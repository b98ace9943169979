// Package service is `idleprobe serve`: it measures every path of a config
// on the path's schedule (package schedule) with the same prober.Measure as
// the one-shot command, saves each completed result to the state file
// (service/state) and then publishes it (package exporters), applies config
// reloads, and hands out the web endpoints.
//
// The flow, in the order of the folders: configs -> schedule -> prober ->
// state -> exporters.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idleprobe/idleprobe/configs"
	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/internal/shard"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/schedule"
	"github.com/idleprobe/idleprobe/service/state"
)

// MeasureFunc runs one measurement; prober.Measure is the real one.
type MeasureFunc func(context.Context, prober.Target, prober.Options) (prober.Result, error)

// Options configure a Service.
type Options struct {
	// ConfigFile is the file Reload reads again.
	ConfigFile string
	// StatePath is the state file keeping the latest result of every path
	// across restarts (required).
	StatePath string
	// MetricsPath is where the handler serves the metrics (default
	// "/metrics").
	MetricsPath string
	// Logger receives the service's logs; nil discards them.
	Logger *slog.Logger
	// Measure runs one measurement: prober.Measure when nil (tests pass a
	// stand-in that ends the way they need).
	Measure MeasureFunc
	// StopTimeout bounds each step of Run's shutdown: the measurements
	// noticing their cancellation, then the web server finishing its
	// requests (default 5s).
	StopTimeout time.Duration
	// Shard is this replica's part of a sharded service: it measures and
	// exports only the paths its shard owns (internal/shard). The zero
	// Shard measures every path.
	Shard shard.Shard
	// ConstLabels are added to every series on the telemetry path (serve's
	// --label, e.g. node=NODE_NAME in a DaemonSet). Names must pass
	// exporters.CheckLabelName; a config whose paths set one of them too is
	// refused.
	ConstLabels map[string]string
	// WhichHop asks every measurement who ended its failed connections
	// (prober.Options.WhichHop; needs CAP_NET_RAW).
	WhichHop bool
}

// Service is one running `idleprobe serve`. New builds it, Handler serves
// its endpoints from the start (not ready yet), Start restores the state
// and starts the schedules, Reload applies the config file again, and Stop
// cancels the measurements. Its methods are safe for concurrent use.
type Service struct {
	opts Options
	log  *slog.Logger

	sched     *schedule.Scheduler
	limiter   *schedule.Limiter
	collector *exporters.Collector
	handler   http.Handler
	store     *state.Store
	// history is store for the web handler (set once by Start), which
	// reads the history of a path's limit from it.
	history atomic.Pointer[state.Store]

	// ready is true once Start has restored the state and started the
	// schedules, until Stop.
	ready atomic.Bool

	// reloadMu serialises Start and Reload; cfgMu guards cfg (read by
	// measurements to check they still belong to the running config).
	// initial is the config given to New, applied by Start.
	reloadMu sync.Mutex
	cfgMu    sync.RWMutex
	cfg      *configs.Config
	initial  *configs.Config
}

// New builds the service for cfg (a loaded, valid config). Nothing runs and
// no file is touched until Start.
func New(cfg *configs.Config, o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MetricsPath == "" {
		o.MetricsPath = "/metrics"
	}
	if o.Measure == nil {
		o.Measure = prober.Measure
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 5 * time.Second
	}
	s := &Service{
		opts:      o,
		log:       o.Logger,
		sched:     schedule.New(schedule.Options{Logger: o.Logger.With("component", "scheduler")}),
		limiter:   schedule.NewLimiter(configs.DefaultMaxConnections),
		collector: exporters.NewCollector(),
		initial:   cfg,
	}
	s.handler = s.newHandler()
	return s
}

// Run is the whole service: it serves the handler with serve (which
// listens and serves srv until srv.Shutdown, as web.ListenAndServe does),
// starts the service, reloads the config on every value from reload
// (SIGHUP), and runs until ctx ends or serve fails. Then it stops the
// measurements and the web server, each within Options.StopTimeout. It
// returns Start's error or serve's (http.ErrServerClosed is no error).
func (s *Service) Run(ctx context.Context, serve func(*http.Server) error, reload <-chan os.Signal) error {
	// The web server comes up first, so that /-/healthy answers (and
	// /-/ready says "not yet") while the state is restored.
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- serve(srv) }()
	err := s.Start()
	if err == nil {
		s.log.Info("idleprobe serve ready", "paths", len(s.initial.Paths), "state", s.opts.StatePath)
	wait:
		for {
			select {
			case <-ctx.Done():
				s.log.Info("shutting down", "cause", context.Cause(ctx))
				break wait
			case err = <-served:
				served = nil
				break wait
			case <-reload:
				s.log.Info("SIGHUP received: reloading the config", "file", s.opts.ConfigFile)
				_ = s.Reload() // logged by Reload
			}
		}
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), s.opts.StopTimeout)
	if serr := s.Stop(stopCtx); serr != nil {
		s.log.Warn("some measurements did not stop in time; exiting without them", "err", serr, "timeout", s.opts.StopTimeout)
	}
	cancel()
	stopCtx, cancel = context.WithTimeout(context.Background(), s.opts.StopTimeout)
	defer cancel()
	if serr := srv.Shutdown(stopCtx); serr != nil {
		srv.Close()
	}
	if served != nil {
		if serr := <-served; err == nil {
			err = serr
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	s.log.Info("idleprobe serve stopped")
	return err
}

// Start restores the state file (results of paths that still exist with
// the same target are published again, with their original timestamps),
// starts the schedules and measures at once every path that has no result
// or a result older than its schedule's period. It fails only when the
// state file's directory cannot be created or a schedule is invalid.
func (s *Service) Start() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	store, stored, err := state.Open(s.opts.StatePath, s.log.With("component", "state"))
	if err != nil {
		return err
	}
	if err := s.checkLabels(s.initial); err != nil {
		return err
	}
	s.initial = s.mine(s.initial)
	s.store = store
	s.history.Store(store)
	infos := make([]exporters.PathInfo, len(s.initial.Paths))
	for i, p := range s.initial.Paths {
		infos[i] = pathInfo(p)
	}
	if seeded := restore(s.collector, infos, stored); len(seeded) > 0 {
		s.log.Info("restored results from the state file", "paths", seeded)
	}
	if err := s.apply(s.initial); err != nil {
		return err
	}
	s.collector.SetReload(true, time.Now())
	s.sched.Start()
	s.ready.Store(true)
	return nil
}

// restore publishes the stored results on c for the configured paths: a
// stored result is used only when its path still exists with the same
// target (a result for another address would be wrong). The results keep
// their original timestamps. Every configured path is registered on c
// either way. It returns the names it restored.
func restore(c *exporters.Collector, paths []exporters.PathInfo, stored map[string]state.Entry) []string {
	var seeded []string
	for _, p := range paths {
		e, ok := stored[p.Name]
		if ok && e.Path.Target == p.Target && exporters.Publishable(e.Result) {
			c.Set(p, e.Result)
			seeded = append(seeded, p.Name)
			continue
		}
		c.SetPath(p)
	}
	return seeded
}

// Ready reports whether Start has finished and Stop has not begun.
func (s *Service) Ready() bool { return s.ready.Load() }

// Reload loads the config file again and, when it is valid, applies it:
// unchanged paths keep their schedules, running measurements and results.
// A bad config is rejected: it is logged, the reload metric drops to 0 and
// the running config keeps going.
func (s *Service) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.store == nil {
		return errors.New("the service has not started yet")
	}
	cfg, warns, err := configs.Load(s.opts.ConfigFile)
	s.logWarnings(warns)
	if err == nil {
		err = s.checkLabels(cfg)
	}
	if err == nil {
		cfg = s.mine(cfg)
		err = s.apply(cfg)
	}
	if err != nil {
		s.collector.SetReload(false, time.Time{})
		s.log.Error("config reload failed; the running config is kept", "file", s.opts.ConfigFile, "err", oneLine(err.Error()))
		return err
	}
	s.collector.SetReload(true, time.Now())
	s.log.Info("config reloaded", "file", s.opts.ConfigFile, "paths", len(cfg.Paths))
	return nil
}

// Stop marks the service not ready, stops the schedules and cancels the
// measurements in flight (their partial brackets are never published), and
// waits for them until ctx ends; then it returns ctx's error.
func (s *Service) Stop(ctx context.Context) error {
	s.ready.Store(false)
	return s.sched.Stop(ctx)
}

// apply makes cfg the running config: swaps the schedules (unchanged paths
// keep theirs and their running measurement), updates the collector
// (removed paths disappear; a path whose target changed loses its old
// result) and the state file, sets the global connection cap, and measures
// at once every new or changed path that has no current result.
// s.reloadMu must be held.
func (s *Service) apply(cfg *configs.Config) error {
	s.cfgMu.RLock()
	old := s.cfg
	s.cfgMu.RUnlock()

	jobs := make([]schedule.Job, 0, len(cfg.Paths))
	for _, p := range cfg.Paths {
		info, key := pathInfo(p), p.Hash()
		jobs = append(jobs, schedule.Job{
			Name: p.Name, Spec: p.Schedule, Jitter: p.Jitter, Key: key,
			Run: func(ctx context.Context) { s.measure(ctx, p, key, info) },
		})
	}
	// The scheduler checks every job before changing anything: after this
	// the new config is committed.
	if err := s.sched.Update(jobs); err != nil {
		return err
	}
	s.cfgMu.Lock()
	s.cfg = cfg
	s.cfgMu.Unlock()
	s.limiter.SetLimit(cfg.MaxConnections)

	var fresh []string // new or changed paths
	if old != nil {
		for _, p := range old.Paths {
			if _, ok := cfg.Path(p.Name); !ok {
				s.forget(p.Name, "removed from the config")
			}
		}
	}
	for _, p := range cfg.Paths {
		prev, ok := configs.Path{}, false
		if old != nil {
			prev, ok = old.Path(p.Name)
		}
		switch {
		case !ok:
			fresh = append(fresh, p.Name)
		case prev.Target != p.Target:
			s.forget(p.Name, "target changed")
			fresh = append(fresh, p.Name)
		case prev.Hash() != p.Hash():
			fresh = append(fresh, p.Name)
		}
		s.collector.SetPath(pathInfo(p))
	}
	s.measureMissing(fresh)
	return nil
}

// measureMissing starts a measurement now of every path in names that has
// no result, or whose result is older than its schedule's period: a run was
// missed while idleprobe was down, and waiting for the next one would let
// the staleness alert fire meanwhile.
func (s *Service) measureMissing(names []string) {
	current := map[string]bool{}
	now := time.Now()
	for _, ps := range s.collector.Paths() {
		current[ps.Info.Name] = ps.Result != nil &&
			(ps.Info.Interval <= 0 || now.Sub(ps.Result.Finished) < ps.Info.Interval)
	}
	for _, name := range names {
		if current[name] {
			continue
		}
		if err := s.sched.RunNow(name); err != nil && !errors.Is(err, schedule.ErrRunning) {
			s.log.Warn("could not start the first measurement", "path", name, "err", err)
		}
	}
}

// forget drops a path's stored state, then its published result: what is
// visible is never less durable than what is stored.
func (s *Service) forget(name, why string) {
	if err := s.store.Delete(name); err != nil {
		s.log.Warn("could not remove the path from the state file", "path", name, "err", err)
	}
	s.collector.Remove(name)
	s.log.Info("path result dropped", "path", name, "reason", why)
}

// current reports whether the running config still has the path name with
// settings hash key.
func (s *Service) current(name, key string) bool {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	if s.cfg == nil {
		return false
	}
	p, ok := s.cfg.Path(name)
	return ok && p.Hash() == key
}

// logWarnings logs config warnings.
func (s *Service) logWarnings(warns []configs.Warning) {
	for _, w := range warns {
		s.log.Warn("config warning", "warning", w.String())
	}
}

// mine returns cfg with only the paths this replica's shard owns (cfg
// itself when not sharded). The other settings are shared.
func (s *Service) mine(cfg *configs.Config) *configs.Config {
	if !s.opts.Shard.Enabled() {
		return cfg
	}
	own := *cfg
	own.Paths = nil
	for _, p := range cfg.Paths {
		if s.opts.Shard.Owns(p.Name) {
			own.Paths = append(own.Paths, p)
		}
	}
	s.log.Info("shard owns its paths", "shard", s.opts.Shard.String(), "paths", len(own.Paths), "configured", len(cfg.Paths))
	return &own
}

// checkLabels refuses a config whose paths set a label that ConstLabels
// sets too.
func (s *Service) checkLabels(cfg *configs.Config) error {
	for _, p := range cfg.Paths {
		if err := exporters.CheckConstLabels(s.opts.ConstLabels, p.Name, p.Labels); err != nil {
			return fmt.Errorf("%s: %w", cfg.File, err)
		}
	}
	return nil
}
