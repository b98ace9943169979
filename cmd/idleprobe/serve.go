package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/idleprobe/idleprobe/configs"
	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/schedule"
)

// defaultListenAddress is where `idleprobe serve` listens by default. 9958
// sits in the range Prometheus keeps for exporters (9100-9999).
const defaultListenAddress = ":9958"

// defaultStopTimeout bounds how long a shutdown waits for in-flight
// measurements to notice their cancellation, and then for the web server
// to finish its requests.
const defaultStopTimeout = 5 * time.Second

func init() {
	register(command{
		name:    "serve",
		summary: "measure the configured paths on their schedules and export the results to Prometheus",
		run:     runServe,
	})
}

const serveHelp = `
Usage: idleprobe serve [flags]

Runs as a service: measures every path of the config file on its own
schedule and exports the latest result of each on the telemetry path for
Prometheus. The latest results are kept in the state file, so a restarted
service exports them again with their original timestamps; paths with no
stored result (or whose stored result is older than their schedule's
period) are measured once right away.

Endpoints:
  /metrics       Prometheus metrics (--web.telemetry-path)
  /              landing page listing the paths and their latest results
  /-/healthy     200 while the process runs
  /-/ready       200 once the config is loaded and the state restored
  /-/reload      POST or PUT: reload the config file (as SIGHUP does)

Every measurement ends by its deadline (deadline: in the config; automatic
by default, see CONFIGURATION.md). One that ends inconclusive or unusable is
logged as a warning with its reason, counts
idleprobe_measurements_total{result="failure"}, shows its reason on the
landing page, and leaves the previous result exported; the path's next run
is not blocked.

A reload with an invalid config is rejected and logged, the running config
keeps going and idleprobe_config_last_reload_successful drops to 0. Paths
whose settings did not change keep their schedules and results. SIGTERM or
SIGINT cancels in-flight measurements (their partial brackets are never
published) and stops within a few seconds.
`

// serveOptions are the flags of `idleprobe serve`.
type serveOptions struct {
	configFile      string
	configCheck     bool
	listenAddresses []string
	telemetryPath   string
	webConfigFile   string
	storagePath     string
	log             *logFlags
	// stopTimeout bounds each of the two shutdown steps (scheduler, web).
	stopTimeout time.Duration
}

// stringsValue collects a repeatable string flag.
type stringsValue struct {
	s   *[]string
	set bool
}

func (v *stringsValue) String() string {
	if v == nil || v.s == nil {
		return ""
	}
	return strings.Join(*v.s, ",")
}

func (v *stringsValue) Set(s string) error {
	if !v.set {
		*v.s = nil // the first use replaces the default
		v.set = true
	}
	*v.s = append(*v.s, s)
	return nil
}

// parseServeFlags parses the arguments of `idleprobe serve`.
func parseServeFlags(args []string) (*serveOptions, *flag.FlagSet, error) {
	o := &serveOptions{
		configFile:      "idleprobe.yml",
		listenAddresses: []string{defaultListenAddress},
		telemetryPath:   "/metrics",
		storagePath:     "idleprobe-state.json",
		stopTimeout:     defaultStopTimeout,
	}
	fs := newFlagSet("serve")
	fs.StringVar(&o.configFile, "config.file", o.configFile, "Config file listing the paths to measure (see CONFIGURATION.md).")
	fs.BoolVar(&o.configCheck, "config.check", false, "Validate the config file (and --web.config.file), print any warnings and exit: 0 when valid, 1 when not.")
	fs.Var(&stringsValue{s: &o.listenAddresses}, "web.listen-address", "Address to listen on for the web interface and telemetry. Repeat to listen on several.")
	fs.StringVar(&o.telemetryPath, "web.telemetry-path", o.telemetryPath, "Path under which to expose metrics.")
	fs.StringVar(&o.webConfigFile, "web.config.file", "", "Path to a prometheus/exporter-toolkit web config file that enables TLS and/or basic authentication.")
	fs.StringVar(&o.storagePath, "storage.path", o.storagePath, "State file keeping the latest result of every path across restarts (written atomically).")
	o.log = addLogFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, fs, err
	}
	if len(pos) > 0 {
		return nil, fs, fmt.Errorf("unexpected argument %q (serve takes only flags; the paths come from --config.file)", pos[0])
	}
	if !strings.HasPrefix(o.telemetryPath, "/") || o.telemetryPath == "/" || strings.HasPrefix(o.telemetryPath, "/-/") {
		return nil, fs, fmt.Errorf("--web.telemetry-path: %q must start with / and not be / or under /-/ (example: /metrics)", o.telemetryPath)
	}
	if len(o.listenAddresses) == 0 {
		return nil, fs, errors.New("--web.listen-address: needs at least one address (example: :9958)")
	}
	return o, fs, nil
}

