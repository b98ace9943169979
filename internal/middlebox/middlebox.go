// Package middlebox is a userspace TCP proxy that forgets idle flows the way
// IPVS, conntrack or a cloud load balancer does. It exists for the demo and
// for tests: put it in front of a server and idleprobe should find its
// timeout.
//
// Every flow remembers when a byte last passed in either direction. When
// bytes arrive on a flow that has been idle for at least Timeout, the flow is
// forgotten: like the kernel, expiry is decided lazily and exactly at the
// moment the next bytes arrive, not by a periodic sweep. What the client then
// sees depends on the Mode.
package middlebox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Mode is what a forgotten flow does to the bytes that arrive on it.
type Mode int

const (
	// Reset answers the client's next bytes with a TCP reset (the client
	// socket is closed with SO_LINGER 0) and closes the upstream connection:
	// what IPVS does. The client sees ECONNRESET on its read after its write.
	Reset Mode = iota
	// Drop discards the client's bytes silently and never answers, keeping
	// the client socket open: a black hole. On loopback the client's kernel
	// still gets ACKs from the proxy's socket, so from the client's view the
	// path looks "slow" (bytes acknowledged, no answer), not "dropped".
	Drop
)

// String returns "reset" or "drop".
func (m Mode) String() string {
	switch m {
	case Reset:
		return "reset"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Config configures a Proxy.
type Config struct {
	// Listen is the address to listen on; default "127.0.0.1:0".
	Listen string
	// Upstream is the host:port every flow is forwarded to.
	Upstream string
	// Timeout is the idle time after which a flow is forgotten. Must be > 0.
	Timeout time.Duration
	// Mode is what happens to bytes on a forgotten flow (default Reset).
	Mode Mode
	// Logger receives a debug line per flow event; nil discards them.
	Logger *slog.Logger
}

// Proxy is a running middlebox. Create it with New, stop it with Close.
type Proxy struct {
	cfg Config
	log *slog.Logger
	ln  net.Listener

	wg     sync.WaitGroup
	mu     sync.Mutex
	flows  map[*flow]struct{}
	closed bool
}

// dialer and listenConfig never send TCP keepalives: the proxy must not
// refresh the idle flows it is timing.
var (
	dialer       = net.Dialer{KeepAlive: -1, Timeout: 5 * time.Second}
	listenConfig = net.ListenConfig{KeepAlive: -1}
)

// New starts a proxy listening on cfg.Listen and forwarding to cfg.Upstream.
func New(ctx context.Context, cfg Config) (*Proxy, error) {
	if cfg.Upstream == "" {
		return nil, errors.New("middlebox: no upstream address")
	}
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("middlebox: idle timeout %s must be positive", cfg.Timeout)
	}
	if cfg.Mode != Reset && cfg.Mode != Drop {
		return nil, fmt.Errorf("middlebox: unknown mode %d (valid: Reset, Drop)", int(cfg.Mode))
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := listenConfig.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("middlebox: listen %q: %w", cfg.Listen, err)
	}
	p := &Proxy{cfg: cfg, log: log.With("component", "middlebox"), ln: ln, flows: make(map[*flow]struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address clients connect to.
func (p *Proxy) Addr() net.Addr { return p.ln.Addr() }

// Close stops accepting, tears down every flow and waits for all of the
// proxy's goroutines. It is safe to call more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for f := range p.flows {
		f.client.Close()
		if f.upstream != nil {
			f.upstream.Close()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Error("accept failed", "err", err)
			}
			return
		}
		f := &flow{p: p, client: c.(*net.TCPConn), last: time.Now()}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.flows[f] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go f.run()
	}
}

// flow is one proxied connection.
type flow struct {
	p        *Proxy
	client   *net.TCPConn
	upstream *net.TCPConn // set once dialed, under p.mu

	mu        sync.Mutex
	last      time.Time // when a byte last passed, either way
	forgotten bool

	forgetOnce sync.Once
}

// touch records traffic at now, or reports that the flow had already been
// idle for the timeout (and is now forgotten).
func (f *flow) touch(now time.Time) (alive bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.forgotten {
		return false
	}
	if now.Sub(f.last) >= f.p.cfg.Timeout {
		f.forgotten = true
		return false
	}
	f.last = now
	return true
}

func (f *flow) isForgotten() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.forgotten
}

