package prober

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/realserver"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// A real nginx on loopback (internal/realserver), for server hints:
// keepalive_requests and keepalive_time retire connections (HTTP/1.1
// Connection: close, HTTP/2 GOAWAY), and keepalive_timeout's second value
// is sent as a Keep-Alive header.

// reuseWant reuses c and checks the outcome and retirement.
func reuseWant(t *testing.T, what string, c Conn, retired bool) Reply {
	t.Helper()
	r := reuse(t, c)
	if r.Outcome != plan.OK || r.Retired != retired {
		t.Errorf("%s: %s retired=%v (%s), want ok retired=%v", what, r.Outcome, r.Retired, r.Detail, retired)
	}
	return r
}

// TestNginxKeepaliveRequests: nginx keepalive_requests 3 answers the third
// request on a connection (the second reuse) with Connection: close over
// HTTP/1.1 and with a GOAWAY over h2c: that reuse is OK and Retired.
func TestNginxKeepaliveRequests(t *testing.T) {
	noLeaks(t)
	k := realserver.NginxKeepalive{Timeout: time.Minute, Requests: 3}
	h2 := k
	h2.HTTP2 = true
	addrs := []string{realserver.StartNginx(t, k).Addr, realserver.StartNginx(t, h2).Addr}
	for i, scheme := range []string{"http", "h2c"} {
		t.Run(scheme, func(t *testing.T) {
			c := open(t, transport(t, scheme+"://"+addrs[i]+"/", TransportOptions{}))
			reuseWant(t, "request 2", c, false)
			r := reuseWant(t, "request 3", c, true)
			t.Logf("request 3: %s", r.Detail)
			if r := c.Reuse(context.Background()); r.Outcome != plan.Error {
				t.Errorf("reuse after retirement: %s (%s), want error", r.Outcome, r.Detail)
			}
			// A fresh connection starts counting again.
			c2 := open(t, transport(t, scheme+"://"+addrs[i]+"/", TransportOptions{}))
			reuseWant(t, "new connection, request 2", c2, false)
		})
	}
}

// TestNginxKeepaliveTime: nginx keepalive_time 2s retires a connection at
// the first request after it is 2 s old (a lifetime, not an idle limit),
// over HTTP/1.1 and h2c; before that, reuses are not retired.
func TestNginxKeepaliveTime(t *testing.T) {
	noLeaks(t)
	const lifetime = 2 * time.Second
	k := realserver.NginxKeepalive{Timeout: time.Minute, Time: lifetime, Requests: 1000}
	k2 := k
	k2.HTTP2 = true
	addrs := []string{realserver.StartNginx(t, k).Addr, realserver.StartNginx(t, k2).Addr}
	h1 := open(t, transport(t, "http://"+addrs[0]+"/", TransportOptions{}))
	h2 := open(t, transport(t, "h2c://"+addrs[1]+"/", TransportOptions{}))
	conns := []Conn{h1, h2}
	names := []string{"http", "h2c"}
	// At the connection ages 1.0 s and 1.6 s: not retired; from 2.2 s: retired.
	for _, step := range []struct {
		age     time.Duration
		retired bool
	}{{lifetime / 2, false}, {lifetime * 8 / 10, false}, {lifetime * 11 / 10, true}} {
		for i, c := range conns {
			if wait := time.Until(c.Opened().Add(step.age)); wait > 0 {
				time.Sleep(wait) // the condition is the connection's age
			}
			r := reuseWant(t, fmt.Sprintf("%s at age %s", names[i], step.age), c, step.retired)
			if age := r.Start.Sub(c.Opened()); step.retired && age < lifetime {
				t.Errorf("%s: retired at age %s, before keepalive_time %s", names[i], age, lifetime)
			}
			if step.retired {
				t.Logf("%s at age %s: %s", names[i], r.Start.Sub(c.Opened()).Round(time.Millisecond), r.Detail)
			}
		}
	}
}

// TestNginxKeepAliveHeader: nginx sends no Keep-Alive header by default;
// keepalive_timeout 60s 50s makes it send "Keep-Alive: timeout=50", on the
// first response and on every reuse.
func TestNginxKeepAliveHeader(t *testing.T) {
	noLeaks(t)
	addrs := []string{
		realserver.StartNginx(t, realserver.NginxKeepalive{Timeout: time.Minute, Header: 50 * time.Second}).Addr,
		realserver.StartNginx(t, realserver.NginxKeepalive{Timeout: time.Minute}).Addr,
	}
	c := open(t, transport(t, "http://"+addrs[0]+"/", TransportOptions{}))
	want := Hints{KeepAliveTimeout: 50 * time.Second}
	if got := c.Hints(); got != want {
		t.Errorf("Hints after Open = %+v, want %+v", got, want)
	}
	reuseWant(t, "reuse", c, false)
	if got := c.Hints(); got != want {
		t.Errorf("Hints after reuse = %+v, want %+v", got, want)
	}
	plain := open(t, transport(t, "http://"+addrs[1]+"/", TransportOptions{}))
	reuseWant(t, "reuse without header", plain, false)
	if got := plain.Hints(); got != (Hints{}) {
		t.Errorf("Hints without a Keep-Alive header = %+v, want zero", got)
	}
}