// runServe is the `idleprobe serve` command.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			_, fs, _ := parseServeFlags(nil)
			printHelp(stdout, fs, serveHelp)
			return exitOK
		}
	}
	o, _, err := parseServeFlags(args)
	if err != nil {
		var msg string
		if strings.HasPrefix(err.Error(), "--") || strings.HasPrefix(err.Error(), "unexpected") {
			msg = err.Error()
		} else {
			msg = flagError("serve", err)
		}
		return usageError(stderr, msg)
	}
	if o.configCheck {
		return checkServeConfig(o, stdout, stderr)
	}
	logger := o.log.logger(stderr)
	s := newServer(o, logger)
	if err := s.run(ctx); err != nil {
		// A config with several problems gives one line each.
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "idleprobe: %s\n", line)
		}
		return exitFailed
	}
	return exitOK
}

// checkServeConfig validates the config file (and the web config file) for
// --config.check.
func checkServeConfig(o *serveOptions, stdout, stderr io.Writer) int {
	cfg, warns, err := configs.Load(o.configFile)
	for _, w := range warns {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "idleprobe: %s\n", line)
		}
		return exitFailed
	}
	if o.webConfigFile != "" {
		if err := web.Validate(o.webConfigFile); err != nil {
			fmt.Fprintf(stderr, "idleprobe: %s: %s\n", o.webConfigFile, oneLine(err.Error()))
			return exitFailed
		}
	}
	fmt.Fprintf(stdout, "%s: OK, %d paths\n", o.configFile, len(cfg.Paths))
	return exitOK
}

// server is one running `idleprobe serve`.
type server struct {
	opts *serveOptions
	log  *slog.Logger

	sched     *schedule.Scheduler
	limiter   *schedule.Limiter
	collector *exporters.Collector
	store     *exporters.Store

	// ready is true once the config is loaded and the state restored, until
	// shutdown begins.
	ready atomic.Bool
	// listening is closed once the listeners are open; addrs is set then.
	listening chan struct{}
	addrs     []net.Addr

	// reloadMu serialises config loads; cfgMu guards cfg (read by
	// measurements to check they still belong to the running config).
	reloadMu sync.Mutex
	cfgMu    sync.RWMutex
	cfg      *configs.Config

	// measureFn runs one measurement: prober.Measure, or a stand-in in tests.
	measureFn func(context.Context, prober.Target, prober.Options) (prober.Result, error)
}

func newServer(o *serveOptions, logger *slog.Logger) *server {
	if o.stopTimeout <= 0 {
		o.stopTimeout = defaultStopTimeout
	}
	return &server{
		opts:      o,
		log:       logger,
		sched:     schedule.New(schedule.Options{Logger: logger.With("component", "scheduler")}),
		limiter:   schedule.NewLimiter(configs.DefaultMaxConnections),
		collector: exporters.NewCollector(),
		listening: make(chan struct{}),
		measureFn: prober.Measure,
	}
}

