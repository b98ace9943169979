//go:build linux

package hop

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// maxFlows bounds the connections a capture remembers: a measurement opens
// at most its budget of connections, and forgets each one it closes.
const maxFlows = 1 << 16

// snapLen is how much of each packet is read: the largest IPv4 header with
// options, or the IPv6 fixed header, and the TCP flags.
const snapLen = 128

// Capture reads, for one remote port, the SYN-ACK, FIN and RST packets
// that reach this host, and remembers them per connection until Forget.
// It needs CAP_NET_RAW. It captures in the network namespace of the
// thread that opened it.
type Capture struct {
	port uint16
	f    *os.File
	rc   syscall.RawConn
	done chan struct{}

	mu      sync.Mutex
	flows   map[flow]*record
	changed chan struct{} // closed and replaced when a packet is recorded
	dropped int
}

// record is what was seen of one connection.
type record struct {
	synack, end      Packet
	synSeen, endSeen bool
}

// Open starts capturing the TCP packets that come from remotePort. The
// error says when the capture is not allowed (no CAP_NET_RAW).
func Open(remotePort uint16) (*Capture, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("capture packets: %w (it needs CAP_NET_RAW)", err)
		}
		return nil, fmt.Errorf("capture packets: %w", err)
	}
	if err := attach(fd, remotePort); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "packet capture")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("capture packets: %w", err)
	}
	c := &Capture{port: remotePort, f: f, rc: rc, done: make(chan struct{}),
		flows: make(map[flow]*record), changed: make(chan struct{})}
	go c.run()
	return c, nil
}

// attach puts the filter on the socket.
func attach(fd int, remotePort uint16) error {
	raw, err := bpf.Assemble(filter(remotePort))
	if err != nil {
		return fmt.Errorf("capture filter: %w", err)
	}
	prog := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("capture filter: %w", err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// run reads packets until Close.
func (c *Capture) run() {
	defer close(c.done)
	buf := make([]byte, snapLen)
	for {
		var (
			n    int
			from unix.Sockaddr
			rerr error
		)
		err := c.rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return // closed
		}
		if rerr != nil {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // our own copy of a packet we sent (loopback)
		}
		h, ok := parse(buf[:n])
		if !ok || h.sport != c.port {
			continue // let through before the filter was attached
		}
		c.note(h, time.Now())
	}
}

// note records one packet.
func (c *Capture) note(h header, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := flow{local: netip.AddrPortFrom(h.dst, h.dport), remote: netip.AddrPortFrom(h.src, h.sport)}
	r := c.flows[k]
	if r == nil && h.flags&(FlagSYN|FlagACK) != FlagSYN|FlagACK {
		// Only a SYN-ACK starts a record: a FIN or RST of a connection the
		// capture did not see open (or was told to forget, and whose last
		// packets come after) has nothing to be compared with.
		return
	}
	if r == nil {
		if len(c.flows) >= maxFlows {
			c.dropped++
			return
		}
		r = &record{}
		c.flows[k] = r
	}
	p := Packet{TTL: h.ttl, Flags: h.flags, At: at}
	switch {
	case h.flags&(FlagSYN|FlagACK) == FlagSYN|FlagACK:
		if !r.synSeen {
			r.synack, r.synSeen = p, true
		}
	case h.flags&(FlagFIN|FlagRST) != 0:
		if !r.endSeen {
			r.end, r.endSeen = p, true
		}
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

// Verdict says who ended the connection from local to remote, waiting up
// to wait for its ending packet to be read (it is on its way to the
// capture when the connection sees the close).
func (c *Capture) Verdict(local, remote netip.AddrPort, wait time.Duration) Verdict {
	k := flow{local: unmap(local), remote: unmap(remote)}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		c.mu.Lock()
		r, ch := c.flows[k], c.changed
		var rec record
		if r != nil {
			rec = *r
		}
		c.mu.Unlock()
		if rec.endSeen {
			return Judge(rec.synack, rec.synSeen, rec.end, true)
		}
		select {
		case <-ch:
		case <-timer.C:
			return Judge(rec.synack, rec.synSeen, rec.end, false)
		case <-c.done:
			return Verdict{By: Unknown, Why: "the capture was closed"}
		}
	}
}

// Forget drops what was seen of one connection.
func (c *Capture) Forget(local, remote netip.AddrPort) {
	c.mu.Lock()
	delete(c.flows, flow{local: unmap(local), remote: unmap(remote)})
	c.mu.Unlock()
}

// Len is how many connections the capture remembers.
func (c *Capture) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.flows)
}

// Close stops the capture and waits for its reader to end.
func (c *Capture) Close() error {
	err := c.f.Close()
	<-c.done
	return err
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
