package prober

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// progressEvery is how often Options.Progress is called when nothing happens.
const progressEvery = time.Second

// event is what a connection's goroutine reports back to the measuring loop.
type event struct {
	id    plan.ConnID
	kind  eventKind
	conn  Conn  // opened
	err   error // opened (failure)
	reply Reply // reused
	// suspected: when the evidence was read, and which reuse it is about.
	at    time.Time
	reuse int
}

type eventKind int

const (
	evOpened eventKind = iota
	evReused
	evClosedIdle
	evSuspected
)

// live is the loop's record of one open connection.
type live struct {
	conn Conn
	// stop stops waiting for an idle close.
	stop func()
	// reusing is true while a Reuse runs.
	reusing bool
	// idleSince is when the connection went idle before the running Reuse
	// (the Conn's own IdleSince moves on when the reuse ends).
	idleSince time.Time
	// reuses counts the reuses started; confirm marks the running one as a
	// re-test of a bracket edge.
	reuses  int
	confirm bool
}

// measurement is the state of one Measure call.
type measurement struct {
	target Target
	opts   Options
	tr     Transport
	// newTransport builds transports (the keepalive check builds its own).
	newTransport func(Target, TransportOptions) (Transport, error)
	pl           plan.Planner
	log          *slog.Logger
	start        time.Time

	events chan event
	quit   chan struct{} // closed when the loop ends: goroutines stop sending
	wg     sync.WaitGroup

	conns     map[plan.ConnID]*live
	abandoned map[plan.ConnID]bool // closed by the planner while still opening
	admission admission            // opens waiting for the global limiter
	everOpen  bool
	lastErr   error
	// hints is the latest of what the server advertised.
	hints Hints
	// hop judges who ended failed connections (Options.WhichHop), or nil.
	hop *hopJudge
}