// run serves until ctx ends. It fails only on start-up problems: an
// invalid config or web config, a listen address that cannot be bound, a
// state directory that cannot be created, or a web server that dies.
func (s *server) run(ctx context.Context) error {
	cfg, warns, err := configs.Load(s.opts.configFile)
	s.logWarnings(warns)
	if err != nil {
		return err
	}
	if s.opts.webConfigFile != "" {
		if err := web.Validate(s.opts.webConfigFile); err != nil {
			return fmt.Errorf("web config %s: %w", s.opts.webConfigFile, err)
		}
	}

	listeners := make([]net.Listener, 0, len(s.opts.listenAddresses))
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	for _, addr := range s.opts.listenAddresses {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("--web.listen-address %s: %w", addr, err)
		}
		listeners = append(listeners, l)
		s.addrs = append(s.addrs, l.Addr())
	}

	// The web server comes up first, so that /-/healthy answers (and
	// /-/ready says "not yet") while the state is restored.
	handler := s.handler()
	servers := make([]*http.Server, len(listeners))
	serveErr := make(chan error, len(listeners))
	var serving sync.WaitGroup
	for i, l := range listeners {
		srv := &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
		servers[i] = srv
		serving.Go(func() {
			if err := web.Serve(l, srv, &web.FlagConfig{
				WebListenAddresses: &[]string{l.Addr().String()},
				WebSystemdSocket:   new(bool),
				WebConfigFile:      &s.opts.webConfigFile,
			}, s.log); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("web server on %s: %w", l.Addr(), err)
			}
		})
	}
	close(s.listening)

	err = s.start(cfg)
	if err == nil {
		s.ready.Store(true)
		s.log.Info("idleprobe serve ready", "paths", len(cfg.Paths), "listen", s.opts.listenAddresses, "state", s.opts.storagePath)
		err = s.wait(ctx, serveErr)
	}

	// Shutdown: not ready any more, cancel measurements (bounded), then
	// stop the web server (bounded).
	s.ready.Store(false)
	stopCtx, cancel := context.WithTimeout(context.Background(), s.opts.stopTimeout)
	if serr := s.sched.Stop(stopCtx); serr != nil {
		s.log.Warn("some measurements did not stop in time; exiting without them", "err", serr, "timeout", s.opts.stopTimeout)
	}
	cancel()
	stopCtx, cancel = context.WithTimeout(context.Background(), s.opts.stopTimeout)
	defer cancel()
	for _, srv := range servers {
		if serr := srv.Shutdown(stopCtx); serr != nil {
			srv.Close()
		}
	}
	serving.Wait()
	closeAll()
	s.log.Info("idleprobe serve stopped")
	return err
}

// start restores the state file, seeds the collector and starts the
// schedules of cfg.
func (s *server) start(cfg *configs.Config) error {
	store, stored, err := exporters.OpenStore(s.opts.storagePath, s.log.With("component", "state"))
	if err != nil {
		return err
	}
	s.store = store
	infos := make([]exporters.PathInfo, len(cfg.Paths))
	for i, p := range cfg.Paths {
		infos[i] = pathInfo(p)
	}
	seeded := exporters.Seed(s.collector, infos, stored)
	if len(seeded) > 0 {
		s.log.Info("restored results from the state file", "paths", seeded)
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if err := s.apply(cfg); err != nil {
		return err
	}
	s.collector.SetReload(true, time.Now())
	s.sched.Start()
	return nil
}

// wait blocks until ctx ends (nil) or a web server fails (its error), and
// reloads the config on SIGHUP meanwhile.
func (s *server) wait(ctx context.Context, serveErr <-chan error) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			s.log.Info("shutting down", "cause", context.Cause(ctx))
			return nil
		case err := <-serveErr:
			return err
		case <-hup:
			s.log.Info("SIGHUP received: reloading the config", "file", s.opts.configFile)
			_ = s.reload() // logged by reload
		}
	}
}

// reload loads the config file again and, when it is valid, applies it. A
// bad config is rejected: it is logged, the reload metric drops to 0 and
// the running config keeps going.
func (s *server) reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	cfg, warns, err := configs.Load(s.opts.configFile)
	s.logWarnings(warns)
	if err == nil {
		err = s.apply(cfg)
	}
	if err != nil {
		s.collector.SetReload(false, time.Time{})
		s.log.Error("config reload failed; the running config is kept", "file", s.opts.configFile, "err", oneLine(err.Error()))
		return err
	}
	s.collector.SetReload(true, time.Now())
	s.log.Info("config reloaded", "file", s.opts.configFile, "paths", len(cfg.Paths))
	return nil
}

