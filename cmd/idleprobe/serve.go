package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/idleprobe/idleprobe/configs"
	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/internal/shard"
	"github.com/idleprobe/idleprobe/service"
)

// defaultListenAddress is where `idleprobe serve` listens by default. 9958
// sits in the range Prometheus keeps for exporters (9100-9999).
const defaultListenAddress = ":9958"

const serveHelp = `
Measure the configured paths on their schedules and export the results to Prometheus.

Runs as a service: measures every path of the config file on its own schedule and exports the latest result of each on the telemetry path for Prometheus. The latest results are kept in the state file, so a restarted service exports them again with their original timestamps; paths with no stored result (or whose stored result is older than their schedule's period) are measured once right away.

Endpoints: /metrics (--web.telemetry-path), / (the paths and their latest results), /-/healthy, /-/ready (200 once the config is loaded and the state restored), /-/reload (POST or PUT: reload the config file, as SIGHUP does).

Every measurement ends by its deadline (deadline: in the config; automatic by default, see CONFIGURATION.md). One that ends inconclusive or unusable is logged as a warning with its reason, counts idleprobe_measurements_total{result="failure"}, shows its reason on the landing page, and leaves the previous result exported; the path's next run is not blocked.

A reload with an invalid config is rejected and logged, the running config keeps going and idleprobe_config_last_reload_successful drops to 0. Paths whose settings did not change keep their schedules and results. SIGTERM or SIGINT cancels in-flight measurements (their partial brackets are never published) and stops within a few seconds.
`

// serveFlags are serve's flags as parsed.
type serveFlags struct {
	configFile, metricsPath, storagePath *string
	check, whichHop                      *bool
	web                                  *web.FlagConfig
	shard                                *string
	labels                               *map[string]string
}

func (c *cli) addServe() {
	f := &serveFlags{}
	cmd := c.command("serve", serveHelp, "", " (serve takes only flags; the paths come from --config.file)", func(ctx context.Context, _ []string) int {
		if p := *f.metricsPath; !strings.HasPrefix(p, "/") || p == "/" || strings.HasPrefix(p, "/-/") {
			return c.usage(fmt.Sprintf("--web.telemetry-path: %q must start with / and not be / or under /-/ (example: /metrics)", p))
		}
		sh, err := shard.Parse(*f.shard)
		if err != nil && *f.shard != "" {
			return c.usage("--shard: " + err.Error())
		}
		for name := range *f.labels {
			if err := exporters.CheckLabelName(name); err != nil {
				return c.usage(fmt.Sprintf("--label %s=...: %v", name, err))
			}
		}
		if *f.check {
			return c.exit(f.checkConfig(c))
		}
		return c.exit(f.serve(ctx, c.logger(), sh))
	})
	f.configFile = cmd.Flag("config.file", "Config file listing the paths to measure (see CONFIGURATION.md).").Default("idleprobe.yml").String()
	f.check = cmd.Flag("config.check", "Validate the config file (and --web.config.file, --shard and --label), print any warnings and exit: 0 when valid, 1 when not.").Bool()
	f.metricsPath = cmd.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
	f.storagePath = cmd.Flag("storage.path", "State file keeping the latest result of every path across restarts (written atomically).").Default("idleprobe-state.json").String()
	f.shard = cmd.Flag("shard", "Measure only this shard's part of the paths: INDEX/TOTAL (2/5), where INDEX may be a StatefulSet pod name ending in -ORDINAL (--shard=$(POD_NAME)/5). Each path belongs to exactly one of the TOTAL shards (rendezvous hashing of its name).").PlaceHolder("INDEX/TOTAL").String()
	f.whichHop = cmd.Flag("which-hop", whichHopHelp).Default("true").Bool()
	f.labels = cmd.Flag("label", "A constant label NAME=VALUE added to every exported series (repeatable), e.g. --label node=$(NODE_NAME) in a DaemonSet.").PlaceHolder("NAME=VALUE").StringMap()
	f.web = kingpinflag.AddFlags(cmd, defaultListenAddress)
}

// checkConfig validates the config file and the web config file for
// --config.check.
func (f *serveFlags) checkConfig(c *cli) error {
	cfg, warns, err := configs.Load(*f.configFile)
	for _, w := range warns {
		fmt.Fprintf(c.stderr, "warning: %s\n", w)
	}
	if err != nil {
		return err
	}
	for _, p := range cfg.Paths {
		if err := exporters.CheckConstLabels(*f.labels, p.Name, p.Labels); err != nil {
			return fmt.Errorf("%s: %w", *f.configFile, err)
		}
	}
	if file := *f.web.WebConfigFile; file != "" {
		if err := web.Validate(file); err != nil {
			return fmt.Errorf("%s: %s", file, oneLine(err.Error()))
		}
	}
	fmt.Fprintf(c.stdout, "%s: OK, %d paths\n", *f.configFile, len(cfg.Paths))
	return nil
}

// serve runs the service until ctx ends, reloading its config on SIGHUP. It
// fails only on start-up problems: an invalid config or web config, a
// listen address that cannot be bound, a state directory that cannot be
// created, or a web server that dies.
func (f *serveFlags) serve(ctx context.Context, log *slog.Logger, sh shard.Shard) error {
	log.Info("Starting idleprobe", "version", version.Info())
	log.Info("Build context", "build_context", version.BuildContext())
	cfg, warns, err := configs.Load(*f.configFile)
	for _, w := range warns {
		log.Warn("config warning", "warning", w.String())
	}
	if err != nil {
		return err
	}
	if file := *f.web.WebConfigFile; file != "" {
		if err := web.Validate(file); err != nil {
			return fmt.Errorf("web config %s: %w", file, err)
		}
	}
	svc := service.New(cfg, service.Options{ConfigFile: *f.configFile, StatePath: *f.storagePath, MetricsPath: *f.metricsPath, Logger: log,
		Shard: sh, ConstLabels: *f.labels, WhichHop: *f.whichHop})
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return svc.Run(ctx, func(srv *http.Server) error {
		if err := web.ListenAndServe(srv, f.web, log); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("web server on %s: %w", f.listening(), err)
		}
		return nil
	}, hup)
}

// listening says where the web server listens, naming the flag.
func (f *serveFlags) listening() string {
	if *f.web.WebSystemdSocket {
		return "the sockets of --web.systemd-socket"
	}
	return "--web.listen-address " + strings.Join(*f.web.WebListenAddresses, ", ")
}