func (f *flow) run() {
	defer f.p.wg.Done()
	defer func() {
		f.p.mu.Lock()
		delete(f.p.flows, f)
		f.p.mu.Unlock()
	}()
	log := f.p.log.With("client", f.client.RemoteAddr().String())

	ctx, cancel := context.WithTimeout(context.Background(), dialer.Timeout)
	u, err := dialer.DialContext(ctx, "tcp", f.p.cfg.Upstream)
	cancel()
	if err != nil {
		log.Debug("upstream dial failed", "err", err)
		f.client.SetLinger(0)
		f.client.Close()
		return
	}
	f.p.mu.Lock()
	if f.p.closed {
		f.p.mu.Unlock()
		u.Close()
		f.client.Close()
		return
	}
	f.upstream = u.(*net.TCPConn)
	f.p.mu.Unlock()
	f.touch(time.Now())
	log.Debug("flow opened")

	done := make(chan struct{})
	go func() {
		defer close(done)
		f.fromUpstream(log)
	}()
	f.fromClient(log)
	<-done
	f.client.Close()
	f.upstream.Close()
	log.Debug("flow closed")
}

// forget tears down the upstream side of a flow found expired (once): the
// backend never hears from this flow again.
func (f *flow) forget(log *slog.Logger, dir string) {
	f.forgetOnce.Do(func() {
		log.Debug("idle flow forgotten", "direction", dir, "mode", f.p.cfg.Mode.String())
		f.upstream.SetLinger(0)
		f.upstream.Close()
	})
}

// fromClient forwards client bytes upstream until the client is done or the
// flow is forgotten.
func (f *flow) fromClient(log *slog.Logger) {
	buf := make([]byte, 32<<10)
	for {
		n, err := f.client.Read(buf)
		if n > 0 || errors.Is(err, io.EOF) {
			// Data or a FIN arrived: that is a packet on the flow.
			if !f.touch(time.Now()) {
				f.forget(log, "client")
				if f.p.cfg.Mode == Reset {
					f.client.SetLinger(0) // close with RST
					f.client.Close()
					return
				}
				if err != nil {
					return // client closed: nothing left to swallow
				}
				continue // black hole: swallow and keep reading
			}
		}
		if n > 0 {
			if _, werr := f.upstream.Write(buf[:n]); werr != nil {
				f.client.SetLinger(0)
				f.client.Close()
				return
			}
			f.touch(time.Now())
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				f.upstream.CloseWrite()
			} else {
				f.upstream.SetLinger(0)
				f.upstream.Close()
			}
			return
		}
	}
}

// fromUpstream forwards upstream bytes to the client until upstream is done
// or the flow is forgotten.
func (f *flow) fromUpstream(log *slog.Logger) {
	buf := make([]byte, 32<<10)
	for {
		n, err := f.upstream.Read(buf)
		if n > 0 || errors.Is(err, io.EOF) {
			if !f.touch(time.Now()) {
				// A late packet from the server on a forgotten flow: it goes
				// nowhere. The client hears about it only when it next sends.
				f.forget(log, "upstream")
				return
			}
		}
		if n > 0 {
			if _, werr := f.client.Write(buf[:n]); werr != nil {
				f.upstream.SetLinger(0)
				f.upstream.Close()
				return
			}
			f.touch(time.Now())
		}
		if err != nil {
			if f.isForgotten() {
				return // we closed upstream ourselves
			}
			if errors.Is(err, io.EOF) {
				f.client.CloseWrite()
			} else {
				f.client.SetLinger(0)
				f.client.Close()
			}
			return
		}
	}
}
