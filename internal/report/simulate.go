package report

// The side-by-side prediction of `idleprobe simulate`.

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/internal/durfmt"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// simRun is one strategy's simulated result.
type simRun struct {
	strategy plan.Strategy
	result   prober.Result
	// hinted marks the run that started from s.Hint.
	hinted bool
}

// name is the run's name in the table: the strategy, "+hint" when hinted.
func (r simRun) name() string {
	if r.hinted {
		return string(r.strategy) + "+hint"
	}
	return string(r.strategy)
}

// Simulate runs both search strategies with settings s against the
// simulated path p (plan.Simulate: a fake clock, no network) and writes
// them side by side to w: a table (output "text") or one JSON object
// ("json"). With s.Hint, a third run starts the parallel strategy from it.
// It fails only when a simulation has no result to show.
func Simulate(w io.Writer, output string, p plan.SimPath, s plan.Settings) error {
	var runs []simRun
	for i, st := range []plan.Strategy{plan.Parallel, plan.Sequential, plan.Parallel} {
		s := s
		hinted := i == 2
		if hinted && s.Hint == 0 {
			break
		}
		if !hinted {
			s.Hint = 0
		}
		s.Strategy = st
		s = s.WithDeadline(p.Timeout)
		r, err := plan.Simulate(s, p)
		if err != nil && r.Status == "" {
			return fmt.Errorf("simulate %s: %s", st, oneLine(err.Error()))
		}
		r = exporters.Settle(r, err)
		r.Target = "sim://" + simName(p)
		runs = append(runs, simRun{strategy: st, result: r, hinted: hinted})
	}
	if output == "json" {
		if err := writeSimJSON(w, p, runs); err != nil {
			return fmt.Errorf("writing the result: %w", err)
		}
		return nil
	}
	writeSimTable(w, p, s, runs)
	return nil
}

// simName describes a simulated path in a word: "reset-15m".
func simName(p plan.SimPath) string {
	if p.Limit <= 0 {
		return "no-limit"
	}
	return string(p.Mode) + "-" + durfmt.Short(p.Limit)
}

// writeSimTable prints the side-by-side comparison.
func writeSimTable(w io.Writer, p plan.SimPath, s plan.Settings, runs []simRun) {
	limit := "none"
	if p.Limit > 0 {
		limit = advice.Dur(p.Limit) + " (" + string(p.Mode) + ")"
	}
	fmt.Fprintf(w, "Simulated path: limit %s, latency %s, jitter %s, flaky %g, seed %d\n",
		limit, durfmt.Short(p.Latency), durfmt.Short(p.Jitter), p.Flaky, p.Seed)
	deadline := "auto"
	if s.Deadline > 0 {
		deadline = durfmt.Short(s.Deadline)
	}
	fmt.Fprintf(w, "Search: min %s, max %s, precision %s (floor %s), budget %d, confirm %d, deadline %s\n\n",
		durfmt.Short(s.Min), durfmt.Short(s.Max), pct(s.Precision), durfmt.Short(s.PrecisionFloor), s.Budget, s.Confirm, deadline)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "strategy\tstatus\tkind\twall time\twall/T\tbracket\twidth\tprecision\tconns opened\tpeak conns")
	for _, run := range runs {
		r := run.result
		bracket, width, prec := "> "+advice.Dur(r.Lower)+" (no limit up to "+advice.Dur(r.Settings.Max)+")", "-", "-"
		if r.Found {
			bracket = advice.Bracket(r.Lower, r.Upper)
			width = advice.Dur(r.Width())
			prec = pct(r.Width().Seconds() / r.Upper.Seconds())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", run.name(), advice.StatusOf(r), advice.KindOf(r),
			advice.Dur(r.Duration()), ratio(r.Duration(), p.Limit), bracket, width, prec, r.ConnectionsOpened, r.PeakConnections)
	}
	tw.Flush()
	for _, run := range runs {
		if e := advice.Ending(run.result); e != "" {
			fmt.Fprintf(w, "%s: %s\n", run.name(), e)
		}
		if l := advice.Lifetime(run.result); l != "" {
			fmt.Fprintf(w, "%s: lifetime limit: %s\n", run.name(), l)
		}
		if run.hinted {
			fmt.Fprintf(w, "%s: %s\n", run.name(), advice.Hint(run.result))
		}
	}
	if len(runs) >= 2 && runs[0].result.Duration() > 0 {
		fmt.Fprintf(w, "\n%s finishes %s x faster than %s.\n", runs[0].strategy,
			ratio(runs[1].result.Duration(), runs[0].result.Duration()), runs[1].strategy)
	}
	if len(runs) == 3 && runs[2].result.Duration() > 0 {
		fmt.Fprintf(w, "%s takes %s x the time of %s, with %d connections instead of %d.\n", runs[2].name(),
			ratio(runs[2].result.Duration(), runs[0].result.Duration()), runs[0].name(),
			runs[2].result.ConnectionsOpened, runs[0].result.ConnectionsOpened)
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
	Hinted        bool          `json:"hinted,omitempty"`
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
		j := simRunJSON{Strategy: run.strategy, Hinted: run.hinted, Result: run.result}
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

// ratio prints a/b with two decimals, or "-" when b is zero.
func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a.Seconds()/b.Seconds())
}

// pct prints a fraction as a percentage: 0.0213 -> "2.1%".
func pct(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", f*100)
}
