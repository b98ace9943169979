package prober_test

import (
	"bufio"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Termination on real sockets: servers that answer every way but the
// textbook one. Every measurement ends within its deadline (plus the
// moment it takes to close what is open), with a status and a reason, and
// leaves no goroutine or descriptor behind.

// tcpServer accepts on loopback and runs handle for each connection until
// the test ends; it closes every connection it accepted.
func tcpServer(t *testing.T, handle func(c net.Conn, n int)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c, n)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// ended checks that a measurement ended within its deadline.
func ended(t *testing.T, r prober.Result, took time.Duration) {
	t.Helper()
	if r.Settings.Deadline <= 0 {
		t.Fatalf("no deadline in the result's settings: %+v", r.Settings)
	}
	if took > r.Settings.Deadline+time.Second {
		t.Errorf("took %s, deadline %s", took, r.Settings.Deadline)
	}
}

// A server that closes the connection as soon as any data arrives: every
// reuse fails whatever the idle time. Unusable within a few trials, with a
// line that says so and what to try.
func TestMeasureServerClosingOnData(t *testing.T) {
	checkNoLeaks(t)
	addr := tcpServer(t, func(c net.Conn, _ int) {
		buf := make([]byte, 1)
		_, _ = c.Read(buf)
		c.Close()
	})
	start := time.Now()
	r, err := prober.Measure(context.Background(), mustTarget(t, "tcp://"+addr),
		prober.Options{Plan: fastSettings(plan.Parallel, 5*time.Second)})
	ended(t, r, time.Since(start))
	if !errors.Is(err, prober.ErrUnusable) || r.Status != plan.Unusable {
		for _, tr := range r.Trials {
			t.Logf("conn %d reuse %d age %s conn age %s: %s %s", tr.Conn, tr.Reuse, tr.Age, tr.ConnAge, tr.Outcome, tr.Detail)
		}
		t.Fatalf("got %v (status %s, (%s, %s] %s), want unusable", err, r.Status, r.Lower, r.Upper, r.Mode)
	}
	if msg := err.Error(); !strings.Contains(msg, "whatever its idle time") || !strings.Contains(msg, "responder") {
		t.Errorf("error %q should say the connection is closed whatever its idle time, and what to try", msg)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("took %s to see that every reuse fails", time.Since(start))
	}
}

// A server whose idle limit is below min: found anyway.
func TestMeasureLimitBelowMin(t *testing.T) {
	checkNoLeaks(t)
	const limit = 150 * time.Millisecond
	addr := tcpServer(t, func(c net.Conn, _ int) {
		buf := make([]byte, 64)
		for {
			_ = c.SetReadDeadline(time.Now().Add(limit))
			if _, err := c.Read(buf); err != nil {
				c.Close()
				return
			}
		}
	})
	s := fastSettings(plan.Parallel, 3*time.Second)
	s.Min, s.PrecisionFloor = time.Second, 20*time.Millisecond
	start := time.Now()
	r, err := prober.Measure(context.Background(), mustTarget(t, "tcp://"+addr), prober.Options{Plan: s})
	ended(t, r, time.Since(start))
	if err != nil {
		t.Fatalf("%v: %+v", err, r)
	}
	if !r.Found || r.Lower >= limit || r.Upper < limit-5*time.Millisecond || r.Mode != plan.ClosedIdle {
		t.Errorf("got (%s, %s] %s, want a close at %s", r.Lower, r.Upper, r.Mode, limit)
	}
}

// A server that resets about half of the connections on a reuse, at any
// idle time: the search either settles with its disagreements counted or
// ends inconclusive by the deadline; never later, never without a reason.
func TestMeasureFlappingServerEndsByDeadline(t *testing.T) {
	checkNoLeaks(t)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(7, 11))
	addr := tcpServer(t, func(c net.Conn, _ int) {
		buf := make([]byte, 64)
		for {
			if _, err := c.Read(buf); err != nil {
				c.Close()
				return
			}
			mu.Lock()
			flip := rng.IntN(2) == 0
			mu.Unlock()
			if flip {
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // RST
				}
				c.Close()
				return
			}
		}
	})
	s := fastSettings(plan.Parallel, 2*time.Second)
	s.Deadline = 4 * time.Second
	start := time.Now()
	r, err := prober.Measure(context.Background(), mustTarget(t, "tcp://"+addr), prober.Options{Plan: s})
	took := time.Since(start)
	ended(t, r, took)
	t.Logf("status %s (%s), err %v, (%s, %s], %d trials, %d disagree, took %s", r.Status, r.Reason, err, r.Lower, r.Upper, len(r.Trials), r.Disagree, took)
	switch r.Status {
	case plan.Measured:
		if err != nil {
			t.Errorf("measured with an error: %v", err)
		}
	case plan.Inconclusive:
		if !errors.Is(err, prober.ErrInconclusive) || !strings.Contains(err.Error(), "so far") {
			t.Errorf("inconclusive with error %v, want ErrInconclusive with the evidence", err)
		}
	case plan.Unusable:
		if !errors.Is(err, prober.ErrUnusable) {
			t.Errorf("unusable with error %v", err)
		}
	default:
		t.Errorf("status %q", r.Status)
	}
}

// A reuse under way when the deadline comes is cancelled: a server that
// acknowledges but never answers holds a reuse for the whole trial
// timeout, and the measurement still ends at its deadline.
func TestMeasureDeadlineCancelsReuse(t *testing.T) {
	checkNoLeaks(t)
	addr := tcpServer(t, func(c net.Conn, _ int) {
		r := bufio.NewReader(c)
		for {
			if _, err := r.ReadByte(); err != nil {
				c.Close()
				return
			}
		}
	})
	s := fastSettings(plan.Parallel, time.Second)
	s.Deadline = 1500 * time.Millisecond
	start := time.Now()
	r, err := prober.Measure(context.Background(), mustTarget(t, "tcp://"+addr), prober.Options{
		Plan:      s,
		Transport: prober.TransportOptions{Timeout: 30 * time.Second, Send: []byte("PING\r\n"), Expect: []byte("+PONG")},
	})
	took := time.Since(start)
	if took > s.Deadline+time.Second {
		t.Errorf("took %s with a deadline of %s: the hanging reuse was not cancelled", took, s.Deadline)
	}
	if err == nil || r.Status == plan.Measured {
		t.Errorf("a server that never answers measured: status %s, err %v", r.Status, err)
	}
}
