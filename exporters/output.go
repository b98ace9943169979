package exporters

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"

	"github.com/idleprobe/idleprobe/internal/atomicfile"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// NewRegistry returns the registry `idleprobe serve` exposes on its
// telemetry path: c plus the Go runtime and process collectors.
func NewRegistry(c *Collector) *prometheus.Registry {
	return NewRegistryWith(c, nil)
}

// NewRegistryWith is NewRegistry with constant labels added to every
// series of every collector it holds (the Go and process collectors, c and
// more): `idleprobe serve --label node=...` on each node of a DaemonSet.
// The names must pass CheckLabelName and differ from every path's extra
// labels (see CheckConstLabels).
func NewRegistryWith(c *Collector, constLabels map[string]string, more ...prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	prometheus.WrapRegistererWith(constLabels, reg).MustRegister(append([]prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		c,
	}, more...)...)
	return reg
}

// ErrIncomplete is returned when asked to write, save or push a result that
// is not Publishable (cut short, inconclusive, unusable): its bracket is
// partial and must not replace a previous one.
var ErrIncomplete = errors.New("result is incomplete (the measurement was cut short, inconclusive or unusable); nothing written")

// oneShotRegistry holds only the gauges describing r, for one-shot output.
func oneShotRegistry(path PathInfo, r plan.Result, omitPath bool) (*prometheus.Registry, error) {
	if !Publishable(r) {
		return nil, ErrIncomplete
	}
	if err := ValidateLabels(path.Labels); err != nil {
		return nil, err
	}
	c := NewCollector()
	c.oneShot = true
	c.omitPath = omitPath
	c.Set(path, r)
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	return reg, nil
}

// WriteText writes the Prometheus text exposition of one completed result:
// the same gauges `idleprobe serve` exports for the path, without the
// counters, which mean nothing for a single run. It is what
// `measure --output prom` prints and what node_exporter's textfile
// collector reads. A result that is not Publishable yields ErrIncomplete.
func WriteText(w io.Writer, path PathInfo, r plan.Result) error {
	reg, err := oneShotRegistry(path, r, false)
	if err != nil {
		return err
	}
	mfs, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("write metrics: %w", err)
		}
	}
	return nil
}

// WriteTextfile replaces filename atomically with WriteText's output, for
// node_exporter's textfile collector (use a name ending in .prom in its
// directory). The text goes to a temporary file in the same directory that
// is renamed over filename, so a reader sees the old file or the new one,
// never a partial one. On any error (including a result that is not
// Publishable) the old file is left as it was.
func WriteTextfile(filename string, path PathInfo, r plan.Result) error {
	var buf bytes.Buffer
	if err := WriteText(&buf, path, r); err != nil {
		return err
	}
	return atomicfile.Write(filename, buf.Bytes(), 0o644)
}

// Push sends one completed result to the Pushgateway at gatewayURL under
// job, grouped by path (the grouping key carries the path label), replacing
// what was pushed for that path before. A result that is not Publishable
// yields ErrIncomplete and pushes nothing.
func Push(ctx context.Context, gatewayURL, job string, path PathInfo, r plan.Result) error {
	if path.Name == "" {
		return errors.New("push: the path needs a name (it is the grouping key)")
	}
	reg, err := oneShotRegistry(path, r, true)
	if err != nil {
		return err
	}
	// A client of its own, whose connections are closed afterwards: a
	// one-shot run leaves nothing behind.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	err = push.New(gatewayURL, job).
		Client(&http.Client{Transport: tr}).
		Gatherer(reg).
		Grouping("path", path.Name).
		Format(expfmt.NewFormat(expfmt.TypeTextPlain)).
		PushContext(ctx)
	if err != nil {
		return fmt.Errorf("push to %s: %w", gatewayURL, err)
	}
	return nil
}
