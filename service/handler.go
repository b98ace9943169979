package service

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"

	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/internal/chart"
)

// Handler returns the web endpoints: the landing page on "/", the metrics
// (idleprobe_build_info among them) on Options.MetricsPath, /-/healthy,
// /-/ready (503 until Start is done and after Stop) and /-/reload (POST or
// PUT, as SIGHUP). None of them measures anything named in a request:
// targets come only from the config file.
func (s *Service) Handler() http.Handler { return s.handler }

func (s *Service) newHandler() http.Handler {
	reg := exporters.NewRegistryWith(s.collector, s.opts.ConstLabels, append(s.shardGauges(),
		versioncollector.NewCollector("idleprobe"),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "idleprobe_trial_connections",
			Help: "Trial connections open now across all paths, counted against max_connections.",
		}, func() float64 { return float64(s.limiter.InUse()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "idleprobe_trial_connections_limit",
			Help: "The max_connections cap on trial connections open at once across all paths (0: none).",
		}, func() float64 { return float64(max(s.limiter.Limit(), 0)) }),
	)...)
	labelled := prometheus.WrapRegistererWith(s.opts.ConstLabels, reg) // the handler's own metrics carry --label too
	mux := http.NewServeMux()
	mux.Handle(s.opts.MetricsPath, promhttp.InstrumentMetricHandler(labelled, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelError),
		Registry: labelled,
	})))
	landing := exporters.LandingConfig{MetricsPath: s.opts.MetricsPath, Logger: s.log, Shard: s.opts.Shard.String(),
		History: func(name string) []chart.Point {
			if st := s.history.Load(); st != nil {
				return st.History(name)
			}
			return nil
		}}
	if version.Version != "" {
		landing.Version = fmt.Sprintf("%s (revision %s)", version.Version, version.GetRevision())
	}
	mux.Handle("/", exporters.LandingPage(s.collector, landing))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, r *http.Request) {
		if !s.Ready() {
			http.Error(w, "Not ready: loading the config and the state file", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "Use POST (or PUT) to reload the config", http.StatusMethodNotAllowed)
			return
		}
		if !s.Ready() {
			http.Error(w, "Not ready yet", http.StatusServiceUnavailable)
			return
		}
		if err := s.Reload(); err != nil {
			http.Error(w, "Config reload failed, the running config is kept:\n"+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "Config reloaded")
	})
	return mux
}

// shardGauges are idleprobe_shard_index and idleprobe_shard_total when the
// service is sharded, none otherwise.
func (s *Service) shardGauges() []prometheus.Collector {
	sh := s.opts.Shard
	if !sh.Enabled() {
		return nil
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "idleprobe_shard_index",
			Help: "This process's shard index (--shard INDEX/TOTAL): it measures only the configured paths whose rendezvous hash its index wins.",
		}, func() float64 { return float64(sh.Index) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "idleprobe_shard_total",
			Help: "Number of shards the configured paths are split among (--shard INDEX/TOTAL); each path is measured by exactly one.",
		}, func() float64 { return float64(sh.Total) }),
	}
}
