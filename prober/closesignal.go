package prober

import "sync"

// closeSignal is a connection's "closed while idle" event: a channel that
// is closed once, and at most one hook that then runs in a goroutine of
// its own. The hook lets Measure learn of the close without a goroutine
// per idle connection waiting on the channel.
type closeSignal struct {
	ch chan struct{}

	mu    sync.Mutex
	fired bool
	hook  *func()
}

func newCloseSignal() closeSignal { return closeSignal{ch: make(chan struct{})} }

// fire closes the channel and starts the hook, the first time only.
func (s *closeSignal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fired {
		return
	}
	s.fired = true
	close(s.ch)
	if h := s.hook; h != nil {
		s.hook = nil
		go (*h)()
	}
}

// after arranges for f to run (in its own goroutine) when the signal
// fires, at once if it has fired already; it replaces an earlier hook.
// stop cancels f and reports whether it did (false: f runs or ran).
func (s *closeSignal) after(f func()) (stop func() bool) {
	h := &f
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fired {
		go f()
		return func() bool { return false }
	}
	s.hook = h
	return func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.hook != h {
			return false
		}
		s.hook = nil
		return true
	}
}
