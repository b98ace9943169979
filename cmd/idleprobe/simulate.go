package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

func init() {
	register(command{
		name:    "simulate",
		summary: "predict both search strategies on a simulated path (no network)",
		run:     runSimulate,
	})
}

const simulateHelp = `
Usage: idleprobe simulate [flags]

Runs both search strategies (parallel and sequential) against a simulated
path under a fake clock and prints, side by side, what each would cost:
predicted wall time (and wall time / limit), the bracket found, its width and
relative precision, connections opened and most connections open at once.
Nothing touches the network; it takes milliseconds.

Examples:
  idleprobe simulate --limit 900s --mode reset
  idleprobe simulate --limit 350s --mode dropped --jitter 2s --flaky 0.01
  idleprobe simulate --limit 0 --max 10m        (a path with no limit)

The status column says how each run ended (measured, inconclusive by its
--deadline, unusable) and the kind column which clock the limit runs on
(idle, or lifetime); a run that did not end measured gets a line saying why.

Exit codes: 0 simulated, 1 a simulation failed, 2 usage error.
`

// simModes are the --mode values of simulate.
var simModes = func() []string {
	var m []string
	for _, o := range plan.SimModes {
		m = append(m, string(o))
	}
	return m
}()

// simRun is one strategy's simulated result.
type simRun struct {
	strategy plan.Strategy
	result   prober.Result
}

func runSimulate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("simulate")
	settings := plan.Defaults()
	path := plan.SimPath{Limit: 900 * time.Second, Mode: plan.Reset, Latency: time.Millisecond, Timeout: prober.DefaultTimeout, Seed: 1}
	mode := string(path.Mode)
	output := "text"
	fs.Var(durationValue{&path.Limit}, "limit", "The simulated path's idle limit (`duration`); 0 means it has none.")
	fs.Var(choiceValue{&mode, simModes}, "mode", "How the path kills idle connections: `mode` "+strings.Join(simModes, ", ")+".")
	fs.Var(durationValue{&path.Latency}, "latency", "One round trip on the path (`duration`).")
	fs.Var(durationValue{&path.Jitter}, "jitter", "Each idle period's limit is uniform in limit±jitter (`duration`).")
	fs.Var(floatValue{&path.Flaky}, "flaky", "`Probability` that a reuse which should work is reset anyway (a pod restart).")
	fs.Var(durationValue{&path.Timeout}, "timeout", "Trial timeout (`duration`): how long a trial into a black hole (--mode dropped) takes.")
	fs.Int64Var(&path.Seed, "seed", path.Seed, "Random `seed` for --jitter and --flaky.")
	addSearchFlags(fs, &settings)
	fs.Var(choiceValue{&output, []string{"text", "json"}}, "output", "Result `format`: text (a table) or json.")
	addLogFlags(fs)

	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, fs, simulateHelp)
		return exitOK
	}
	if err != nil {
		return usageError(stderr, flagError("simulate", err))
	}
	var errs []string
	if len(pos) > 0 {
		errs = append(errs, fmt.Sprintf("simulate takes no arguments, got %q (the path is described with flags: --limit, --mode)", pos[0]))
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "strategy" {
			errs = append(errs, "--strategy: simulate always runs both strategies")
		}
	})
	path.Mode = plan.Outcome(mode)
	if path.Limit < 0 {
		errs = append(errs, fmt.Sprintf("--limit: %s must not be negative (0 means no limit)", path.Limit))
	}
	if path.Latency < 0 {
		errs = append(errs, fmt.Sprintf("--latency: %s must not be negative", path.Latency))
	}
	if path.Jitter < 0 || (path.Limit > 0 && path.Jitter >= path.Limit) {
		errs = append(errs, fmt.Sprintf("--jitter: %s must be between 0 and the limit (%s)", path.Jitter, path.Limit))
	}
	if path.Flaky < 0 || path.Flaky >= 1 {
		errs = append(errs, fmt.Sprintf("--flaky: %g must be a probability in [0, 1)", path.Flaky))
	}
	if path.Timeout <= 0 {
		errs = append(errs, fmt.Sprintf("--timeout: %s must be positive (example: 5s)", path.Timeout))
	}
	settings.Strategy = plan.Parallel
	errs = append(errs, settingsErrors(settings.Validate())...)
	if len(errs) > 0 {
		return usageError(stderr, errs...)
	}

	var runs []simRun
	for _, st := range []plan.Strategy{plan.Parallel, plan.Sequential} {
		s := settings
		s.Strategy = st
		s = s.WithDeadline(path.Timeout)
		r, err := plan.Simulate(s, path)
		if err != nil && r.Status == "" {
			// No result to show: the simulation itself failed.
			fmt.Fprintf(stderr, "idleprobe: simulate %s: %s\n", st, oneLine(err.Error()))
			return exitFailed
		}
		r = exporters.Settle(r, err)
		r.Target = "sim://" + simName(path)
		runs = append(runs, simRun{strategy: st, result: r})
	}
	if output == "json" {
		if err := writeSimJSON(stdout, path, runs); err != nil {
			fmt.Fprintf(stderr, "idleprobe: writing the result: %s\n", oneLine(err.Error()))
			return exitFailed
		}
		return exitOK
	}
	writeSimTable(stdout, path, settings, runs)
	return exitOK
}

