package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// session is the connection of a request/response database protocol
// (PostgreSQL, MySQL, Redis): a watchedConn that keeps what arrives while
// idle for the next reader, an optional TLS layer, and a recorder that
// keeps the first I/O error (client libraries turn ECONNRESET into their own
// errors; classify needs the cause).
type session struct {
	*watchedConn
	// rw is what the protocol reads and writes: the recorder over
	// replayConn or over TLS on it.
	rw      *recorder
	timeout time.Duration
	// goodbye, when set, describes a termination message of the server in
	// bytes that arrived while the connection was idle ("" when none).
	goodbye func(stash []byte) string
	// hints is what the server said about idle connections at open.
	hints Hints
}

// newSession wraps a dialed connection; the stash is kept for replay.
func newSession(d *dialer, w *watchedConn) *session {
	s := &session{watchedConn: w, timeout: d.timeout}
	s.rw = &recorder{Conn: replayConn{w}}
	return s
}

// Hints returns the server's own idle limit, read at open.
func (s *session) Hints() Hints { return s.hints }

// CloseInfo adds the server's termination message, when one came before
// the close, to the close's description.
func (s *session) CloseInfo() (time.Time, string) {
	at, detail := s.watchedConn.CloseInfo()
	if at.IsZero() {
		return at, detail
	}
	return at, s.withGoodbye(detail)
}

// withGoodbye appends what the server said before closing, if anything.
func (s *session) withGoodbye(detail string) string {
	if s.goodbye == nil {
		return detail
	}
	s.mu.Lock()
	stash := append([]byte(nil), s.stash...)
	s.mu.Unlock()
	if g := s.goodbye(stash); g != "" {
		return oneLine(detail + " after the server's " + g)
	}
	return detail
}

// exchange runs fn (writes and reads on s.rw) bounded by the timeout from
// now and by ctx. The watcher must not be running. It returns when fn
// began and ended, and fn's error with the recorded I/O cause preferred.
func (s *session) exchange(ctx context.Context, fn func() error) (start, end time.Time, err error) {
	start = time.Now()
	done := s.withDeadline(ctx, ioDeadline(ctx, start, s.timeout))
	s.rw.reset()
	err = fn()
	end = time.Now()
	if err != nil {
		if ioErr := s.rw.err(); ioErr != nil {
			err = ioErr
		}
	}
	done(&err)
	return start, end, err
}

// reuse stops the watcher, runs one request/response exchange (fn) and
// classifies it. fn returns a short detail for an OK answer, or an error: a
// *serverError when the server answered with an error of its own.
func (s *session) reuse(ctx context.Context, fn func() (string, error)) Reply {
	if r, ok := s.beginReuse(true); !ok {
		if r.Outcome == plan.ClosedIdle {
			r.Detail = s.withGoodbye(r.Detail)
		}
		return r
	}
	var detail string
	start, end, err := s.exchange(ctx, func() error {
		var err error
		detail, err = fn()
		return err
	})
	if err != nil {
		out, d := s.classify(err)
		s.endReuse(false, time.Time{})
		return Reply{Outcome: out, Start: start, End: end, Detail: d}
	}
	s.endReuse(true, end)
	return Reply{Outcome: plan.OK, Start: start, End: end, Detail: detail}
}

// classify maps a reuse error to an outcome. A server's own error answer
// is ClosedOnReuse when the server ends the connection with it (a fatal
// error: it closed the session, e.g. at its idle timeout), else Error.
func (s *session) classify(err error) (plan.Outcome, string) {
	var se *serverError
	if errors.As(err, &se) {
		if se.fatal {
			return plan.ClosedOnReuse, "server ended the session: " + se.msg
		}
		return plan.Error, "server answered with an error: " + se.msg
	}
	return classify(err, s.acked)
}

// serverError is an error the server itself answered with.
type serverError struct {
	msg string
	// fatal: the server closes the connection after it.
	fatal bool
}

func (e *serverError) Error() string { return e.msg }

// malformed is a protocol violation by the server.
func malformed(format string, args ...any) error {
	return fmt.Errorf("malformed answer: "+format, args...)
}

// recorder is a net.Conn that remembers the first read or write error.
// Bytes in replay are read before the connection's (a packet that was
// looked at before a library reads it).
type recorder struct {
	net.Conn
	replay []byte
	mu     sync.Mutex
	first  error
}

func (r *recorder) note(err error) {
	if err == nil {
		return
	}
	r.mu.Lock()
	if r.first == nil {
		r.first = err
	}
	r.mu.Unlock()
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.first = nil
	r.mu.Unlock()
}

func (r *recorder) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first
}

// Read reads from the connection, noting an error.
func (r *recorder) Read(p []byte) (int, error) {
	if len(r.replay) > 0 {
		n := copy(p, r.replay)
		r.replay = r.replay[n:]
		return n, nil
	}
	n, err := r.Conn.Read(p)
	r.note(err)
	return n, err
}

// Write writes to the connection, noting an error.
func (r *recorder) Write(p []byte) (int, error) {
	n, err := r.Conn.Write(p)
	r.note(err)
	return n, err
}

// dialSession dials d for the opening of a request/response database
// protocol: a new session, and the opening's context, bounded by d's
// timeout and ctx (cancel it when the opening ends).
func dialSession(ctx context.Context, d *dialer) (*session, context.Context, context.CancelFunc, error) {
	octx, cancel := openDeadline(ctx, d.timeout)
	raw, rc, err := d.dial(octx)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return newSession(d, newWatchedConn(raw, rc, true)), octx, cancel, nil
}

// startTLS completes a TLS handshake with cfg (cloned) on s, bounded by
// octx, after which the protocol runs over TLS. A failure is described as
// handshakeError does, with ctx the context of the Open.
func (s *session) startTLS(octx, ctx context.Context, d *dialer, cfg *tls.Config) error {
	tc := tls.Client(replayConn{s.watchedConn}, cfg.Clone())
	if err := tc.HandshakeContext(octx); err != nil {
		return handshakeError(octx, ctx, d.address, d.timeout, err)
	}
	s.rw = &recorder{Conn: tc}
	return nil
}

// openExchange runs the opening exchange fn bounded by octx. On success
// the idle clock starts at its end and the watcher runs. On failure undo
// (when set) runs, then the session closes and the error is what
// openFailed makes of it, with ctx the context of the Open.
func (s *session) openExchange(octx, ctx context.Context, what string, fn func() error, undo func()) error {
	_, end, err := s.exchange(octx, fn)
	if err != nil {
		if undo != nil {
			undo()
		}
		return s.openFailed(ctx, what, err)
	}
	s.setIdleSince(end)
	s.watch()
	return nil
}

// openFailed turns an error of the opening exchange into one line wrapping
// ErrUnusable. what says which step failed ("login to postgres://...").
func (s *session) openFailed(ctx context.Context, what string, err error) error {
	s.Close()
	if ctx.Err() == context.Canceled {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	var se *serverError
	if errors.As(err, &se) {
		return unusable(fmt.Sprintf("%s failed: %s", what, se.msg), nil)
	}
	var oe *openError
	if errors.As(err, &oe) {
		return err
	}
	_, detail := classify(err, s.acked)
	return unusable(fmt.Sprintf("%s failed: %s", what, detail), err)
}
