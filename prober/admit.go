package prober

import (
	"context"
	"sync"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// admission queues a measurement's opens for the global limiter: one
// goroutine per measurement waits for a slot at a time, however many
// connections the planner has asked for. (A goroutine per requested
// connection, parked in Acquire while serve sits at max_connections, cost a
// stack each: thousands of them at 10,000 connections.) Opens are admitted
// in the order asked.
type admission struct {
	mu      sync.Mutex
	queue   []plan.ConnID
	running bool
}

// admit opens connection id once the limiter lets it, and reports the
// outcome as open does. The caller has counted it in m.wg.
func (m *measurement) admit(ctx context.Context, id plan.ConnID) {
	if m.opts.Limiter == nil {
		go m.open(ctx, id)
		return
	}
	a := &m.admission
	a.mu.Lock()
	a.queue = append(a.queue, id)
	start := !a.running
	a.running = true
	a.mu.Unlock()
	if start {
		m.wg.Add(1)
		go m.admitQueued(ctx)
	}
}

// admitQueued acquires a slot for each queued open in turn and starts it,
// until the queue is empty.
func (m *measurement) admitQueued(ctx context.Context) {
	defer m.wg.Done()
	a := &m.admission
	for {
		a.mu.Lock()
		if len(a.queue) == 0 {
			a.running = false
			a.mu.Unlock()
			return
		}
		id := a.queue[0]
		a.queue = a.queue[1:]
		a.mu.Unlock()
		if err := m.opts.Limiter.Acquire(ctx); err != nil {
			m.send(event{id: id, kind: evOpened, err: err})
			m.wg.Done() // the open's count
			continue
		}
		go m.open(ctx, id)
	}
}