// apply makes cfg the running config: swaps the schedules (unchanged
// paths keep theirs and their running measurement), updates the collector
// (removed paths disappear; a path whose target changed loses its old
// result) and the state file, sets the global connection cap, and measures
// at once every new or changed path that has no result. s.reloadMu must be
// held.
func (s *server) apply(cfg *configs.Config) error {
	s.cfgMu.RLock()
	old := s.cfg
	s.cfgMu.RUnlock()

	jobs := make([]schedule.Job, 0, len(cfg.Paths))
	for _, p := range cfg.Paths {
		info := pathInfo(p)
		key := p.Hash()
		jobs = append(jobs, schedule.Job{
			Name:   p.Name,
			Spec:   p.Schedule,
			Jitter: p.Jitter,
			Key:    key,
			Run:    func(ctx context.Context) { s.measure(ctx, p, key, info) },
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
		if old == nil {
			fresh = append(fresh, p.Name)
			continue
		}
		prev, ok := old.Path(p.Name)
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

	// A path needs a measurement now when it has no result, or when its
	// result is older than its schedule's period: a run was missed while
	// idleprobe was down, and waiting for the next one would let the
	// staleness alert fire meanwhile.
	has := map[string]bool{}
	now := time.Now()
	for _, ps := range s.collector.Paths() {
		has[ps.Info.Name] = ps.Result != nil &&
			(ps.Info.Interval <= 0 || now.Sub(ps.Result.Finished) < ps.Info.Interval)
	}
	for _, name := range fresh {
		if has[name] {
			continue
		}
		if err := s.sched.RunNow(name); err != nil && !errors.Is(err, schedule.ErrRunning) {
			s.log.Warn("could not start the first measurement", "path", name, "err", err)
		}
	}
	return nil
}

// forget drops a path's stored state, then its published result: what is
// visible is never less durable than what is stored.
func (s *server) forget(name, why string) {
	if err := s.store.Delete(name); err != nil {
		s.log.Warn("could not remove the path from the state file", "path", name, "err", err)
	}
	s.collector.Remove(name)
	s.log.Info("path result dropped", "path", name, "reason", why)
}

// current reports whether the running config still has the path name with
// settings hash key.
func (s *server) current(name, key string) bool {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	if s.cfg == nil {
		return false
	}
	p, ok := s.cfg.Path(name)
	return ok && p.Hash() == key
}

// measure is one scheduled run of path p: the same prober.Measure as the
// one-shot command, with the global connection cap, and the bookkeeping
// around it. Every run ends by the path's deadline. Only a measured result
// is saved and then published (durable before visible); an inconclusive or
// unusable one counts a failure and leaves the previous result exported.
func (s *server) measure(ctx context.Context, p configs.Path, key string, info exporters.PathInfo) {
	log := s.log.With("path", p.Name)
	target, opts := p.Measurement()
	opts.Limiter = s.limiter
	opts.Logger = log
	opts.Progress = func(pr prober.Progress) {
		if pr.Trial != nil {
			s.collector.ObserveTrial(p.Name, pr.Trial.Outcome)
		}
	}
	s.collector.SetInProgress(p.Name, true)
	defer s.collector.SetInProgress(p.Name, false)
	log.Info("measurement starting", "target", info.Target, "deadline", opts.Plan.Deadline)

	r, err := s.measureFn(ctx, target, opts)

	if !s.current(p.Name, key) {
		log.Info("measurement discarded: the path was changed or removed meanwhile", "complete", r.Complete)
		return
	}
	class := exporters.Classify(r, err)
	if class == exporters.ResultSuccess {
		if err := s.store.Save(p.Name, info, r); err != nil {
			log.Error("could not save the result to the state file", "file", s.opts.storagePath, "err", err)
		}
	}
	s.collector.Record(p.Name, r, err)
	switch class {
	case exporters.ResultSuccess:
		upper := "none"
		if r.Found {
			upper = r.Upper.String()
		}
		log.Info("measurement finished", "lower", r.Lower, "upper", upper, "mode", r.Mode, "kind", r.Kind,
			"duration", r.Duration().Round(time.Millisecond), "connections", r.ConnectionsOpened)
	case exporters.ResultCancelled:
		log.Info("measurement cancelled; its partial result is not published", "err", err)
	default:
		sr := exporters.Settle(r, err)
		log.Warn("measurement failed; the previous result stays published", "status", sr.Status,
			"reason", exporters.Failure(r, err), "found", sr.Found, "lower", sr.Lower, "upper", sr.Upper,
			"agree", sr.Agree, "disagree", sr.Disagree, "duration", sr.Duration().Round(time.Millisecond), "err", err)
	}
}

// logWarnings logs config warnings.
func (s *server) logWarnings(warns []configs.Warning) {
	for _, w := range warns {
		s.log.Warn("config warning", "warning", w.String())
	}
}

// pathInfo describes a configured path for the collector and state file.
func pathInfo(p configs.Path) exporters.PathInfo {
	interval, _ := schedule.Period(p.Schedule, time.Now())
	return exporters.PathInfo{
		Name:              p.Name,
		Target:            p.Target,
		ClientIdleTimeout: p.ClientIdleTimeout,
		Interval:          interval,
		Labels:            p.Labels,
	}
}
