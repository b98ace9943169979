package prober

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	whichhop "github.com/idleprobe/idleprobe/prober/hop"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Which hop ended a connection (package hop): with Options.WhichHop, a
// packet capture on the remote port reads the TTL of the server's SYN-ACK
// and of the RST or FIN that ended each failed connection. The verdicts go
// to the trials and, for the failures at the limit, to Result.EndedBy.

// verdictWait bounds how long a verdict waits for its packet to be read:
// the packet reached the capture before the socket saw the close.
const verdictWait = 200 * time.Millisecond

// endpoints returns the connection's local and remote addresses.
func (c *watchedConn) endpoints() (local, remote netip.AddrPort, ok bool) {
	l, ok1 := c.raw.LocalAddr().(*net.TCPAddr)
	r, ok2 := c.raw.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return local, remote, false
	}
	return l.AddrPort(), r.AddrPort(), true
}

// endpointer is a connection whose packets a capture can find.
type endpointer interface {
	endpoints() (local, remote netip.AddrPort, ok bool)
}

// captures shares one capture per remote port among the measurements of
// the process (serve measures many paths to the same port at once).
var captures = struct {
	sync.Mutex
	m map[uint16]*sharedCapture
}{m: make(map[uint16]*sharedCapture)}

type sharedCapture struct {
	c    *whichhop.Capture
	refs int
}

func acquireCapture(port uint16) (*whichhop.Capture, error) {
	captures.Lock()
	defer captures.Unlock()
	if s := captures.m[port]; s != nil {
		s.refs++
		return s.c, nil
	}
	c, err := whichhop.Open(port)
	if err != nil {
		return nil, err
	}
	captures.m[port] = &sharedCapture{c: c, refs: 1}
	return c, nil
}

func releaseCapture(port uint16) {
	captures.Lock()
	defer captures.Unlock()
	s := captures.m[port]
	if s == nil {
		return
	}
	if s.refs--; s.refs == 0 {
		s.c.Close()
		delete(captures.m, port)
	}
}

// trialKey names a trial by connection and reuse number.
type trialKey struct {
	conn  plan.ConnID
	reuse int
}

// hopJudge collects the verdicts of one measurement.
type hopJudge struct {
	// err says why there is no capture (nil when there is one).
	err error

	mu       sync.Mutex
	caps     map[uint16]*whichhop.Capture
	verdicts map[trialKey]whichhop.Verdict
	// judging holds the connections whose verdict is being read: their
	// packets are forgotten by the verdict, not by forget.
	judging map[Conn]bool
	wg      sync.WaitGroup
}

// newHopJudge starts capturing on the target's port, before the first
// connection is opened (its SYN-ACK is evidence).
func newHopJudge(t Target) *hopJudge {
	j := &hopJudge{caps: make(map[uint16]*whichhop.Capture), verdicts: make(map[trialKey]whichhop.Verdict),
		judging: make(map[Conn]bool)}
	_, p, err := net.SplitHostPort(t.Address)
	if err != nil {
		j.err = err
		return j
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		j.err = err
		return j
	}
	c, err := acquireCapture(uint16(port))
	if err != nil {
		j.err = err
		return j
	}
	j.caps[uint16(port)] = c
	return j
}

// judge asks, in the background, who ended c (trial reuse of id). Black
// holes send nothing back: they are not asked about.
func (j *hopJudge) judge(id plan.ConnID, reuse int, c Conn, out plan.Outcome) {
	if j == nil || j.err != nil || !out.Failed() || out == plan.Dropped {
		return
	}
	e, ok := c.(endpointer)
	if !ok {
		return
	}
	local, remote, ok := e.endpoints()
	if !ok {
		return
	}
	j.mu.Lock()
	capture := j.caps[remote.Port()]
	if capture == nil {
		// Another port than the target's (a proxy): capture it from now on;
		// this connection's SYN-ACK was missed.
		if c, err := acquireCapture(remote.Port()); err == nil {
			j.caps[remote.Port()], capture = c, c
		}
	}
	if capture != nil {
		j.judging[c] = true
	}
	j.mu.Unlock()
	if capture == nil {
		return
	}
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		v := capture.Verdict(local, remote, verdictWait)
		capture.Forget(local, remote)
		j.mu.Lock()
		j.verdicts[trialKey{id, reuse}] = v
		delete(j.judging, c)
		j.mu.Unlock()
	}()
}

// forget drops what the capture saw of c, a connection being closed
// without a verdict (it survived, or failed without a packet to judge):
// a capture shared by a long-running serve must not fill up with them.
func (j *hopJudge) forget(c Conn) {
	if j == nil || j.err != nil {
		return
	}
	e, ok := c.(endpointer)
	if !ok {
		return
	}
	local, remote, ok := e.endpoints()
	if !ok {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if capture := j.caps[remote.Port()]; capture != nil && !j.judging[c] {
		capture.Forget(local, remote)
	}
}

// close waits for the verdicts under way and releases the captures.
func (j *hopJudge) close() {
	if j == nil {
		return
	}
	j.wg.Wait()
	j.mu.Lock()
	defer j.mu.Unlock()
	for port := range j.caps {
		releaseCapture(port)
	}
	j.caps = nil
}

// annotate writes the verdicts into r's trials and sums up the failures at
// the limit (those of the limit's mode) in r.EndedBy.
func (j *hopJudge) annotate(r *Result) {
	if j == nil || !r.Found {
		return
	}
	switch {
	case r.Mode == plan.Dropped:
		r.EndedBy = &plan.EndedBy{Verdict: whichhop.Verdict{By: whichhop.Unknown, Why: "a black hole sends no packet back"}}
		return
	case j.err != nil:
		r.EndedBy = &plan.EndedBy{Verdict: whichhop.Verdict{By: whichhop.Unknown, Why: oneLine(j.err.Error())}}
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	count := map[string]int{}
	first := map[string]whichhop.Verdict{}
	judged := 0
	for i, t := range r.Trials {
		v, ok := j.verdicts[trialKey{t.Conn, t.Reuse}]
		if !ok || !t.Outcome.Failed() {
			continue
		}
		r.Trials[i].EndedBy = v.String()
		if t.Outcome != r.Mode {
			continue
		}
		judged++
		k := fmt.Sprintf("%s/%d", v.By, v.HopsBefore)
		if count[k] == 0 {
			first[k] = v
		}
		count[k]++
	}
	if judged == 0 {
		return
	}
	best := ""
	for k, n := range count {
		if best == "" || n > count[best] || n == count[best] && k < best {
			best = k
		}
	}
	r.EndedBy = &plan.EndedBy{Verdict: first[best], Agree: count[best], Judged: judged}
}
