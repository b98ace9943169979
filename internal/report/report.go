// Package report shows one-shot measurements on the command line: the live
// progress line, the summary, the JSON and Prometheus text outputs, the
// push to a Pushgateway, and the side-by-side table of a simulation. It is
// the code path of both `idleprobe measure` and `idleprobe demo`.
package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/internal/chart"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Outputs are the result formats: text (summary and advice), json (one
// object), prom (Prometheus text format, for a textfile collector), svg
// (the chart of the trials, package chart) and html (a standalone page with
// that chart and the summary, the same page as a path's page of `serve`).
var Outputs = []string{"text", "json", "prom", "svg", "html"}

// Options say how Measure shows progress and the result.
type Options struct {
	// Output is one of Outputs ("" is text).
	Output string
	// Name is the path label of the prom output and the Pushgateway push
	// (default: the target).
	Name string
	// PushURL is the Pushgateway to push a complete result to, or "".
	PushURL string
	// Progress redraws a live progress line on the output (a terminal).
	Progress bool
	// Width returns the terminal's width in columns (0 when unknown), read
	// at every redraw of the progress line; nil is unknown.
	Width func() int
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
	// Measure runs the measurement: prober.Measure when nil (tests pass a
	// stand-in that ends the way they need).
	Measure func(context.Context, prober.Target, prober.Options) (prober.Result, error)
}

// ErrInterrupted is wrapped by Measure's error when Ctrl-C or SIGTERM
// stopped the measurement: the result written is partial.
var ErrInterrupted = errors.New("interrupted")

// Measure runs one measurement with the live display hooked to its
// progress, writes the result to w in the chosen format whatever its
// status (a result without a clean answer is marked as such), pushes a
// complete result, and returns it. The error, one line, says why the
// measurement has no clean answer (inconclusive, unusable), that it was
// interrupted (wrapping ErrInterrupted), or that writing or pushing failed.
func Measure(ctx context.Context, target prober.Target, opts prober.Options, o Options, w io.Writer) (prober.Result, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Logger == nil {
		opts.Logger = o.Logger
	}
	var disp *display
	if o.Progress {
		counter := &connCounter{inner: opts.Limiter}
		opts.Limiter = counter
		disp = startDisplay(w, time.Now(), o.Width, counter.open)
		prev := opts.Progress
		opts.Progress = func(p prober.Progress) {
			disp.update(p)
			if prev != nil {
				prev(p)
			}
		}
	}
	opts = withDeadline(opts)
	o.Logger.Debug("measuring", "target", target.String(), "strategy", opts.Plan.Strategy,
		"min", opts.Plan.Min, "max", opts.Plan.Max, "budget", opts.Plan.Budget, "deadline", opts.Plan.Deadline)
	measure := o.Measure
	if measure == nil {
		measure = prober.Measure
	}
	r, err := measure(ctx, target, opts)
	if disp != nil {
		disp.stop()
	}
	if r.Target == "" {
		r.Target = target.String()
	}
	if r.Settings.Strategy == "" {
		r.Settings = opts.Plan
	}
	if ctx.Err() != nil && !r.Complete {
		r.Status = plan.Interrupted
	}
	r = exporters.Settle(r, err)
	status := advice.StatusOf(r)
	if err != nil && status != plan.Interrupted {
		o.Logger.Debug("measurement failed", "status", status, "err", err)
	}
	if werr := write(w, r, o, opts.Transport.Proxy); werr != nil {
		return r, fmt.Errorf("writing the result: %w", werr)
	}
	switch status {
	case plan.Interrupted:
		return r, fmt.Errorf("%w; the result above is partial", ErrInterrupted)
	case plan.Measured:
	default:
		// Inconclusive or unusable: the evidence is written, the reason
		// returned, and nothing is pushed.
		return r, fmt.Errorf("measuring %s: %s", target, oneLine(advice.Ending(r)))
	}
	if o.PushURL != "" && exporters.Publishable(r) {
		if perr := push(ctx, o.PushURL, oneShotPath(o.Name, r, opts.Transport.Proxy), r); perr != nil {
			return r, fmt.Errorf("pushing to %s: %w", o.PushURL, perr)
		}
	}
	if ctx.Err() != nil && opts.Keepalive != nil && r.Found && !r.KeepaliveChecked {
		// Measure keeps a finished search when the keepalive check after it
		// is cut short: the limit above is final, the check is not done.
		return r, fmt.Errorf("%w during the TCP keepalive check; the limit above is final, the check was not done", ErrInterrupted)
	}
	return r, nil
}

// withDeadline returns opts with the automatic deadline resolved against
// its trial timeout, so that the result says which deadline it ran with.
func withDeadline(opts prober.Options) prober.Options {
	if opts.Plan == (plan.Settings{}) {
		return opts // prober.Measure applies plan.Defaults
	}
	timeout := opts.Transport.Timeout
	if timeout <= 0 {
		timeout = prober.DefaultTimeout
	}
	opts.Plan = opts.Plan.WithDeadline(timeout)
	return opts
}

// write prints r, measured through proxy px (nil: directly), in the
// chosen output format.
func write(w io.Writer, r prober.Result, o Options, px *prober.Proxy) error {
	switch o.Output {
	case "json":
		b, err := json.Marshal(r)
		if err == nil && px != nil {
			b, err = withProxy(b, prober.JudgeProxy(r, px))
		}
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	case "prom":
		return writeProm(w, oneShotPath(o.Name, r, px), r)
	case "svg":
		return chart.Trials(w, pageName(o, r), r, 0)
	case "html":
		var sum strings.Builder
		writeSummary(&sum, r, prober.JudgeProxy(r, px))
		return exporters.WritePathPage(w, exporters.PathPage{Name: pageName(o, r), Target: r.Target, Result: &r, Summary: sum.String()})
	default:
		writeSummary(w, r, prober.JudgeProxy(r, px))
		return nil
	}
}

// pageName is the title of the svg and html outputs: --name, or the
// target.
func pageName(o Options, r prober.Result) string {
	if o.Name != "" {
		return o.Name
	}
	return r.Target
}

// oneLine joins a possibly multi-line message into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
