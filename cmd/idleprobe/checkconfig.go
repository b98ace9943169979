package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/idleprobe/idleprobe/configs"
)

func init() {
	register(command{
		name:    "check-config",
		summary: "validate serve config files: list every problem and warning, show the resolved paths",
		run:     runCheckConfig,
	})
}

const checkConfigHelp = `Usage: idleprobe check-config [--quiet] FILE...

Validates each config file for 'idleprobe serve' and prints every problem
(file:line: field: message, to stderr) and every warning. For a valid file it
prints the paths with all defaults applied. See CONFIGURATION.md.

Exit codes: 0 every file is valid (warnings allowed), 1 a file is invalid or
unreadable, 2 usage error.
`

// runCheckConfig is the check-config subcommand.
func runCheckConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check-config")
	quiet := fs.Bool("quiet", false, "Print only problems and warnings, nothing for valid files.")
	files, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, fs, checkConfigHelp)
		return exitOK
	}
	if err != nil {
		return usageError(stderr, flagError("check-config", err))
	}
	if len(files) == 0 {
		return usageError(stderr, "check-config needs a config file (example: idleprobe check-config idleprobe.yml)")
	}
	code := exitOK
	for _, file := range files {
		cfg, warns, err := configs.Load(file)
		for _, w := range warns {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				fmt.Fprintln(stderr, line)
			}
			fmt.Fprintf(stderr, "%s: INVALID\n", file)
			code = exitFailed
			continue
		}
		if *quiet {
			continue
		}
		fmt.Fprintf(stdout, "%s: OK, %d %s\n", file, len(cfg.Paths), plural(len(cfg.Paths), "path", "paths"))
		printPaths(stdout, cfg)
	}
	return code
}

// printPaths prints the resolved settings of every path as a table.
func printPaths(w io.Writer, cfg *configs.Config) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tTARGET\tSCHEDULE\tJITTER\tIDLE RANGE\tSTRATEGY\tBUDGET\tDEADLINE\tCLIENT IDLE")
	for _, p := range cfg.Paths {
		client := "-"
		if p.ClientIdleTimeout > 0 {
			client = fmtFlagDuration(p.ClientIdleTimeout)
		}
		deadline := fmtFlagDuration(p.EffectiveDeadline().Round(time.Second))
		if p.Deadline == 0 {
			deadline += " (auto)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s..%s\t%s\t%d\t%s\t%s\n",
			p.Name, p.Target, p.Schedule, fmtFlagDuration(p.Jitter),
			fmtFlagDuration(p.MinIdle), fmtFlagDuration(p.MaxIdle), p.Strategy, p.Budget, deadline, client)
	}
	tw.Flush()
	fmt.Fprintf(w, "  max_connections: %d\n", cfg.MaxConnections)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
