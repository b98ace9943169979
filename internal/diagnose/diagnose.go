// Package diagnose measures several paths to the same backend at once,
// under one shared connection budget, and says which hop owns the shortest
// idle limit (package compare). It is `idleprobe diagnose`, and `measure
// --ip-family both` (the same name over IPv4 and IPv6, side by side).
package diagnose

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/internal/compare"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Path is one path to measure.
type Path struct {
	// Name names the path in the output.
	Name string
	// Target and Options are the measurement (Options.Limiter and Logger
	// are set by Run).
	Target  prober.Target
	Options prober.Options
}

// Measured is a path and how its measurement ended.
type Measured struct {
	Path
	// Result is the settled result (exporters.Settle): its Status says
	// whether it was measured.
	Result plan.Result
}

// Report is what Run found: the paths in the order given, and the verdict.
type Report struct {
	Paths   []Measured
	Verdict compare.Verdict
}

// Run measures every path at once and compares them, in the order given
// (nearest the backend first). Every connection of every path is taken from
// limiter (nil: no shared cap). Each measurement ends by its own deadline
// (plus closing), so Run returns within the largest deadline plus the time
// to close; when ctx ends, every measurement stops with its partial result.
func Run(ctx context.Context, paths []Path, limiter prober.Limiter, log *slog.Logger) Report {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rep := Report{Paths: make([]Measured, len(paths))}
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := p.Options
			opts.Limiter = limiter
			opts.Logger = log.With("path", p.Name)
			opts.Plan = opts.Plan.WithDeadline(opts.Transport.Timeout)
			r, err := prober.Measure(ctx, p.Target, opts)
			if r.Target == "" {
				r.Target = p.Target.String()
			}
			if r.Settings.Strategy == "" {
				r.Settings = opts.Plan
			}
			if ctx.Err() != nil && !r.Complete {
				r.Status = plan.Interrupted
			}
			r = exporters.Settle(r, err)
			log.Info("path done", "path", p.Name, "result", compare.Short(r))
			rep.Paths[i] = Measured{Path: p, Result: r}
		}()
	}
	wg.Wait()
	rep.Verdict = compare.Judge(rep.entries())
	return rep
}

func (r Report) entries() []compare.Entry {
	es := make([]compare.Entry, len(r.Paths))
	for i, m := range r.Paths {
		es[i] = compare.Entry{Name: m.Name, Result: m.Result}
	}
	return es
}

// Failed lists, one line each, the paths that were not measured and why.
func (r Report) Failed() []string {
	var lines []string
	for _, m := range r.Paths {
		if !compare.Measured(m.Result) {
			lines = append(lines, m.Name+": "+compare.Short(m.Result))
		}
	}
	return lines
}

// WriteText prints one line per path, nearest the backend first, then the
// verdict after "->".
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	endedBy := false // who ended the connections, when a capture could tell
	for _, m := range r.Paths {
		endedBy = endedBy || m.Result.EndedBy != nil
	}
	if endedBy {
		fmt.Fprintln(tw, "PATH\tTARGET\tLIMIT\tENDED BY")
	} else {
		fmt.Fprintln(tw, "PATH\tTARGET\tLIMIT")
	}
	for _, m := range r.Paths {
		line := fmt.Sprintf("%s\t%s\t%s", m.Name, m.Target, oneLine(compare.Short(m.Result)))
		if e := m.Result.EndedBy; endedBy && e != nil {
			line += "\t" + e.Verdict.String()
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "-> %s\n", r.Verdict.Text)
	return err
}

// jsonPath is one path of the JSON output.
type jsonPath struct {
	Name   string      `json:"name"`
	Target string      `json:"target"`
	Family string      `json:"family,omitempty"`
	Status plan.Status `json:"status"`
	Limit  string      `json:"limit"`
	Result plan.Result `json:"result"`
}

// jsonVerdict is the verdict of the JSON output.
type jsonVerdict struct {
	Owner string   `json:"owner"`
	Steps []string `json:"steps"`
	Text  string   `json:"text"`
}

// WriteJSON prints the report as one JSON object: "paths" in order (name,
// target, family, status, limit in words, the full result) and "verdict"
// (owner: the name of the path that owns the shortest limit, "" when none;
// steps: every path that adds a shorter limit; text).
func (r Report) WriteJSON(w io.Writer) error {
	out := struct {
		Paths   []jsonPath  `json:"paths"`
		Verdict jsonVerdict `json:"verdict"`
	}{Verdict: jsonVerdict{Steps: []string{}, Text: r.Verdict.Text}}
	for _, m := range r.Paths {
		out.Paths = append(out.Paths, jsonPath{Name: m.Name, Target: m.Target.String(), Family: m.Options.Transport.Family,
			Status: m.Result.Status, Limit: compare.Short(m.Result), Result: m.Result})
	}
	if r.Verdict.Owner >= 0 {
		out.Verdict.Owner = r.Paths[r.Verdict.Owner].Name
	}
	for _, i := range r.Verdict.Steps {
		out.Verdict.Steps = append(out.Verdict.Steps, r.Paths[i].Name)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// oneLine joins a possibly multi-line message into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
