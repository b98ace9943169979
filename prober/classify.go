package prober

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// Errors the transports produce themselves; classify maps them to outcomes.
var (
	// errBodyTooLarge: the response (headers and body) exceeded maxResponseBytes.
	errBodyTooLarge = errors.New("response larger than 1 MiB")
	// errIdleOverflow: the peer sent more than maxStash bytes while idle.
	errIdleOverflow = errors.New("peer sent more than 1 MiB while the connection was idle")
	// errRetired: a Reuse after the server retired the connection (the
	// caller should have closed it after the Retired reply).
	errRetired = errors.New("connection not reusable: the server retired it after the previous response")
)

// ackState reads the connection's TCP_INFO: how many segments are sent
// but unacknowledged, how many bytes are not even sent yet.
type ackState func() (tcpState, error)

// classify maps the error that ended a reuse to an outcome and a short,
// one-line detail. acked is consulted only for timeouts, to tell a black
// hole (our bytes never acknowledged: Dropped) from a stalled server
// (acknowledged, no answer: Slow); it may be nil when unknown.
func classify(err error, acked ackState) (plan.Outcome, string) {
	var bh *blackHoleError
	switch {
	case err == nil:
		return plan.OK, ""
	case errors.As(err, &bh):
		// The judge decided: our bytes went unacknowledged through
		// plan.BlackHoleLosses transmissions.
		return plan.Dropped, bh.Error()
	case errors.Is(err, context.Canceled):
		return plan.Error, "canceled"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED):
		return plan.Reset, "connection reset by peer"
	case errors.Is(err, syscall.EPIPE):
		return plan.Reset, "broken pipe (connection reset)"
	case errors.Is(err, syscall.ETIMEDOUT):
		// TCP_USER_TIMEOUT expired: our bytes stayed unacknowledged.
		return plan.Dropped, "connection timed out: no acknowledgement (TCP_USER_TIMEOUT)"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return plan.Dropped, "no route to host"
	case errors.Is(err, io.EOF):
		return plan.ClosedOnReuse, "EOF: connection closed before the answer"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return plan.ClosedOnReuse, "connection closed in the middle of the answer"
	case isTimeout(err):
		if acked == nil {
			return plan.Slow, "timeout (acknowledgement state unknown)"
		}
		st, aerr := acked()
		switch {
		case aerr != nil:
			return plan.Slow, "timeout (acknowledgement state unknown: " + oneLine(aerr.Error()) + ")"
		case st.Unacked > 0:
			return plan.Dropped, "timeout: our bytes were never acknowledged"
		case st.NotSent > 0:
			return plan.Slow, "timeout: our bytes are still queued, never sent (peer's receive window full?)"
		default:
			return plan.Slow, "timeout: bytes acknowledged but no answer"
		}
	case errors.Is(err, net.ErrClosed):
		return plan.Error, "connection already closed"
	}
	return plan.Error, oneLine(err.Error())
}

// isTimeout reports whether err is a deadline or timeout (but not
// ETIMEDOUT, which classify handles first).
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// closeDetail describes the error a watcher saw while the connection was
// idle ("EOF", "connection reset by peer").
func closeDetail(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "EOF"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, syscall.ETIMEDOUT):
		return "connection timed out"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return oneLine(err.Error())
}

// oneLine flattens s to one line of at most 200 bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}
