//go:build linux

package prober

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A delaying, segment-losing hop of our own (this kernel has no netem):
// two network namespaces, each with a TUN device, and a goroutine per
// direction that carries every packet from one TUN to the other after a
// one-way delay. The client's data segments can be lost one by one, one
// in every few, or all of them (a black hole), while everything else
// (ACKs, SYNs, the server's answers) keeps flowing; and the hop can
// forget flows idle for a while and black-hole what follows, as the lab's
// conntrack does in drop mode.

// The hop's addresses (TEST-NET-2, inside the namespaces only).
const (
	hopClientIP = "198.51.100.1"
	hopServerIP = "198.51.100.2"
)

// hop is a wire between two namespaces with a delay.
type hop struct {
	client, server string // namespaces
	// lose is how many of the client's next data segments are lost; -1
	// loses all of them. lost counts the losses.
	lose, lost atomic.Int64
	// loseEvery, when above 0, loses every loseEvery-th data segment of
	// each flow: single losses, never two transmissions in a row.
	loseEvery atomic.Int64
	// forget, when set before traffic starts, black-holes every flow that
	// was idle (no packet either way) that long.
	forget time.Duration
	flows  flowTable
	tun    [2]*os.File // client side, server side
	wg     sync.WaitGroup
}

// flowTable keeps, per client port, when the flow last carried a packet,
// whether it was forgotten, and how many data segments it carried.
type flowTable struct {
	mu   sync.Mutex
	last map[uint16]time.Time
	dead map[uint16]bool
	segs map[uint16]int64
}

// count counts a data segment of the flow of client port and returns how
// many it carried.
func (f *flowTable) count(port uint16) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.segs == nil {
		f.segs = map[uint16]int64{}
	}
	f.segs[port]++
	return f.segs[port]
}

// pass reports whether a packet of the flow of client port may pass at
// now, given that flows idle for forget are black holes.
func (f *flowTable) pass(port uint16, now time.Time, forget time.Duration) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		f.last, f.dead = map[uint16]time.Time{}, map[uint16]bool{}
	}
	if f.dead[port] {
		return false
	}
	if last, ok := f.last[port]; ok && now.Sub(last) >= forget {
		f.dead[port] = true
		return false
	}
	f.last[port] = now
	return true
}

// newHop builds the two namespaces and the wire between them, with a
// round trip of rtt, and tears everything down at cleanup.
func newHop(t *testing.T, rtt, forget time.Duration) *hop {
	t.Helper()
	h := &hop{client: newNetns(t), server: newNetns(t), forget: forget}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but there is no TUN device: %v", err)
		}
		t.Skipf("skipping: no TUN device (%v); set CI=1 to make this a failure", err)
	}
	h.tun[0] = openTUN(t, h.client, hopClientIP, hopServerIP)
	h.tun[1] = openTUN(t, h.server, hopServerIP, hopClientIP)
	h.wg.Add(2)
	go h.carry(h.tun[0], h.tun[1], rtt/2, true)
	go h.carry(h.tun[1], h.tun[0], rtt/2, false)
	t.Cleanup(func() {
		h.tun[0].Close()
		h.tun[1].Close()
		h.wg.Wait()
	})
	return h
}

// openTUN creates the TUN device "hop0" in ns with address self, routes
// peer through it, and returns its file (non-blocking, so that Close ends
// a pending Read).
func openTUN(t *testing.T, ns, self, peer string) *os.File {
	t.Helper()
	var (
		f   *os.File
		err error
	)
	inNetns(t, ns, func() {
		fd, oerr := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if oerr != nil {
			err = oerr
			return
		}
		ifr, _ := unix.NewIfreq("hop0")
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if ierr := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); ierr != nil {
			unix.Close(fd)
			err = ierr
			return
		}
		f = os.NewFile(uintptr(fd), "/dev/net/tun")
	})
	if err != nil {
		t.Fatalf("TUN device in %s: %v", ns, err)
	}
	run(t, "", "ip", "-n", ns, "addr", "add", self+"/32", "dev", "hop0")
	run(t, "", "ip", "-n", ns, "link", "set", "hop0", "up")
	run(t, "", "ip", "-n", ns, "route", "add", peer+"/32", "dev", "hop0")
	return f
}

// packet is one packet on the wire and when it arrives.
type packet struct {
	due  time.Time
	data []byte
}

// carry moves packets from src to dst, each delay after it was read, in
// order; from the client, data segments are lost as h.lose says.
func (h *hop) carry(src, dst *os.File, delay time.Duration, fromClient bool) {
	defer h.wg.Done()
	wire := make(chan packet, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		timer := time.NewTimer(0)
		defer timer.Stop()
		for p := range wire {
			timer.Reset(time.Until(p.due))
			<-timer.C
			if _, err := dst.Write(p.data); errors.Is(err, os.ErrClosed) {
				for range wire { // drain until the reader ends
				}
				return
			}
		}
	}()
	defer func() {
		close(wire)
		<-done
	}()
	buf := make([]byte, 65536)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if !h.passes(buf[:n], fromClient) {
			continue
		}
		select {
		case wire <- packet{due: time.Now().Add(delay), data: append([]byte(nil), buf[:n]...)}:
		default: // the wire is full: lost, as on any link
		}
	}
}

// passes reports whether packet p goes through, and counts the losses.
func (h *hop) passes(p []byte, fromClient bool) bool {
	port, ok := clientPort(p, fromClient)
	if ok && h.forget > 0 && !h.flows.pass(port, time.Now(), h.forget) {
		return false
	}
	if !fromClient || !hasPayload(p) {
		return true
	}
	every := h.loseEvery.Load()
	if h.take() || (ok && every > 0 && h.flows.count(port)%every == 0) {
		h.lost.Add(1)
		return false
	}
	return true
}

// clientPort returns the client's port of an IPv4 TCP packet.
func clientPort(p []byte, fromClient bool) (uint16, bool) {
	if len(p) < 20 || p[0]>>4 != 4 || p[9] != unix.IPPROTO_TCP {
		return 0, false
	}
	ihl := int(p[0]&0x0f) * 4
	if len(p) < ihl+4 {
		return 0, false
	}
	if fromClient {
		return binary.BigEndian.Uint16(p[ihl : ihl+2]), true // source port
	}
	return binary.BigEndian.Uint16(p[ihl+2 : ihl+4]), true
}

// take reports whether the next data segment is to be lost (h.lose).
func (h *hop) take() bool {
	for {
		n := h.lose.Load()
		switch {
		case n < 0:
			return true
		case n == 0:
			return false
		case h.lose.CompareAndSwap(n, n-1):
			return true
		}
	}
}

// hasPayload reports whether p is an IPv4 TCP segment that carries data.
func hasPayload(p []byte) bool {
	if len(p) < 20 || p[0]>>4 != 4 || p[9] != unix.IPPROTO_TCP {
		return false
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:4]))
	if len(p) < ihl+13 || total > len(p) {
		return false
	}
	doff := int(p[ihl+12]>>4) * 4
	return total-ihl-doff > 0
}
