// Package prober measures how long a kept-alive connection may sit idle on a
// network path before the path kills it, and how it dies. Measure drives a
// search planner (package plan) with real connections opened by a Transport
// (one file per protocol: tcp.go, http.go).
package prober

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// Re-exported so that callers rarely need to import plan.
type (
	// Result is what a measurement learned; see plan.Result.
	Result = plan.Result
	// Outcome is what one trial told; see plan.Outcome.
	Outcome = plan.Outcome
	// Settings are the search settings; see plan.Settings.
	Settings = plan.Settings
)

// ErrUnusable wraps every error that means the target could not be measured
// at all: refused, DNS failure, TLS failure, a malformed or non-keepalive
// response. It is not an idle result.
var ErrUnusable = errors.New("target unusable")

// ErrInconclusive wraps the error of a measurement that ended by itself
// without a clean answer: it reached its deadline (Settings.Deadline) or its
// trial cap while the evidence still contradicted itself. The Result then
// has Status Inconclusive, a Reason, and the evidence so far (the bracket,
// Agree and Disagree). It is a failed measurement, not a limit.
var ErrInconclusive = errors.New("measurement inconclusive")

// Limiter caps connections across measurements (a global budget). Acquire
// blocks until a connection may be opened or ctx ends; Release gives one back.
type Limiter interface {
	Acquire(ctx context.Context) error
	Release()
}

// Progress is a snapshot sent to Options.Progress while a measurement runs.
type Progress struct {
	// Now is when the snapshot was taken; Started when the measurement began.
	Now, Started time.Time
	// Partial is the result so far (Complete false until the end).
	Partial Result
	// Live is the number of connections open now.
	Live int
	// Remaining estimates the time left: until the limit is bracketed if a
	// failure has been seen, else until Max is proven survivable.
	Remaining time.Duration
	// Trial is the observation that caused this snapshot, or nil for a
	// periodic one.
	Trial *plan.Trial
	// Keepalive is true once the search is over and the TCP keepalive check
	// (Options.Keepalive) is holding its connection idle; Partial then has
	// the search's final bracket.
	Keepalive bool
}

// Options configure one measurement.
type Options struct {
	// Plan are the search settings (plan.Defaults() when zero).
	Plan Settings
	// Transport shapes connections and requests.
	Transport TransportOptions
	// Limiter, when set, is asked before every connection is opened.
	Limiter Limiter
	// Progress, when set, is called (from the measuring goroutine) after
	// every trial and at least once a second. It must not block for long.
	Progress func(Progress)
	// ProgressOnTrials calls Progress after every trial only, not every
	// second: for a caller that only counts trials (serve), so that an idle
	// measurement does not wake up every second.
	ProgressOnTrials bool
	// Logger receives debug logs of every trial; nil discards them.
	Logger *slog.Logger
	// NewTransport overrides how the transport is built (tests, simulation).
	NewTransport func(Target, TransportOptions) (Transport, error)
	// WhichHop asks who ended each failed connection, the server or a hop
	// before it, from the TTLs of the packets (package hop). It needs
	// CAP_NET_RAW; without it Result.EndedBy says so and nothing else
	// changes.
	WhichHop bool
	// Keepalive, when set, asks a second question after the search has
	// found a limit: does one connection with TCP keepalive at these
	// settings (or, with Ping, the protocol's ping every Interval) survive
	// past it? The answer goes to the Result's Keepalive fields. Trials
	// never use keepalive or pings.
	Keepalive *KeepaliveCheck
}