// Measure runs one idle-limit measurement of target and returns what it
// learned. It always ends by itself: the search stops at opts.Plan.Deadline
// (plan.AutoDeadline when 0) after it started, and Measure returns within
// the deadline plus the time to close what is open (a reuse under way is
// cancelled), plus, with opts.Keepalive, the keepalive check's hold and one
// trial timeout. On cancellation it returns the partial result (Status
// Interrupted) with ctx's error. When the target cannot be measured at all
// the error wraps ErrUnusable (Status Unusable); when the search ended
// without a clean answer it wraps ErrInconclusive (Status Inconclusive),
// and the Result holds the evidence. Every connection is closed and every
// goroutine it started has ended when Measure returns.
//
// With opts.Keepalive, a completed search that found a limit is followed by
// the keepalive check (see KeepaliveCheck). The error describes the search
// only: when ctx ends during the check, Measure still returns the complete
// search result and a nil error, with KeepaliveChecked false and
// KeepaliveDetail saying the check was interrupted. A limit that took a long
// search is worth publishing even if the check could not finish.
func Measure(ctx context.Context, target Target, opts Options) (Result, error) {
	if opts.Plan == (Settings{}) {
		opts.Plan = plan.Defaults()
	}
	opts.Plan = opts.Plan.WithDeadline(opts.Transport.trialTimeout())
	if err := opts.Plan.Validate(); err != nil {
		return Result{}, err
	}
	if opts.Keepalive != nil {
		if err := opts.Keepalive.Validate(); err != nil {
			return Result{}, err
		}
		if err := checkPingScheme(opts.Keepalive, target); err != nil {
			return Result{}, err
		}
	}
	newTransport := opts.NewTransport
	if newTransport == nil {
		newTransport = NewTransport
	}
	tr, err := newTransport(target, opts.Transport)
	if err != nil {
		return Result{}, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	pl, err := plan.New(opts.Plan, start)
	if err != nil {
		return Result{}, err
	}
	m := &measurement{
		target: target, opts: opts, tr: tr, pl: pl, start: start, newTransport: newTransport,
		log:       log.With("target", target.String(), "strategy", string(opts.Plan.Strategy)),
		events:    make(chan event),
		quit:      make(chan struct{}),
		conns:     make(map[plan.ConnID]*live),
		abandoned: make(map[plan.ConnID]bool),
	}
	if opts.WhichHop {
		m.hop = newHopJudge(target)
	}
	r, err := m.run(ctx)
	if err != nil || opts.Keepalive == nil {
		return r, err
	}
	m.keepalive(ctx, &r)
	return r, nil
}

// timeout is the trial timeout in effect.
func (m *measurement) timeout() time.Duration { return m.opts.Transport.trialTimeout() }

func (m *measurement) run(ctx context.Context) (Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		close(m.quit)
		for _, l := range m.conns {
			if !l.reusing { // a running Reuse closes its own connection
				m.drop(l)
			}
		}
		m.wg.Wait()
		m.hop.close()
	}()
	m.log.Debug("measurement started", "min", m.opts.Plan.Min, "max", m.opts.Plan.Max, "budget", m.opts.Plan.Budget)

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var tickC <-chan time.Time // nil: no periodic progress
	if m.opts.Progress != nil && !m.opts.ProgressOnTrials {
		tick := time.NewTicker(progressEvery)
		defer tick.Stop()
		tickC = tick.C
	}

	for {
		now := time.Now()
		acts, wake := m.pl.Next(now)
		for _, a := range acts {
			m.act(ctx, a)
		}
		if m.pl.Done() {
			m.hop.close() // the verdicts under way, before the result
			break
		}
		if !m.everOpen && m.lastErr != nil && errors.Is(m.lastErr, ErrUnusable) {
			// The very first connections fail: nothing to measure.
			r := m.result(time.Now())
			r.Status, r.Reason = plan.Unusable, oneLine(m.lastErr.Error())
			return r, m.lastErr
		}
		if !wake.IsZero() {
			timer.Reset(max(time.Until(wake), 0))
		} else {
			timer.Reset(time.Hour)
		}
		select {
		case <-ctx.Done():
			r := m.result(time.Now())
			r.Status, r.Reason = plan.Interrupted, "interrupted: "+ctx.Err().Error()
			m.log.Info("measurement interrupted", "lower", r.Lower, "upper", r.Upper, "found", r.Found)
			return r, ctx.Err()
		case ev := <-m.events:
			m.handle(ev)
		case <-timer.C:
		case <-tickC:
			m.progress(time.Now(), nil)
		}
	}
	r := m.result(time.Now())
	switch r.Status {
	case plan.Unusable:
		err := fmt.Errorf("%w: %s", ErrUnusable, r.Reason)
		if m.lastErr != nil && !errors.Is(m.lastErr, ErrUnusable) {
			err = fmt.Errorf("%w (last: %v)", err, m.lastErr)
		} else if m.lastErr != nil && !m.everOpen {
			err = m.lastErr
		}
		if r.Found && r.Lower == 0 {
			err = fmt.Errorf("%w; the server may not speak this protocol: set the reuse payload and its answer (tcp send/expect), try another scheme, or measure the idleprobe responder behind the same hop", err)
		}
		return r, err
	case plan.Inconclusive:
		if strings.Contains(r.Reason, "disagree") {
			return r, fmt.Errorf("%w: %s; limit in (%s, %s] so far", ErrInconclusive, r.Reason,
				r.Lower.Round(time.Millisecond), r.Upper.Round(time.Millisecond))
		}
		return r, fmt.Errorf("%w: %s; %s", ErrInconclusive, r.Reason, evidence(r))
	}
	m.log.Debug("measurement done", "lower", r.Lower, "upper", r.Upper, "found", r.Found, "mode", r.Mode,
		"kind", r.Kind, "duration", r.Duration())
	return r, nil
}

// evidence sums up a partial result in words: the bracket so far and how
// many trials contradict it.
func evidence(r Result) string {
	n := r.Agree + r.Disagree
	if !r.Found {
		return fmt.Sprintf("no limit seen so far: connections survived %s idle; %d of %d trials contradict that",
			r.Lower.Round(time.Millisecond), r.Disagree, n)
	}
	return fmt.Sprintf("limit in (%s, %s] so far (%s, %s limit); %d of %d trials contradict it",
		r.Lower.Round(time.Millisecond), r.Upper.Round(time.Millisecond), r.Mode, r.Kind, r.Disagree, n)
}

