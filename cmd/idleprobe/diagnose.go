package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/idleprobe/idleprobe/configs"
	"github.com/idleprobe/idleprobe/internal/diagnose"
	"github.com/idleprobe/idleprobe/internal/durfmt"
	"github.com/idleprobe/idleprobe/internal/report"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/schedule"
)

const diagnoseHelp = `
Measure several paths to the same backend at once and say which hop owns the shortest idle limit.

Give the paths nearest the backend first: the backend itself (pod IP), then through more and more hops (ClusterIP, NodePort, load balancer). All are measured at the same time with the same settings, their connections taken from one shared budget (--max-connections). The hop that owns the shortest limit is the one in front of the first path whose limit is shorter than that of every path before it (and that no later path undercuts): "pod: no limit up to 30m; nodeport: reset at 900 s -> the nodeport hop owns it". A path given first that already has the limit means the backend itself (or that path's own hops) owns it.

Each PATH is NAME=URL, or just URL (named by its host:port, or the whole URL when two paths share a host:port). Targets as for measure.

Examples:

  idleprobe diagnose pod=http://10.1.2.3:8080/ svc=http://10.96.0.10/ nodeport=http://192.0.2.7:30080/
  idleprobe diagnose --max 20m --output json tcp://10.1.2.3:9090 tcp://192.0.2.7:30090

The whole diagnosis ends within the largest measurement deadline (--deadline; automatic by default) plus the time to close.

Exit codes: 0 every path was measured; 1 a path could not be measured (unusable or inconclusive: its line says why, the others are still compared); 2 usage error; 130 interrupted (the partial results are printed).
`

// diagnoseFlags are diagnose's flags as parsed.
type diagnoseFlags struct {
	search   *searchFlags
	timeout  *time.Duration
	output   *string
	maxConns *int
	family   *string
	whichHop *bool
}

func (c *cli) addDiagnose() {
	f := &diagnoseFlags{}
	cmd := c.command("diagnose", diagnoseHelp, "PATH: NAME=URL or URL, nearest the backend first (two or more)", "", func(ctx context.Context, pos []string) int {
		paths, errs := f.paths(pos)
		if len(errs) > 0 {
			return c.usage(errs...)
		}
		return c.showDiagnosis(ctx, diagnose.Run(ctx, paths, schedule.NewLimiter(*f.maxConns), c.logger()), *f.output)
	})
	f.search = addSearchFlags(cmd)
	f.timeout = cmd.Flag("timeout", "Trial timeout (as for measure).").Default(durfmt.Short(prober.DefaultTimeout)).Duration()
	f.output = cmd.Flag("output", "Result format: text (a line per path and the verdict) or json (one object: paths and verdict).").Default("text").Enum("text", "json")
	f.maxConns = cmd.Flag("max-connections", "The connections open at once across all paths (each path also keeps to --budget).").Default(strconv.Itoa(configs.DefaultMaxConnections)).Int()
	f.family = addFamilyFlag(cmd)
	f.whichHop = cmd.Flag("which-hop", whichHopHelp).Default("true").Bool()
}

// showDiagnosis writes rep in the output format (text or json) and
// returns the exit code: 0 when every path was measured, 130 when
// interrupted, 1 otherwise, with a line on stderr for each path that was
// not measured.
func (c *cli) showDiagnosis(ctx context.Context, rep diagnose.Report, output string) int {
	var err error
	if output == "json" {
		err = rep.WriteJSON(c.stdout)
	} else {
		err = rep.WriteText(c.stdout)
	}
	if err != nil {
		return c.exit(fmt.Errorf("writing the result: %w", err))
	}
	if ctx.Err() != nil {
		return c.exit(fmt.Errorf("%w; the results above are partial", report.ErrInterrupted))
	}
	if failed := rep.Failed(); len(failed) > 0 {
		return c.exit(fmt.Errorf("%s", strings.Join(failed, "\n")))
	}
	return exitOK
}

