// Command idleprobe measures how long a kept-alive connection may sit idle
// on a network path before the path kills it, and how it dies.
//
// Each subcommand lives in its own file and registers itself from init();
// main only dispatches.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// Exit codes of every subcommand.
const (
	// exitOK: the command did its job (measure: a limit was found, or no
	// limit up to --max).
	exitOK = 0
	// exitFailed: the target was unusable or the measurement failed.
	exitFailed = 1
	// exitUsage: bad flags, target or settings.
	exitUsage = 2
	// exitInterrupted: stopped by SIGINT or SIGTERM (128+SIGINT); a partial
	// result was printed.
	exitInterrupted = 130
)

// command is one subcommand. run gets the arguments after the subcommand's
// name and returns the process exit code.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

// register adds a subcommand; called from each subcommand file's init().
func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("idleprobe: subcommand registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() { os.Exit(run()) }

// run wires the process to dispatch: arguments, standard streams and a
// context cancelled by the first SIGINT or SIGTERM. A second signal kills
// the process the default way.
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	return dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
}

// dispatch runs the subcommand named by args[0].
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return c.run(ctx, []string{"--help"}, stdout, stderr)
			}
			fmt.Fprintf(stderr, "idleprobe: unknown command %q (valid: %s)\n", args[1], strings.Join(commandNames(), ", "))
			return exitUsage
		}
		usage(stdout)
		return exitOK
	case "-version", "--version":
		name = "version"
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "idleprobe: unknown command %q (valid: %s; see idleprobe help)\n", name, strings.Join(commandNames(), ", "))
		return exitUsage
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func usage(w io.Writer) {
	fmt.Fprint(w, `idleprobe measures how long a kept-alive connection may sit idle on a network
path before the path kills it, and how it dies.

Usage: idleprobe COMMAND [flags] [args]

Commands:
`)
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-13s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, `
Run 'idleprobe COMMAND --help' for a command's flags. Start with 'idleprobe demo'.
`)
}