func (m *measurement) result(now time.Time) Result {
	r := m.pl.Result()
	r.Target = m.target.String()
	r.Started, r.Finished = m.start, now
	r.Server.KeepAliveTimeout, r.Server.KeepAliveMax = m.hints.KeepAliveTimeout, m.hints.KeepAliveMax
	r.Direction = EffectiveDirection(m.target.Scheme, m.opts.Transport.Direction)
	m.hop.annotate(&r)
	return r
}

// noteHints keeps what the server advertised on c.
func (m *measurement) noteHints(c Conn) {
	if h := c.Hints(); h != (Hints{}) {
		m.hints = h
	}
}

// act carries out one planner action.
func (m *measurement) act(ctx context.Context, a plan.Action) {
	switch a.Kind {
	case plan.Open:
		m.wg.Add(1)
		m.admit(ctx, a.Conn)
	case plan.Reuse:
		l, ok := m.conns[a.Conn]
		if !ok || l.reusing {
			return
		}
		l.reusing = true
		l.idleSince = l.conn.IdleSince()
		l.reuses++
		l.confirm = a.Confirm
		l.stop()
		reuse := l.reuses
		rctx := withSuspect(ctx, func(at time.Time) {
			m.send(event{id: a.Conn, kind: evSuspected, at: at, reuse: reuse})
		})
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			rep := l.conn.Reuse(rctx)
			if !m.send(event{id: a.Conn, kind: evReused, reply: rep}) {
				l.conn.Close()
				m.release()
			}
		}()
	case plan.Close:
		if l, ok := m.conns[a.Conn]; ok {
			m.drop(l)
			delete(m.conns, a.Conn)
		} else {
			m.abandoned[a.Conn] = true
		}
	}
}

// open dials one connection and reports; admit has taken its slot of the
// limiter.
func (m *measurement) open(ctx context.Context, id plan.ConnID) {
	defer m.wg.Done()
	c, err := m.tr.Open(ctx)
	if err != nil {
		m.release()
	}
	if !m.send(event{id: id, kind: evOpened, conn: c, err: err}) && c != nil {
		c.Close()
		m.release()
	}
}

// send delivers ev to the loop, or reports false once the loop has ended.
func (m *measurement) send(ev event) bool {
	select {
	case m.events <- ev:
		return true
	case <-m.quit:
		return false
	}
}

func (m *measurement) release() {
	if m.opts.Limiter != nil {
		m.opts.Limiter.Release()
	}
}

// drop closes a connection and gives its slot back.
func (m *measurement) drop(l *live) {
	m.hop.forget(l.conn)
	if !l.reusing {
		l.stop()
		l.reusing = true // the watcher is gone either way
	}
	l.conn.Close()
	m.release()
}

// closeNotifier is a Conn that can call back on an idle close (the
// transports' connections): then no goroutine per idle connection waits on
// Closed.
type closeNotifier interface {
	// afterIdleClose runs f once, in a goroutine of its own, when a close is
	// seen while idle; stop cancels that and reports whether it did.
	afterIdleClose(f func()) (stop func() bool)
}

// watch waits for an idle close on l and reports it.
func (m *measurement) watch(id plan.ConnID, l *live) {
	l.reusing = false
	report := func() { m.send(event{id: id, kind: evClosedIdle}) }
	m.wg.Add(1)
	if n, ok := l.conn.(closeNotifier); ok {
		stop := n.afterIdleClose(func() {
			defer m.wg.Done()
			report()
		})
		l.stop = func() {
			if stop() {
				m.wg.Done()
			}
		}
		return
	}
	stop := make(chan struct{})
	l.stop = func() { close(stop) }
	go func() {
		defer m.wg.Done()
		select {
		case <-l.conn.Closed():
			report()
		case <-stop:
		}
	}()
}