// paths checks the arguments and flags and returns the paths to measure,
// or every problem, one line each naming its argument or flag.
func (f *diagnoseFlags) paths(pos []string) ([]diagnose.Path, []string) {
	var errs []string
	if len(pos) < 2 {
		errs = append(errs, fmt.Sprintf("diagnose needs two or more PATHs to compare, got %d (example: idleprobe diagnose pod=http://10.1.2.3:8080/ nodeport=http://192.0.2.7:30080/)", len(pos)))
	}
	if *f.maxConns < 2 {
		errs = append(errs, fmt.Sprintf("--max-connections: %d is too few (at least 2)", *f.maxConns))
	}
	settings := f.search.settings()
	errs = append(errs, errLines(configs.CheckSettings(settings, configs.MeasureFlags))...)
	families, err := configs.ParseFamily(*f.family)
	if err != nil {
		errs = append(errs, "--ip-family: "+err.Error())
	}
	named := make([]struct{ name, url string }, len(pos))
	byAddr := map[string]int{}
	for i, arg := range pos {
		name, url := splitPathArg(arg)
		named[i].name, named[i].url = name, url
		if t, err := prober.ParseTarget(url); err == nil {
			byAddr[t.Address]++
		}
	}
	var out []diagnose.Path
	seen := map[string]bool{}
	for i, n := range named {
		t, err := prober.ParseTarget(n.url)
		if err != nil {
			errs = append(errs, fmt.Sprintf("PATH %d: %s", i+1, oneLine(err.Error())))
			continue
		}
		name := n.name
		if name == "" {
			name = t.Address
			if byAddr[t.Address] > 1 {
				name = t.String()
			}
		}
		if seen[name] {
			errs = append(errs, fmt.Sprintf("PATH %d: %q is given twice (name each path: NAME=URL)", i+1, name))
			continue
		}
		seen[name] = true
		p := configs.NewPath(name, n.url).WithSettings(settings)
		p.TrialTimeout = *f.timeout
		if perrs := errLines(p.Check(configs.MeasureFlags)); len(perrs) > 0 {
			for _, e := range perrs {
				if !strings.HasPrefix(e, "--") { // the search flags are reported once above
					errs = append(errs, fmt.Sprintf("PATH %d: %s", i+1, e))
				} else if strings.HasPrefix(e, "--timeout") && i == 0 {
					errs = append(errs, e)
				}
			}
			continue
		}
		target, opts := p.Measurement()
		opts.WhichHop = *f.whichHop
		for _, fam := range families {
			o := opts
			o.Transport.Family = fam
			out = append(out, diagnose.Path{Name: familyName(name, fam, len(families)), Target: target, Options: o})
		}
	}
	return out, errs
}

// splitPathArg splits NAME=URL; a plain URL (no "=" before its "://", as
// in http://svc/?a=b) has no name.
func splitPathArg(arg string) (name, url string) {
	n, u, ok := strings.Cut(arg, "=")
	if !ok || strings.Contains(n, ":") || strings.Contains(n, "/") {
		return "", arg
	}
	return n, u
}

// addFamilyFlag adds --ip-family to cmd.
func addFamilyFlag(cmd *kingpin.CmdClause) *string {
	return cmd.Flag("ip-family", "Address family to connect over: 4 (IPv4 only), 6 (IPv6 only) or both (the two side by side, one result each). Default: the first address the resolver gives, as a client would.").PlaceHolder("4|6|both").String()
}

// familyName is the name of a path measured over family: the path's name,
// with " (IPv4)" or " (IPv6)" when it is measured over both (n == 2).
func familyName(name, family string, n int) string {
	if n < 2 {
		return name
	}
	return name + " (" + prober.FamilyName(family) + ")"
}

// bothErrors rejects what `measure --ip-family both` cannot do: its two
// results are shown side by side as text or JSON only.
func bothErrors(output, pushURL, keepalive string) []string {
	var errs []string
	if output != "text" && output != "json" {
		errs = append(errs, fmt.Sprintf("--output: %s shows one result; with --ip-family both use text or json (or measure each family with --ip-family 4 and 6)", output))
	}
	if pushURL != "" {
		errs = append(errs, "--push-gateway: pushes one result; with --ip-family both, measure each family with --ip-family 4 and 6")
	}
	if keepalive != "" {
		errs = append(errs, "--keepalive: not with --ip-family both; check each family with --ip-family 4 and 6")
	}
	return errs
}

// measureBoth is `measure --ip-family both`: the target over IPv4 and over
// IPv6 at once (sharing the --budget), shown side by side like diagnose.
func (c *cli) measureBoth(ctx context.Context, target prober.Target, opts prober.Options, output string) int {
	var paths []diagnose.Path
	for _, fam := range []string{prober.FamilyIPv4, prober.FamilyIPv6} {
		o := opts
		o.Transport.Family = fam
		paths = append(paths, diagnose.Path{Name: prober.FamilyName(fam), Target: target, Options: o})
	}
	return c.showDiagnosis(ctx, diagnose.Run(ctx, paths, schedule.NewLimiter(opts.Plan.Budget), c.logger()), output)
}
