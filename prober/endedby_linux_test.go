//go:build linux

package prober

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	whichhop "github.com/idleprobe/idleprobe/prober/hop"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// closingServer accepts connections and closes each one idle for k.
func closingServer(t *testing.T, k time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 512)
				for {
					c.SetReadDeadline(time.Now().Add(k))
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// canCapture reports whether this process may open a packet capture.
func canCapture(t *testing.T) bool {
	c, err := whichhop.Open(9)
	if err != nil {
		if !errors.Is(err, unix.EPERM) {
			t.Fatal(err)
		}
		return false
	}
	c.Close()
	return true
}

// With WhichHop, a server that closes idle connections itself is named
// the server (on loopback its FIN comes with its SYN-ACK's TTL); the
// captures are shared per port and all closed afterwards. Without the
// capability the result says why; without WhichHop there is no verdict.
func TestMeasureWhichHop(t *testing.T) {
	const k = 500 * time.Millisecond
	addr := closingServer(t, k)
	s := plan.Defaults()
	s.Min, s.Max, s.PrecisionFloor = 100*time.Millisecond, 2*time.Second, 50*time.Millisecond
	measure := func(whichHop bool) Result {
		target, err := ParseTarget("tcp://" + addr)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Measure(context.Background(), target, Options{Plan: s, Transport: TransportOptions{Timeout: time.Second}, WhichHop: whichHop})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Found || r.Mode != plan.ClosedIdle {
			t.Fatalf("found %v mode %s, want the server's close", r.Found, r.Mode)
		}
		return r
	}
	allowed := canCapture(t)
	if !allowed && os.Getenv("CI") != "" {
		t.Fatal("CI runs as root: the capture must be allowed")
	}
	// Two measurements at once share one capture on the port.
	var wg sync.WaitGroup
	rs := make([]Result, 2)
	for i := range rs {
		wg.Add(1)
		go func() { defer wg.Done(); rs[i] = measure(true) }()
	}
	wg.Wait()
	for _, r := range rs {
		e := r.EndedBy
		switch {
		case e == nil:
			t.Errorf("no ended_by with WhichHop")
		case !allowed:
			if e.By != whichhop.Unknown || e.Why == "" {
				t.Errorf("without CAP_NET_RAW: %+v, want unknown with a reason", *e)
			}
		case e.By != whichhop.Server || e.EndTTL != e.ServerTTL || e.Judged == 0 || e.Agree != e.Judged:
			t.Errorf("ended_by %+v, want the server on every judged failure", *e)
		}
		judged := 0
		for _, tr := range r.Trials {
			if tr.EndedBy != "" {
				judged++
			}
		}
		if allowed && judged == 0 {
			t.Error("no trial carries a verdict")
		}
	}
	captures.Lock()
	left := len(captures.m)
	captures.Unlock()
	if left != 0 {
		t.Errorf("%d captures left open after the measurements", left)
	}
	if allowed {
		// A capture that outlives a measurement (serve shares one per
		// port) keeps nothing of its connections: judged or not, each is
		// forgotten when it closes.
		_, p, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(p)
		held, err := acquireCapture(uint16(port))
		if err != nil {
			t.Fatal(err)
		}
		measure(true)
		if n := held.Len(); n != 0 {
			t.Errorf("the shared capture remembers %d connections after the measurement, want 0", n)
		}
		releaseCapture(uint16(port))
	}
	if r := measure(false); r.EndedBy != nil {
		t.Errorf("ended_by %+v without WhichHop", *r.EndedBy)
	}
}
