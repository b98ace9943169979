package middlebox

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// UDPNAT is a userspace UDP NAT: each client address gets its own upstream
// socket (a mapping with its own port), forgotten once it has carried no
// datagram in either direction for Timeout. Like the kernel, expiry is
// decided when the next datagram arrives: one from the server to a
// forgotten mapping is dropped; one from the client makes a new mapping,
// on a new port.
type UDPNAT struct {
	pc       *net.UDPConn
	upstream *net.UDPAddr
	timeout  time.Duration
	log      *slog.Logger
	wg       sync.WaitGroup

	mu       sync.Mutex
	mappings map[netip.AddrPort]*mapping
	received map[netip.AddrPort]int
	closed   bool
}

type mapping struct {
	client netip.AddrPort
	up     *net.UDPConn
	last   time.Time
	gone   bool
}

// StartUDPNAT listens on listen ("127.0.0.1:0" when empty) and forwards to
// upstream until Close.
func StartUDPNAT(listen, upstream string, timeout time.Duration, log *slog.Logger) (*UDPNAT, error) {
	if timeout <= 0 {
		return nil, errors.New("middlebox: timeout must be positive")
	}
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	la, err := net.ResolveUDPAddr("udp", listen)
	if err != nil {
		return nil, fmt.Errorf("middlebox: listen address: %w", err)
	}
	ua, err := net.ResolveUDPAddr("udp", upstream)
	if err != nil {
		return nil, fmt.Errorf("middlebox: upstream: %w", err)
	}
	pc, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, fmt.Errorf("middlebox: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &UDPNAT{pc: pc, upstream: ua, timeout: timeout, log: log, mappings: make(map[netip.AddrPort]*mapping), received: make(map[netip.AddrPort]int)}
	n.wg.Add(1)
	go n.fromClients()
	return n, nil
}

// Addr is the address clients send to.
func (n *UDPNAT) Addr() net.Addr { return n.pc.LocalAddr() }

// Received counts the datagrams a client address has sent through the NAT
// (tests use it to prove that a socket stayed silent).
func (n *UDPNAT) Received(client netip.AddrPort) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.received[client]
}

// Close stops the NAT and releases every mapping.
func (n *UDPNAT) Close() error {
	n.mu.Lock()
	n.closed = true
	for _, m := range n.mappings {
		m.up.Close()
	}
	n.mu.Unlock()
	err := n.pc.Close()
	n.wg.Wait()
	return err
}

// fromClients forwards client datagrams, making mappings as needed.
func (n *UDPNAT) fromClients() {
	defer n.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		sz, from, err := n.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		m := n.mappingFor(from, time.Now())
		if m == nil {
			continue
		}
		_, _ = m.up.Write(buf[:sz])
	}
}

// mappingFor returns from's live mapping, refreshed, or a new one.
func (n *UDPNAT) mappingFor(from netip.AddrPort, now time.Time) *mapping {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.received[from]++
	if m := n.mappings[from]; m != nil {
		if now.Sub(m.last) < n.timeout {
			m.last = now
			return m
		}
		n.forgetLocked(m)
	}
	up, err := net.DialUDP("udp", nil, n.upstream)
	if err != nil {
		return nil
	}
	m := &mapping{client: from, up: up, last: now}
	n.mappings[from] = m
	n.log.Debug("udp mapping", "client", from.String(), "port", up.LocalAddr().String())
	n.wg.Add(1)
	go n.fromServer(m)
	return m
}

// forgetLocked drops m; its upstream socket closes, so the server's next
// datagram to that port finds nothing.
func (n *UDPNAT) forgetLocked(m *mapping) {
	if !m.gone {
		m.gone = true
		m.up.Close()
		delete(n.mappings, m.client)
	}
}

// fromServer forwards the server's datagrams on m to its client, unless
// the mapping has expired.
func (n *UDPNAT) fromServer(m *mapping) {
	defer n.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		sz, err := m.up.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		now := time.Now()
		n.mu.Lock()
		live := !m.gone && now.Sub(m.last) < n.timeout
		if live {
			m.last = now
		} else {
			n.forgetLocked(m)
		}
		n.mu.Unlock()
		if !live {
			return
		}
		_, _ = n.pc.WriteToUDPAddrPort(buf[:sz], m.client)
	}
}
