// Package demo is `idleprobe demo`: a pretend load balancer on loopback
// that forgets idle connections, measured with the code of
// `idleprobe measure`, and a check that the limit found is its timeout.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/internal/durfmt"
	"github.com/idleprobe/idleprobe/internal/middlebox"
	"github.com/idleprobe/idleprobe/internal/report"
	"github.com/idleprobe/idleprobe/internal/responder"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Limit is the pretend load balancer's idle timeout.
const Limit = 3 * time.Second

// tolerance absorbs the gap between the moment the proxy and the prober
// each stamp the last byte of an exchange (well under a millisecond).
const tolerance = 10 * time.Millisecond

// ErrMissed is returned when the limit measured does not hold the pretend
// load balancer's timeout (what was found is written out).
var ErrMissed = errors.New("the measured limit missed the pretend load balancer's timeout")

// Config configures one demo run.
type Config struct {
	// Limit is the pretend load balancer's idle timeout (default Limit).
	Limit time.Duration
	// Progress redraws a live progress line on the output (a terminal).
	Progress bool
	// Logger receives the servers' and the measurement's logs; nil
	// discards them.
	Logger *slog.Logger
}

// settings are search settings that finish fast for a limit of a few
// seconds.
func settings() plan.Settings {
	s := plan.Defaults()
	s.Min = 250 * time.Millisecond
	s.Max = 10 * time.Second
	return s
}

// Run starts the responder and the middlebox, measures through them with
// report.Measure (the code of `idleprobe measure`), writes what it does and
// the result to w, and checks the result: ErrMissed when the limit found
// does not hold the timeout, report.Measure's error when the measurement
// had no clean answer.
func Run(ctx context.Context, cfg Config, w io.Writer) (prober.Result, error) {
	if cfg.Limit <= 0 {
		cfg.Limit = Limit
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	resp, err := responder.Start(ctx, responder.Config{HTTPAddr: "127.0.0.1:0", Logger: cfg.Logger})
	if err != nil {
		return prober.Result{}, fmt.Errorf("demo: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp.Shutdown(sctx)
	}()
	lb, err := middlebox.New(ctx, middlebox.Config{
		Upstream: resp.HTTPAddr().String(),
		Timeout:  cfg.Limit,
		Mode:     middlebox.Reset,
		Logger:   cfg.Logger,
	})
	if err != nil {
		return prober.Result{}, fmt.Errorf("demo: %w", err)
	}
	defer lb.Close()

	s := settings()
	url := "http://" + lb.Addr().String() + "/"
	target, err := prober.ParseTarget(url)
	if err != nil {
		return prober.Result{}, fmt.Errorf("demo: %w", err)
	}
	limit := durfmt.Short(cfg.Limit)
	fmt.Fprintf(w, `idleprobe demo
A pretend load balancer forgets idle connections after %s (and resets them
when they are used again, like IPVS); let's see if idleprobe finds it.
  server:        http://%s/  (the idleprobe responder: never closes a connection)
  load balancer: %s -> %s, forgets flows idle for %s
  measuring:     idleprobe measure --min %s --max %s %s

`, limit, resp.HTTPAddr(), lb.Addr(), resp.HTTPAddr(), limit, durfmt.Short(s.Min), durfmt.Short(s.Max), url)

	opts := prober.Options{
		Plan:      s,
		Transport: prober.TransportOptions{Timeout: 2 * time.Second},
		Logger:    cfg.Logger,
	}
	r, err := report.Measure(ctx, target, opts, report.Options{Output: "text", Progress: cfg.Progress, Logger: cfg.Logger}, w)
	if err != nil {
		return r, err
	}
	fmt.Fprintln(w)
	if Contains(r, cfg.Limit) {
		fmt.Fprintf(w, "Found it: the limit is in %s and the pretend load balancer's timeout is %s.\n", advice.Bracket(r.Lower, r.Upper), limit)
		return r, nil
	}
	got := "no limit"
	if r.Found {
		got = "a limit in " + advice.Bracket(r.Lower, r.Upper)
	}
	fmt.Fprintf(w, "Missed: idleprobe reported %s, but the pretend load balancer's timeout is %s.\n", got, limit)
	return r, ErrMissed
}

// Contains reports whether the measured bracket (lower, upper] holds
// limit, to within the few milliseconds between the proxy's clock and the
// prober's.
func Contains(r prober.Result, limit time.Duration) bool {
	return r.Found && r.Lower < limit+tolerance && r.Upper >= limit-tolerance
}
