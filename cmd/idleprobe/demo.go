package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/idleprobe/idleprobe/internal/middlebox"
	"github.com/idleprobe/idleprobe/internal/responder"
	"github.com/idleprobe/idleprobe/internal/term"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

func init() {
	register(command{
		name:    "demo",
		summary: "measure a pretend load balancer on loopback that forgets idle connections after 3s",
		run:     runDemoCmd,
	})
}

const demoHelp = `
Usage: idleprobe demo

Runs everything on loopback, no outside server needed: a responder that never
closes a connection, and in front of it a pretend load balancer (a userspace
proxy) that forgets connections idle for 3s and resets them when they are used
again, the way IPVS does. Then it measures the path with the same code as
'idleprobe measure' and checks that the limit it finds contains 3s.
Takes about 5 seconds. Exit code 0 when the limit was found, 1 when not.
`

// demoLimit is the pretend load balancer's idle timeout.
const demoLimit = 3 * time.Second

// demoTolerance absorbs the gap between the moment the proxy and the prober
// each stamp the last byte of an exchange (well under a millisecond).
const demoTolerance = 10 * time.Millisecond

// demoConfig configures one demo run.
type demoConfig struct {
	limit time.Duration
	tty   bool
	log   *slog.Logger
}

// demoSettings are search settings that finish fast for a limit of a few
// seconds.
func demoSettings() plan.Settings {
	s := plan.Defaults()
	s.Min = 250 * time.Millisecond
	s.Max = 10 * time.Second
	return s
}

func runDemoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo")
	lf := addLogFlags(fs)
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, fs, demoHelp)
		return exitOK
	}
	if err != nil {
		return usageError(stderr, flagError("demo", err))
	}
	if len(pos) > 0 {
		return usageError(stderr, fmt.Sprintf("demo takes no arguments, got %q", pos[0]))
	}
	_, code := runDemo(ctx, demoConfig{limit: demoLimit, tty: term.IsTerminalWriter(stdout), log: lf.logger(stderr)}, stdout, stderr)
	return code
}

// bracketContains reports whether the measured bracket (lower, upper]
// holds limit, to within tol.
func bracketContains(r prober.Result, limit, tol time.Duration) bool {
	return r.Found && r.Lower < limit+tol && r.Upper >= limit-tol
}

// runDemo starts the responder and the middlebox, measures through them with
// measureAndReport (the code of `idleprobe measure`) and checks the result.
func runDemo(ctx context.Context, cfg demoConfig, stdout, stderr io.Writer) (prober.Result, int) {
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	resp, err := responder.Start(ctx, responder.Config{HTTPAddr: "127.0.0.1:0", Logger: cfg.log})
	if err != nil {
		fmt.Fprintf(stderr, "idleprobe: demo: %s\n", oneLine(err.Error()))
		return prober.Result{}, exitFailed
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp.Shutdown(sctx)
	}()
	lb, err := middlebox.New(ctx, middlebox.Config{
		Upstream: resp.HTTPAddr().String(),
		Timeout:  cfg.limit,
		Mode:     middlebox.Reset,
		Logger:   cfg.log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "idleprobe: demo: %s\n", oneLine(err.Error()))
		return prober.Result{}, exitFailed
	}
	defer lb.Close()

	settings := demoSettings()
	url := "http://" + lb.Addr().String() + "/"
	target, err := prober.ParseTarget(url)
	if err != nil {
		fmt.Fprintf(stderr, "idleprobe: demo: %s\n", oneLine(err.Error()))
		return prober.Result{}, exitFailed
	}
	fmt.Fprintf(stdout, `idleprobe demo
A pretend load balancer forgets idle connections after %s (and resets them
when they are used again, like IPVS); let's see if idleprobe finds it.
  server:        http://%s/  (the idleprobe responder: never closes a connection)
  load balancer: %s -> %s, forgets flows idle for %s
  measuring:     idleprobe measure --min %s --max %s %s

`, fmtFlagDuration(cfg.limit), resp.HTTPAddr(), lb.Addr(), resp.HTTPAddr(), fmtFlagDuration(cfg.limit),
		fmtFlagDuration(settings.Min), fmtFlagDuration(settings.Max), url)

	opts := prober.Options{
		Plan:      settings,
		Transport: prober.TransportOptions{Timeout: 2 * time.Second},
		Logger:    cfg.log,
	}
	r, code := measureAndReport(ctx, target, opts, report{output: "text", tty: cfg.tty, log: cfg.log}, stdout, stderr)
	if code != exitOK {
		return r, code
	}
	fmt.Fprintln(stdout)
	if bracketContains(r, cfg.limit, demoTolerance) {
		fmt.Fprintf(stdout, "Found it: the limit is in %s and the pretend load balancer's timeout is %s.\n",
			fmtBracket(r.Lower, r.Upper), fmtFlagDuration(cfg.limit))
		return r, exitOK
	}
	got := "no limit"
	if r.Found {
		got = "a limit in " + fmtBracket(r.Lower, r.Upper)
	}
	fmt.Fprintf(stdout, "Missed: idleprobe reported %s, but the pretend load balancer's timeout is %s.\n", got, fmtFlagDuration(cfg.limit))
	return r, exitFailed
}