func (m *measurement) handle(ev event) {
	now := time.Now()
	switch ev.kind {
	case evOpened:
		if ev.err != nil {
			m.lastErr = ev.err
			m.log.Debug("open failed", "conn", ev.id, "err", ev.err)
			m.pl.OpenFailed(ev.id, now, ev.err.Error())
			delete(m.abandoned, ev.id)
			m.progress(now, nil)
			return
		}
		m.everOpen = true
		if m.abandoned[ev.id] {
			delete(m.abandoned, ev.id)
			ev.conn.Close()
			m.release()
			return
		}
		l := &live{conn: ev.conn}
		m.conns[ev.id] = l
		m.noteHints(ev.conn)
		m.watch(ev.id, l)
		m.pl.Opened(ev.id, ev.conn.Opened(), ev.conn.IdleSince())
	case evClosedIdle:
		l, ok := m.conns[ev.id]
		if !ok || l.reusing {
			return // already being reused: Reuse reports the close itself
		}
		at, detail := l.conn.CloseInfo()
		t := plan.Trial{Conn: ev.id, IdleSince: l.conn.IdleSince(), Start: at, End: at,
			Outcome: plan.ClosedIdle, Detail: detail, Reuse: l.reuses + 1, ConnAge: at.Sub(l.conn.Opened())}
		t.Age = at.Sub(t.IdleSince)
		t.Clock = l.conn.Hints().CloseClock
		m.hop.judge(ev.id, t.Reuse, l.conn, plan.ClosedIdle)
		m.drop(l)
		delete(m.conns, ev.id)
		m.observe(now, t)
	case evSuspected:
		if l, ok := m.conns[ev.id]; ok && l.reusing && l.reuses == ev.reuse {
			m.log.Debug("reuse suspected of meeting a black hole", "conn", ev.id, "reuse", ev.reuse)
			m.pl.Suspect(ev.id, ev.at)
		}
	case evReused:
		l, ok := m.conns[ev.id]
		if !ok {
			return
		}
		rep := ev.reply
		t := plan.Trial{Conn: ev.id, IdleSince: l.idleSince, Start: rep.Start, End: rep.End,
			Outcome: rep.Outcome, Detail: rep.Detail, Reuse: l.reuses, Confirm: l.confirm,
			Retired: rep.Outcome.Survived() && rep.Retired}
		t.Age = t.Start.Sub(t.IdleSince)
		t.ConnAge = t.Start.Sub(l.conn.Opened())
		if rep.Outcome.Survived() {
			m.noteHints(l.conn)
		}
		if rep.Outcome.Survived() && !rep.Retired {
			// The connection is idle again from the end of the exchange.
			t.End = l.conn.IdleSince()
			m.watch(ev.id, l)
		} else {
			m.hop.judge(ev.id, t.Reuse, l.conn, rep.Outcome)
			m.drop(l)
			delete(m.conns, ev.id)
		}
		if rep.Outcome == plan.Error || rep.Outcome == plan.Slow {
			m.lastErr = fmt.Errorf("%s: %s", rep.Outcome, rep.Detail)
		}
		m.observe(now, t)
	}
}

func (m *measurement) observe(now time.Time, t plan.Trial) {
	m.log.Debug("trial", "conn", t.Conn, "age", t.Age, "outcome", string(t.Outcome), "detail", t.Detail)
	m.pl.Observe(t)
	m.progress(now, &t)
}

func (m *measurement) progress(now time.Time, t *plan.Trial) {
	if m.opts.Progress == nil {
		return
	}
	partial := m.result(now)
	left := min(m.pl.Remaining(now), max(m.start.Add(m.opts.Plan.Deadline).Sub(now), 0))
	if k := m.opts.Keepalive; k != nil && partial.Found {
		// The keepalive check follows the search: its hold is time left too.
		left += k.HoldFor(partial.Upper, m.opts.Plan.Max) + m.timeout()
	}
	m.opts.Progress(Progress{
		Now: now, Started: m.start, Partial: partial, Live: m.pl.Live(),
		Remaining: left, Trial: t,
	})
}
