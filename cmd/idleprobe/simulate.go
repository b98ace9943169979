package main

import (
	"context"
	"fmt"
	"github.com/idleprobe/idleprobe/configs"
	"strings"
	"time"

	"github.com/idleprobe/idleprobe/internal/cliflags"
	"github.com/idleprobe/idleprobe/internal/report"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

const simulateHelp = `
Predict both search strategies on a simulated path (no network).

Runs both search strategies (parallel and sequential) against a simulated path under a fake clock and prints, side by side, what each would cost: predicted wall time (and wall time / limit), the bracket found, its width and relative precision, connections opened and most connections open at once. Nothing touches the network; it takes milliseconds.

Examples:

  idleprobe simulate --limit 900s --mode reset
  idleprobe simulate --limit 350s --mode dropped --jitter 2s --flaky 0.01
  idleprobe simulate --limit 0 --max 10m        (a path with no limit)
  idleprobe simulate --limit 900s --hint 750s    (re-measuring: the limit moved up by 20 %)

With --hint a third run, "parallel+hint", starts from that previous answer (as idleprobe serve does from a path's last result), beside the two strategies without it.

The status column says how each run ended (measured, inconclusive by its --deadline, unusable) and the kind column which clock the limit runs on (idle, or lifetime); a run that did not end measured gets a line saying why.

Exit codes: 0 simulated, 1 a simulation failed, 2 usage error.
`

func (c *cli) addSimulate() {
	var search *searchFlags
	var limit, latency, jitter, timeout *time.Duration
	var mode, output *string
	var flaky cliflags.Fraction
	var seed *int64
	cmd := c.command("simulate", simulateHelp, "", " (the path is described with flags: --limit, --mode)", func(context.Context, []string) int {
		// Every check of simulate's command line is here.
		p := plan.SimPath{Limit: *limit, Mode: plan.Outcome(*mode), Latency: *latency, Jitter: *jitter, Flaky: float64(flaky), Timeout: *timeout, Seed: *seed}
		var errs []string
		if search.strategyGiven {
			errs = append(errs, "--strategy: simulate always runs both strategies")
		}
		if p.Limit < 0 {
			errs = append(errs, fmt.Sprintf("--limit: %s must not be negative (0 means no limit)", p.Limit))
		}
		if p.Latency < 0 {
			errs = append(errs, fmt.Sprintf("--latency: %s must not be negative", p.Latency))
		}
		if p.Jitter < 0 || (p.Limit > 0 && p.Jitter >= p.Limit) {
			errs = append(errs, fmt.Sprintf("--jitter: %s must be between 0 and the limit (%s)", p.Jitter, p.Limit))
		}
		if p.Flaky < 0 || p.Flaky >= 1 {
			errs = append(errs, fmt.Sprintf("--flaky: %g must be a probability in [0, 1)", p.Flaky))
		}
		if p.Timeout <= 0 {
			errs = append(errs, fmt.Sprintf("--timeout: %s must be positive (example: 5s)", p.Timeout))
		}
		s := search.settings()
		if s.Hint > 0 {
			s.Strategy = plan.Parallel // the hinted run; the others run without it
		}
		errs = append(errs, search.hintErrors()...)
		if errs = append(errs, errLines(configs.CheckSettings(s, configs.MeasureFlags))...); len(errs) > 0 {
			return c.usage(errs...)
		}
		return c.exit(report.Simulate(c.stdout, *output, p, s))
	})
	var modes []string
	for _, o := range plan.SimModes {
		modes = append(modes, string(o))
	}
	limit = cmd.Flag("limit", "The simulated path's idle limit; 0 means it has none.").Default("15m").Duration()
	mode = cmd.Flag("mode", "How the path kills idle connections: "+strings.Join(modes, ", ")+".").Default(string(plan.Reset)).Enum(modes...)
	latency = cmd.Flag("latency", "One round trip on the path.").Default("1ms").Duration()
	jitter = cmd.Flag("jitter", "Each idle period's limit is uniform in limit±jitter.").Default("0s").Duration()
	cmd.Flag("flaky", "Probability that a reuse which should work is reset anyway (a pod restart).").Default("0").SetValue(&flaky)
	timeout = cmd.Flag("timeout", "Trial timeout: the longest a trial may take; a black hole (--mode dropped) is usually decided sooner, from its retransmissions.").Default(prober.DefaultTimeout.String()).Duration()
	seed = cmd.Flag("seed", "Random seed for --jitter and --flaky.").Default("1").Int64()
	search = addSearchFlags(cmd)
	output = cmd.Flag("output", "Result format: text (a table) or json.").Default("text").Enum("text", "json")
}