// simName describes a simulated path in a word: "reset-15m".
func simName(p plan.SimPath) string {
	if p.Limit <= 0 {
		return "no-limit"
	}
	return string(p.Mode) + "-" + fmtFlagDuration(p.Limit)
}

// writeSimTable prints the side-by-side comparison.
func writeSimTable(w io.Writer, p plan.SimPath, s plan.Settings, runs []simRun) {
	limit := "none"
	if p.Limit > 0 {
		limit = fmtDur(p.Limit) + " (" + string(p.Mode) + ")"
	}
	fmt.Fprintf(w, "Simulated path: limit %s, latency %s, jitter %s, flaky %g, seed %d\n",
		limit, fmtFlagDuration(p.Latency), fmtFlagDuration(p.Jitter), p.Flaky, p.Seed)
	deadline := "auto"
	if s.Deadline > 0 {
		deadline = fmtFlagDuration(s.Deadline)
	}
	fmt.Fprintf(w, "Search: min %s, max %s, precision %s (floor %s), budget %d, confirm %d, deadline %s\n\n",
		fmtFlagDuration(s.Min), fmtFlagDuration(s.Max), pct(s.Precision), fmtFlagDuration(s.PrecisionFloor), s.Budget, s.Confirm, deadline)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "strategy\tstatus\tkind\twall time\twall/T\tbracket\twidth\tprecision\tconns opened\tpeak conns")
	for _, run := range runs {
		r := run.result
		bracket, width, prec := "> "+fmtDur(r.Lower)+" (no limit up to "+fmtDur(r.Settings.Max)+")", "-", "-"
		if r.Found {
			bracket = fmtBracket(r.Lower, r.Upper)
			width = fmtDur(r.Width())
			prec = pct(r.Width().Seconds() / r.Upper.Seconds())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", run.strategy, advice.StatusOf(r), advice.KindOf(r),
			fmtDur(r.Duration()), ratio(r.Duration(), p.Limit), bracket, width, prec, r.ConnectionsOpened, r.PeakConnections)
	}
	tw.Flush()
	for _, run := range runs {
		if e := advice.Ending(run.result); e != "" {
			fmt.Fprintf(w, "%s: %s\n", run.strategy, e)
		}
		if l := advice.Lifetime(run.result); l != "" {
			fmt.Fprintf(w, "%s: lifetime limit: %s\n", run.strategy, l)
		}
	}
	if len(runs) == 2 && runs[0].result.Duration() > 0 {
		fmt.Fprintf(w, "\n%s finishes %s x faster than %s.\n", runs[0].strategy,
			ratio(runs[1].result.Duration(), runs[0].result.Duration()), runs[1].strategy)
	}
}

// simJSON is the --output json document of simulate.
type simJSON struct {
	Path struct {
		LimitSeconds   *float64     `json:"limit_seconds"`
		Mode           plan.Outcome `json:"mode"`
		LatencySeconds float64      `json:"latency_seconds"`
		JitterSeconds  float64      `json:"jitter_seconds"`
		Flaky          float64      `json:"flaky"`
		TimeoutSeconds float64      `json:"timeout_seconds"`
		Seed           int64        `json:"seed"`
	} `json:"path"`
	Runs []simRunJSON `json:"runs"`
}

type simRunJSON struct {
	Strategy      plan.Strategy `json:"strategy"`
	WallOverLimit *float64      `json:"wall_over_limit"`
	Precision     *float64      `json:"precision_reached"`
	Result        prober.Result `json:"result"`
}

func writeSimJSON(w io.Writer, p plan.SimPath, runs []simRun) error {
	var doc simJSON
	if p.Limit > 0 {
		l := p.Limit.Seconds()
		doc.Path.LimitSeconds = &l
	}
	doc.Path.Mode = p.Mode
	doc.Path.LatencySeconds = p.Latency.Seconds()
	doc.Path.JitterSeconds = p.Jitter.Seconds()
	doc.Path.Flaky = p.Flaky
	doc.Path.TimeoutSeconds = p.Timeout.Seconds()
	doc.Path.Seed = p.Seed
	doc.Runs = []simRunJSON{}
	for _, run := range runs {
		j := simRunJSON{Strategy: run.strategy, Result: run.result}
		if p.Limit > 0 {
			x := run.result.Duration().Seconds() / p.Limit.Seconds()
			j.WallOverLimit = &x
		}
		if run.result.Found && run.result.Upper > 0 {
			x := run.result.Width().Seconds() / run.result.Upper.Seconds()
			j.Precision = &x
		}
		doc.Runs = append(doc.Runs, j)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
