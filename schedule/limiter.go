package schedule

import (
	"context"
	"sync"
)

// Limiter is the global cap on live trial connections across all paths. It
// implements prober.Limiter: pass the same *Limiter in the Options of every
// measurement. Waiters are served in arrival order, so a path with a large
// budget cannot starve the others.
//
// A nil *Limiter, or one with a limit of 0 or less, never blocks.
type Limiter struct {
	mu      sync.Mutex
	limit   int
	held    int
	peak    int
	waiters []chan struct{}
}

// NewLimiter returns a Limiter that lets at most n connections be held at
// once. n <= 0 means no limit.
func NewLimiter(n int) *Limiter {
	return &Limiter{limit: n}
}

// Acquire blocks until a connection may be opened or ctx ends. It returns
// ctx.Err() in the latter case, and then nothing is held.
func (l *Limiter) Acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l == nil {
		return nil
	}
	l.mu.Lock()
	if len(l.waiters) == 0 && l.free() {
		l.take()
		l.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, ch)
	l.mu.Unlock()

	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		for i, w := range l.waiters {
			if w == ch {
				l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
				return ctx.Err()
			}
		}
		// The slot was granted while ctx ended: give it back.
		l.held--
		l.grant()
		return ctx.Err()
	}
}

// Release gives back a connection taken with a successful Acquire.
// Releasing more than was acquired is a programming error and panics.
func (l *Limiter) Release() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == 0 {
		panic("schedule: Limiter.Release without a matching Acquire")
	}
	l.held--
	l.grant()
}

// SetLimit changes the cap (a config reload). Raising it wakes waiters at
// once; lowering it below the number held lets holders finish and admits new
// ones only as the count falls under the new cap.
func (l *Limiter) SetLimit(n int) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limit = n
	l.grant()
}

// Limit returns the current cap (0 or less: none).
func (l *Limiter) Limit() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}

// InUse returns the number of connections held now.
func (l *Limiter) InUse() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

// Peak returns the most connections ever held at once.
func (l *Limiter) Peak() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peak
}

// Waiting returns the number of Acquire calls blocked now.
func (l *Limiter) Waiting() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiters)
}

// free reports whether one more connection fits. l.mu must be held.
func (l *Limiter) free() bool { return l.limit <= 0 || l.held < l.limit }

// take counts one more held connection. l.mu must be held.
func (l *Limiter) take() {
	l.held++
	if l.held > l.peak {
		l.peak = l.held
	}
}

// grant hands free slots to waiters in arrival order. l.mu must be held.
func (l *Limiter) grant() {
	for len(l.waiters) > 0 && l.free() {
		ch := l.waiters[0]
		l.waiters = l.waiters[1:]
		l.take()
		close(ch)
	}
}
