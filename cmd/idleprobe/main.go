// Command idleprobe measures how long a kept-alive connection may sit idle
// on a network path before the path kills it, and how it dies.
//
// This package is the command line only: kingpin commands and flags, each
// command's checks of its flags, and the wiring to the packages that do the
// work (internal/report, internal/demo, service, internal/responder).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"

	"github.com/idleprobe/idleprobe/internal/cliflags"
	"github.com/idleprobe/idleprobe/internal/report"
)

// Exit codes of every command.
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

func init() {
	if version.Version == "" {
		version.Version = "dev" // set at build time with -ldflags "-X github.com/prometheus/common/version.Version=..."
	}
	// Arguments starting with @ are targets and payloads, not files to read
	// arguments from.
	kingpin.EnableFileExpansion = false
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

// cli is the command line: kingpin's application, the logging flags every
// command has, and each command's flags and run function.
type cli struct {
	app            *kingpin.Application
	stdout, stderr io.Writer
	log            promslog.Config
	run            map[string]func(context.Context) int
	args           map[string]*[]string // each command's positional arguments
	measure        *measureFlags
}

// terminated is how kingpin's exit (after --help, --version, or a usage
// error such as `help bogus`) unwinds to dispatch, so that tests can run the
// command line in-process.
type terminated int

func newCLI(stdout, stderr io.Writer) *cli {
	app := kingpin.New("idleprobe", "Measures how long a kept-alive connection may sit idle on a network path before the path kills it, and how it dies. Start with 'idleprobe demo'.").
		UsageWriter(stdout).ErrorWriter(stderr).
		Terminate(func(code int) { panic(terminated(min(code, 1) * exitUsage)) })
	app.HelpFlag.Short('h')
	cliflags.SetUsage(app)
	app.Version(version.Print("idleprobe"))
	c := &cli{app: app, stdout: stdout, stderr: stderr, run: map[string]func(context.Context) int{}, args: map[string]*[]string{}}
	promslogflag.AddFlags(app, &c.log)
	c.addMeasure()
	c.addServe()
	c.addResponder()
	c.addSimulate()
	c.addCheckConfig()
	c.addDemo()
	c.addDiagnose()
	c.command("version", "Print the version and the build it comes from.", "", "", func(context.Context, []string) int {
		fmt.Fprintln(c.stdout, version.Print("idleprobe"))
		return exitOK
	})
	cliflags.NameErrors(app, map[string][]string{
		promslogflag.LevelFlagName:  promslog.LevelFlagOptions,
		promslogflag.FormatFlagName: promslog.FormatFlagOptions,
	})
	return c
}

// dispatch parses args and runs the command they name.
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	c := newCLI(stdout, stderr)
	if len(args) == 0 {
		c.app.UsageWriter(stderr)
		c.app.Usage(nil)
		return exitUsage
	}
	defer func() {
		if r := recover(); r != nil {
			t, ok := r.(terminated)
			if !ok {
				panic(r)
			}
			code = int(t)
		}
	}()
	name, err := c.app.Parse(args)
	if err != nil {
		return c.usage(fmt.Sprintf("%s (%s)", err, c.seeHelp(args)))
	}
	return c.run[name](ctx)
}

// seeHelp says where to read about the command named in args.
func (c *cli) seeHelp(args []string) string {
	for _, a := range args {
		if cmd := c.app.GetCommand(a); cmd != nil {
			return "see idleprobe " + a + " --help"
		}
	}
	var names []string
	for _, m := range c.app.Model().Commands {
		names = append(names, m.Name)
	}
	return "commands: " + strings.Join(names, ", ") + "; see idleprobe --help"
}

// command adds a command; help is its summary (one paragraph), then more
// paragraphs if need be. args names its positional arguments and says what
// they are ("TARGET: the URL to measure"); a command that takes none ("")
// rejects them with a usage error, to which hint is appended.
func (c *cli) command(name, help, args, hint string, run func(context.Context, []string) int) *kingpin.CmdClause {
	cmd := c.app.Command(name, strings.TrimSpace(help))
	placeholder, argHelp, _ := strings.Cut(args, ": ")
	arg := cmd.Arg("arguments", argHelp).PlaceHolder(placeholder)
	if args == "" {
		arg.Hidden()
	}
	pos := arg.Strings()
	c.args[name] = pos
	c.run[name] = func(ctx context.Context) int {
		if args == "" && len(*pos) > 0 {
			return c.usage(fmt.Sprintf("%s takes no arguments, got %q%s", name, (*pos)[0], hint))
		}
		return run(ctx, *pos)
	}
	return cmd
}

// logger builds the logger --log.level and --log.format ask for, on stderr.
func (c *cli) logger() *slog.Logger {
	return promslog.New(&promslog.Config{Level: c.log.Level, Format: c.log.Format, Writer: c.stderr})
}

// usage prints "idleprobe: MSG" for each message and returns exitUsage.
func (c *cli) usage(msgs ...string) int {
	for _, m := range msgs {
		fmt.Fprintf(c.stderr, "idleprobe: %s\n", m)
	}
	return exitUsage
}

// exit prints err (one line per line of it) and returns its exit code:
// 0 without an error, 130 for an interrupted measurement, 1 otherwise.
func (c *cli) exit(err error) int {
	if err == nil {
		return exitOK
	}
	for _, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
		fmt.Fprintf(c.stderr, "idleprobe: %s\n", line)
	}
	if errors.Is(err, report.ErrInterrupted) {
		return exitInterrupted
	}
	return exitFailed
}
