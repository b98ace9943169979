package prober

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/idleprobe/idleprobe/internal/middlebox"
	"github.com/idleprobe/idleprobe/internal/responder"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// The ping check (KeepaliveCheck.Ping) on loopback: real servers behind
// the userspace middlebox, which forgets flows idle for T and resets them.
// Pings carry bytes, so the middlebox sees them: when the server accepts
// them, they keep the path alive.

// pingCheck measures target (a server behind a middlebox with limit T)
// with a ping check every interval.
func pingCheck(t *testing.T, scheme, upstream string, T, interval time.Duration, o TransportOptions) Result {
	t.Helper()
	mb, err := middlebox.New(context.Background(), middlebox.Config{Upstream: upstream, Timeout: T, Mode: middlebox.Reset})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mb.Close() })
	tg, err := ParseTarget(scheme + "://" + mb.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := plan.Defaults()
	s.Min, s.Max = 200*time.Millisecond, 4*time.Second
	o.Timeout = 2 * time.Second
	r, err := Measure(context.Background(), tg, Options{Plan: s, Transport: o, Keepalive: &KeepaliveCheck{Ping: true, Interval: interval}})
	if err != nil {
		t.Fatal(err)
	}
	// The userspace middlebox's timer may fire a little late on a loaded
	// machine: the check's question needs a limit near T, not a tight one.
	if !r.Found || r.Mode != plan.Reset || r.Lower >= T+T/10 || r.Upper < T-T/20 {
		t.Fatalf("search: (%s, %s] %s, want a reset bracket around %s", r.Lower, r.Upper, r.Mode, T)
	}
	if r.KeepaliveIdle != interval || r.KeepaliveInterval != interval || r.KeepaliveCount != 0 {
		t.Errorf("recorded settings %s/%s/%d, want %s/%s/0", r.KeepaliveIdle, r.KeepaliveInterval, r.KeepaliveCount, interval, interval)
	}
	t.Logf("%s: (%s, %s] %s; ping every %s: checked=%v rescues=%v held %s: %s", scheme, r.Lower, r.Upper, r.Mode,
		interval, r.KeepaliveChecked, r.KeepaliveRescues, r.KeepaliveHeld, r.KeepaliveDetail)
	return r
}

// TestWSPingRescues: WebSocket pings every 500 ms keep a 1 s path alive,
// and they are the only thing the server hears while idle.
func TestWSPingRescues(t *testing.T) {
	noLeaks(t)
	const T = time.Second
	srv := startGoWS(t, nil, 0)
	r := pingCheck(t, "ws", srv.addr, T, 500*time.Millisecond, TransportOptions{})
	if !r.KeepaliveChecked || !r.KeepaliveRescues || !strings.Contains(r.KeepaliveDetail, "safe ping interval is from 500ms up to below") {
		t.Fatalf("ping check: checked=%v rescues=%v (%s), want rescued with the safe range", r.KeepaliveChecked, r.KeepaliveRescues, r.KeepaliveDetail)
	}
	if r.KeepaliveHeld < T+T/2 {
		t.Errorf("held %s, want past 1.5 x the limit", r.KeepaliveHeld)
	}
	// Only the check's connection pinged: about one ping per interval held.
	if n, want := srv.pings.Load(), int64(r.KeepaliveHeld/(500*time.Millisecond)); n < want-1 || n > want+1 {
		t.Errorf("the server saw %d pings, want about %d (the check's only)", n, want)
	}
}

// TestGRPCPingBand: HTTP/2 PINGs every 500 ms against grpc-go behind a 1 s
// path: refused (GOAWAY too_many_pings) when the server's minimum ping
// interval is 2 s, a rescue when it is 100 ms; and against the responder.
func TestGRPCPingBand(t *testing.T) {
	const T, every = time.Second, 500 * time.Millisecond
	t.Run("min-2s-refused", func(t *testing.T) {
		noLeaks(t)
		srv := startGoGRPC(t, nil, false, grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 2 * time.Second, PermitWithoutStream: true}))
		r := pingCheck(t, "grpc", srv.addr, T, every, TransportOptions{})
		if !r.KeepaliveChecked || r.KeepaliveRescues || !strings.Contains(r.KeepaliveDetail, "the server refused a ping every 500ms") ||
			!strings.Contains(r.KeepaliveDetail, "too_many_pings") {
			t.Fatalf("ping check: checked=%v rescues=%v (%s), want refused with too_many_pings", r.KeepaliveChecked, r.KeepaliveRescues, r.KeepaliveDetail)
		}
		// grpc-go counts the second, third and fourth ping as strikes and
		// ends the connection at the fourth.
		if r.KeepaliveHeld < 4*every-50*time.Millisecond || r.KeepaliveHeld > 4*every+300*time.Millisecond {
			t.Errorf("refused after %s, want at the fourth ping (%s)", r.KeepaliveHeld, 4*every)
		}
	})
	t.Run("min-100ms-rescues", func(t *testing.T) {
		noLeaks(t)
		srv := startGoGRPC(t, nil, false, grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 100 * time.Millisecond, PermitWithoutStream: true}))
		r := pingCheck(t, "grpc", srv.addr, T, every, TransportOptions{})
		if !r.KeepaliveChecked || !r.KeepaliveRescues || r.KeepaliveDetail == "" || !strings.Contains(r.KeepaliveDetail, "SERVING") {
			t.Fatalf("ping check: checked=%v rescues=%v (%s), want rescued", r.KeepaliveChecked, r.KeepaliveRescues, r.KeepaliveDetail)
		}
	})
	t.Run("responder", func(t *testing.T) {
		noLeaks(t)
		srv, err := responder.Start(context.Background(), responder.Config{HTTPAddr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
		r := pingCheck(t, "grpc", srv.HTTPAddr().String(), T, every, TransportOptions{GRPCService: responder.GRPCService})
		if !r.KeepaliveChecked || !r.KeepaliveRescues {
			t.Fatalf("ping check: checked=%v rescues=%v (%s), want rescued", r.KeepaliveChecked, r.KeepaliveRescues, r.KeepaliveDetail)
		}
	})
}

// TestPingCheckSettings: a ping check needs a positive interval, takes no
// count, and only targets with a protocol ping.
func TestPingCheckSettings(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		k            KeepaliveCheck
		want         string
	}{
		{"no-interval", "ws://h/", KeepaliveCheck{Ping: true}, "ping interval: 0s must be positive"},
		{"count", "grpc://h:1", KeepaliveCheck{Ping: true, Interval: time.Second, Count: 3}, "count 3 does not apply to pings"},
		{"http", "http://h/", KeepaliveCheck{Ping: true, Interval: time.Second}, "ping check: http:// has no protocol ping (only ws, wss, grpc, grpcs do"},
		{"sub-second-ok", "wss://h/", KeepaliveCheck{Ping: true, Interval: 300 * time.Millisecond}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := ParseTarget(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			err = tc.k.Validate()
			if err == nil {
				err = checkPingScheme(&tc.k, tg)
			}
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
