package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/idleprobe/idleprobe/internal/udpwire"
	"github.com/idleprobe/idleprobe/internal/wiretoken"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Directions of a reuse: who sends first after the idle time.
const (
	// DirectionClient: the client sends (a request, a datagram) and the
	// answer must come back. The default for every scheme but udp.
	DirectionClient = "client"
	// DirectionServer: the server sends after the idle time and the bytes
	// must arrive; the client sends nothing on the connection under test.
	// The default for udp (a NAT binding's lifetime, RFC 5780).
	DirectionServer = "server"
)

// udpResend is how often a datagram that wants an answer is sent again
// while the trial timeout lasts: UDP may lose one.
const udpResend = 250 * time.Millisecond

// udpTransport measures how long a path keeps a UDP binding (a NAT
// mapping, a conntrack flow) without traffic, against the responder's UDP
// service (package udpwire). Open registers the socket's binding with the
// responder. A reuse in the server direction asks the responder, from a
// second socket, to send to that binding: whether the datagram arrives
// tells whether the path still holds it, and the socket under test sends
// nothing. In the client direction the socket under test registers again:
// the answer must come back, to the same mapped address and port (a new
// one means the binding was forgotten and made anew).
type udpTransport struct {
	address   string
	timeout   time.Duration
	direction string
	// family and resolver: TransportOptions.Family and Resolver.
	family   string
	resolver *net.Resolver
}

// newUDPTransport builds the transport; NewTransport has checked the
// direction.
func newUDPTransport(t Target, o TransportOptions) (*udpTransport, error) {
	dir := EffectiveDirection(t.Scheme, o.Direction)
	return &udpTransport{address: t.Address, timeout: o.Timeout, direction: dir, family: o.Family, resolver: o.Resolver}, nil
}

// Open registers a new socket's binding with the responder.
func (t *udpTransport) Open(ctx context.Context) (Conn, error) {
	octx, cancel := openDeadline(ctx, t.timeout)
	defer cancel()
	uc, err := t.dial(octx)
	if err != nil {
		return nil, err
	}
	c := &udpConn{t: t, uc: uc, token: wiretoken.New(),
		in: make(chan udpwire.Msg, 8), closed: make(chan struct{}), exited: make(chan struct{})}
	go c.read()
	hello := udpwire.Msg{Type: udpwire.Hello, Token: c.token}
	m, err := c.ask(octx, uc, c.in, hello, func(m udpwire.Msg) bool { return m.Type == udpwire.Seen })
	if err != nil {
		c.Close()
		if ctx.Err() == context.Canceled {
			return nil, fmt.Errorf("udp %s: %w", t.address, ctx.Err())
		}
		if _, why := c.CloseInfo(); why != "" {
			return nil, unusable(fmt.Sprintf("udp %s: %s: nothing listens there (start the idleprobe responder's UDP service)", t.address, why), err)
		}
		return nil, unusable(fmt.Sprintf("udp %s: %s (is the idleprobe responder's UDP service listening there?)", t.address, err), err)
	}
	now := time.Now()
	c.mu.Lock()
	c.mapped, c.opened, c.idleSince = m.Addr, now, now
	c.mu.Unlock()
	return c, nil
}

// dial opens a connected UDP socket to the target.
func (t *udpTransport) dial(ctx context.Context) (*net.UDPConn, error) {
	d := net.Dialer{Resolver: t.resolver}
	nc, err := d.DialContext(ctx, network("udp", t.family), t.address)
	var addrErr *net.AddrError
	var dnsErr *net.DNSError
	if t.family != FamilyAny && (errors.As(err, &addrErr) || errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
		return nil, unusable(noFamilyAddress(t.address, t.family), err)
	}
	if err != nil {
		return nil, unusable(fmt.Sprintf("udp %s: %s", t.address, oneLine(err.Error())), err)
	}
	return nc.(*net.UDPConn), nil
}

// udpConn is one UDP socket under test and its binding.
type udpConn struct {
	t     *udpTransport
	uc    *net.UDPConn
	token string
	seq   uint64
	// in receives the messages the socket under test reads.
	in     chan udpwire.Msg
	closed chan struct{}
	exited chan struct{}

	mu        sync.Mutex
	mapped    netip.AddrPort
	opened    time.Time
	idleSince time.Time
	busy      bool
	endAt     time.Time
	endErr    error
	closeOnce sync.Once
}

// read hands every message on the socket under test to in. An error on
// the socket while idle (an ICMP port unreachable: nothing listens any
// more) is a close seen while idle.
func (c *udpConn) read() {
	defer close(c.exited)
	buf := make([]byte, udpwire.MaxSize+1)
	for {
		n, err := c.uc.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				c.mu.Lock()
				if c.endErr == nil {
					c.endAt, c.endErr = time.Now(), err
					if !c.busy {
						close(c.closed)
					}
				}
				c.mu.Unlock()
			}
			continue
		}
		m, err := udpwire.Parse(buf[:n])
		if err != nil || m.Token != c.token {
			continue
		}
		select {
		case c.in <- m:
		default: // nobody is waiting; a late duplicate
		}
	}
}

// ask sends m padded on uc every udpResend until a message on in passes
// want, or ctx ends.
func (c *udpConn) ask(ctx context.Context, uc *net.UDPConn, in <-chan udpwire.Msg, m udpwire.Msg, want func(udpwire.Msg) bool) (udpwire.Msg, error) {
	out := m.Padded(nil)
	tick := time.NewTicker(udpResend)
	defer tick.Stop()
	for {
		if _, err := uc.Write(out); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			return udpwire.Msg{}, err
		}
		for {
			select {
			case <-ctx.Done():
				return udpwire.Msg{}, errors.New("no answer within the timeout")
			case <-c.closed:
				return udpwire.Msg{}, errors.New("port unreachable")
			case got := <-in:
				if want(got) {
					return got, nil
				}
				continue
			case <-tick.C:
			}
			break
		}
	}
}

