package prober_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// TestMeasureH2CThroughResettingMiddlebox: h2c to the responder through a
// middlebox that forgets idle flows: a reuse (a request on a new stream) finds its timeout.
func TestMeasureH2CThroughResettingMiddlebox(t *testing.T) {
	checkNoLeaks(t)
	r := measureThroughReset(t, startResponder(t).HTTPAddr(), "h2c://MB/", plan.Parallel, prober.TransportOptions{})
	for _, tr := range r.Trials {
		if tr.Outcome == plan.OK && tr.Detail != "200 OK" {
			t.Errorf("ok trial with detail %q, want 200 OK", tr.Detail)
		}
	}
}

// TestMeasureH2CServerIdleClose: Go's h2c server ends idle connections
// with a GOAWAY at its IdleTimeout (and closes a second later): the limit
// is the GOAWAY's moment, found without a search.
func TestMeasureH2CServerIdleClose(t *testing.T) {
	checkNoLeaks(t)
	const K = 800 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{
		Handler:     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }),
		Protocols:   &p,
		IdleTimeout: K,
	}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })

	r, err := prober.Measure(context.Background(), mustTarget(t, "h2c://"+ln.Addr().String()+"/"),
		prober.Options{Plan: fastSettings(plan.Parallel, 5*time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != plan.ClosedIdle {
		t.Fatalf("mode %q, want closed_idle", r.Mode)
	}
	const early = prober.StampLag
	if d := r.CloseAge - K; d < -early || d > 50*time.Millisecond {
		t.Errorf("close seen at %s idle, want %s (-%s, +50ms): the GOAWAY, not the close a second later", r.CloseAge, K, early)
	}
	if r.Duration() > 2*K+time.Second {
		t.Errorf("took %s, want about %s", r.Duration(), K)
	}
}
