package report

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/prober"
)

// pushJob is the Pushgateway job name of `measure --push-gateway`.
const pushJob = "idleprobe"

// pushTimeout bounds one push to the Pushgateway.
const pushTimeout = 10 * time.Second

// oneShotPath names a one-shot result the way `serve` names a configured path,
// so that the shipped alert rules work on textfile and pushed results too;
// px is the proxy it was measured through, or nil.
func oneShotPath(name string, r prober.Result, px *prober.Proxy) exporters.PathInfo {
	if name == "" {
		name = r.Target
	}
	return exporters.PathInfo{Name: name, Target: r.Target, Proxy: px}
}

// writeProm writes r in the Prometheus text exposition format, for
// node_exporter's textfile collector (`measure --output prom > file.prom`):
// the same gauges `serve` exports for a path. A result that is not
// publishable (interrupted, inconclusive, unusable) is never exported as if
// it were one: only a comment says what happened.
func writeProm(w io.Writer, path exporters.PathInfo, r prober.Result) error {
	if !exporters.Publishable(r) {
		_, err := fmt.Fprintf(w, "# idleprobe: the measurement of %s ended without a result (%s); nothing is exported.\n", r.Target, advice.Ending(r))
		return err
	}
	return exporters.WriteText(w, path, r)
}

// push sends a complete result to the Pushgateway at url.
func push(ctx context.Context, url string, path exporters.PathInfo, r prober.Result) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
	defer cancel()
	return exporters.Push(ctx, url, pushJob, path, r)
}