// Opened is when the responder confirmed the binding.
func (c *udpConn) Opened() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.opened }

// IdleSince is when the last datagram crossed the binding.
func (c *udpConn) IdleSince() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.idleSince }

// Closed is closed when the socket reported an error while idle.
func (c *udpConn) Closed() <-chan struct{} { return c.closed }

// CloseInfo says when and why.
func (c *udpConn) CloseInfo() (time.Time, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.endErr == nil {
		return time.Time{}, ""
	}
	return c.endAt, "port unreachable (ICMP)"
}

// LocalAddr is the socket's own address (before any NAT).
func (c *udpConn) LocalAddr() netip.AddrPort { return c.uc.LocalAddr().(*net.UDPAddr).AddrPort() }

// Hints returns nothing: UDP servers advertise no idle limits.
func (c *udpConn) Hints() Hints { return Hints{} }

// Close releases the socket.
func (c *udpConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.uc.Close()
		<-c.exited
	})
	return err
}

// Reuse tests the binding in the transport's direction.
func (c *udpConn) Reuse(ctx context.Context) Reply {
	start := time.Now()
	c.mu.Lock()
	if c.endErr != nil {
		at := c.endAt
		c.mu.Unlock()
		return Reply{Outcome: plan.ClosedIdle, Start: at, End: at, Detail: "port unreachable (ICMP)"}
	}
	c.busy = true
	mapped := c.mapped
	c.mu.Unlock()
	defer func() { c.mu.Lock(); c.busy = false; c.mu.Unlock() }()
	for len(c.in) > 0 {
		<-c.in // nothing that came while idle is an answer
	}
	ctx, cancel := context.WithTimeout(ctx, c.t.timeout)
	defer cancel()
	var r Reply
	if c.t.direction == DirectionServer {
		r = c.push(ctx, mapped)
	} else {
		r = c.hello(ctx, mapped)
	}
	r.Start = start
	if r.End.IsZero() {
		r.End = time.Now()
	}
	if r.Outcome == plan.OK {
		c.mu.Lock()
		c.idleSince = r.End
		c.mu.Unlock()
	}
	return r
}

// push asks the responder, from a fresh socket, to send to the binding,
// and waits for the datagram on the socket under test.
func (c *udpConn) push(ctx context.Context, mapped netip.AddrPort) Reply {
	c.seq++
	seq := c.seq
	ctrl, err := c.t.dial(ctx)
	if err != nil {
		return Reply{Outcome: plan.Error, Detail: "control socket: " + err.Error()}
	}
	acks := make(chan udpwire.Msg, 4)
	readerDone := make(chan struct{})
	defer func() { ctrl.Close(); <-readerDone }()
	go func() {
		defer close(readerDone)
		buf := make([]byte, udpwire.MaxSize+1)
		for {
			n, err := ctrl.Read(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			if m, err := udpwire.Parse(buf[:n]); err == nil && m.Token == c.token && (m.Type == udpwire.Unknown || m.Seq == seq) {
				select {
				case acks <- m:
				default:
				}
			}
		}
	}()
	req := udpwire.Msg{Type: udpwire.Push, Token: c.token, Seq: seq}
	out := req.Padded(nil)
	tick := time.NewTicker(udpResend)
	defer tick.Stop()
	var sent *udpwire.Msg
	for {
		if sent == nil {
			_, _ = ctrl.Write(out)
		}
		select {
		case m := <-c.in:
			if m.Type == udpwire.Pushed && m.Seq == seq {
				return Reply{Outcome: plan.OK, End: time.Now(), Detail: "the server's datagram arrived"}
			}
		case m := <-acks:
			if m.Type == udpwire.Unknown {
				return Reply{Outcome: plan.Error, Detail: "the responder does not know this binding (was it restarted?)"}
			}
			sent = &m
		case <-tick.C:
		case <-ctx.Done():
			switch {
			case sent == nil:
				return Reply{Outcome: plan.Slow, Detail: "the responder did not answer the push request"}
			case sent.Addr != mapped:
				return Reply{Outcome: plan.Dropped, Detail: fmt.Sprintf("the responder sent to %s, not the binding %s, and nothing arrived", sent.Addr, mapped)}
			}
			return Reply{Outcome: plan.Dropped, Detail: fmt.Sprintf("the server's datagram to %s never arrived: the path forgot the binding", mapped)}
		}
	}
}

// hello registers again from the socket under test and compares the
// mapping the responder saw with the first one.
func (c *udpConn) hello(ctx context.Context, mapped netip.AddrPort) Reply {
	m, err := c.ask(ctx, c.uc, c.in, udpwire.Msg{Type: udpwire.Hello, Token: c.token},
		func(m udpwire.Msg) bool { return m.Type == udpwire.Seen })
	switch {
	case err != nil:
		return Reply{Outcome: plan.Dropped, Detail: "no answer: " + err.Error()}
	case m.Addr != mapped:
		c.mu.Lock()
		c.mapped = m.Addr
		c.mu.Unlock()
		return Reply{Outcome: plan.Reset, Detail: fmt.Sprintf("binding re-mapped from %s to %s: the path forgot it and made a new one", mapped, m.Addr)}
	}
	return Reply{Outcome: plan.OK, Detail: "answered from the same binding"}
}
