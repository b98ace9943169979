package prober

import (
	"sync"
	"time"
)

// idleMonitor decodes, while a framed connection (HTTP/2, WebSocket) is
// idle, what its watcher stashes, and records the first idle close (a
// GOAWAY or close frame, a TLS close_notify, a FIN or an RST) at the moment
// it arrived. scan
// decodes what is stashed and reports whether the connection is finished;
// it never writes.
type idleMonitor struct {
	events <-chan struct{}
	scan   func() bool

	monMu   sync.Mutex
	monStop chan struct{}
	monDone chan struct{}

	closeMu   sync.Mutex
	closedCh  chan struct{}
	closeSeen bool
	closeAt   time.Time
	closeWhy  string
}

func newIdleMonitor(events <-chan struct{}, scan func() bool) *idleMonitor {
	return &idleMonitor{events: events, scan: scan, closedCh: make(chan struct{})}
}

// signalClose records the idle close once.
func (m *idleMonitor) signalClose(at time.Time, detail string) {
	m.closeMu.Lock()
	defer m.closeMu.Unlock()
	if m.closeSeen {
		return
	}
	m.closeSeen, m.closeAt, m.closeWhy = true, at, detail
	close(m.closedCh)
}

// idleClose returns the idle close, if one was seen.
func (m *idleMonitor) idleClose() (time.Time, string, bool) {
	m.closeMu.Lock()
	defer m.closeMu.Unlock()
	return m.closeAt, m.closeWhy, m.closeSeen
}

// start starts the idle decoder.
func (m *idleMonitor) start() {
	m.monMu.Lock()
	defer m.monMu.Unlock()
	if m.monStop != nil {
		return
	}
	m.monStop, m.monDone = make(chan struct{}), make(chan struct{})
	go m.run(m.monStop, m.monDone)
}

// stop stops the idle decoder and waits for it.
func (m *idleMonitor) stop() {
	m.monMu.Lock()
	defer m.monMu.Unlock()
	if m.monStop == nil {
		return
	}
	close(m.monStop)
	<-m.monDone
	m.monStop, m.monDone = nil, nil
}

func (m *idleMonitor) run(stop, done chan struct{}) {
	defer close(done)
	for {
		if m.scan() {
			return
		}
		select {
		case <-stop:
			return
		case <-m.events:
		}
	}
}

// watcherEnd returns when and how the raw watcher saw the connection end,
// or a zero time.
func (c *watchedConn) watcherEnd() (time.Time, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		return time.Time{}, ""
	}
	return c.endAt, closeDetail(c.endErr)
}

// pinger sends a protocol ping every interval while a connection is idle.
// Only the ping check (KeepaliveCheck.Ping) starts one; trial connections
// never ping.
type pinger struct {
	stop, done chan struct{}
}

// startPinger pings every interval from idleSince on, until halted or a
// ping fails (the idle decoder sees why).
func startPinger(interval time.Duration, idleSince time.Time, ping func() error) *pinger {
	p := &pinger{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		next := idleSince.Add(interval)
		timer := time.NewTimer(time.Until(next))
		defer timer.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-timer.C:
			}
			if ping() != nil {
				return
			}
			next = next.Add(interval)
			timer.Reset(time.Until(next))
		}
	}()
	return p
}

// halt stops the pinger and waits for it; a nil pinger is fine.
func (p *pinger) halt() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
}
