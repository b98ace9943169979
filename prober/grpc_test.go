package prober

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// gRPC tests against grpc-go's own server on loopback.

// goGRPC is a running grpc-go server.
type goGRPC struct {
	addr string
	read *atomic.Int64 // bytes the server read from all its connections
}

// startGoGRPC runs a grpc-go server with the health service (unless
// noHealth): "" and "svc" SERVING, "down" NOT_SERVING. With cert it
// serves TLS.
func startGoGRPC(t *testing.T, cert *tls.Certificate, noHealth bool, opts ...grpc.ServerOption) *goGRPC {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &goGRPC{addr: ln.Addr().String(), read: new(atomic.Int64)}
	if cert != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{*cert}})))
	}
	srv := grpc.NewServer(opts...)
	if !noHealth {
		h := health.NewServer()
		h.SetServingStatus("svc", grpc_health_v1.HealthCheckResponse_SERVING)
		h.SetServingStatus("down", grpc_health_v1.HealthCheckResponse_NOT_SERVING)
		grpc_health_v1.RegisterHealthServer(srv, h)
	}
	go srv.Serve(countingListener{Listener: ln, n: s.read})
	t.Cleanup(srv.Stop)
	return s
}

// TestGRPCHealth: grpc and grpcs against grpc-go: health checks on new
// streams, silent idle periods (the server reads nothing while idle).
func TestGRPCHealth(t *testing.T) {
	cert, _ := selfSigned(t, "idleprobe.test")
	for _, tc := range []struct {
		scheme, service, want string
	}{
		{"grpc", "", "SERVING"},
		{"grpcs", "svc", "SERVING"},
		{"grpc", "down", "NOT_SERVING"},
	} {
		t.Run(tc.scheme+"-"+tc.service, func(t *testing.T) {
			noLeaks(t)
			var c *tls.Certificate
			if tc.scheme == "grpcs" {
				c = &cert
			}
			srv := startGoGRPC(t, c, false)
			conn := open(t, transport(t, tc.scheme+"://"+srv.addr, TransportOptions{InsecureSkipVerify: true, GRPCService: tc.service}))
			for i := range 3 {
				idleSilently(t, srv.read)
				r := reuse(t, conn)
				if r.Outcome != plan.OK || r.Detail != tc.want || r.Retired {
					t.Fatalf("reuse %d: %+v, want ok %s", i+1, r, tc.want)
				}
			}
		})
	}
}

// TestGRPCUnusable: a target that cannot answer the health check fails
// Open with one line wrapping ErrUnusable.
func TestGRPCUnusable(t *testing.T) {
	srv := startGoGRPC(t, nil, false)
	bare := startGoGRPC(t, nil, true)
	h2 := startGoH2(t, nil, 0, false, 0)
	for _, tc := range []struct{ name, url, service, want string }{
		{"unknown-service", "grpc://" + srv.addr, "nope", `does not know service "nope" (grpc-status 5 NotFound`},
		{"no-health-service", "grpc://" + bare.addr, "", "has no grpc.health.v1.Health service"},
		{"plain-http2", "grpc://" + h2.addr, "", "content-type"},
		{"tls-to-plain", "grpcs://" + srv.addr, "", "TLS handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := transport(t, tc.url, TransportOptions{Timeout: time.Second, InsecureSkipVerify: true, GRPCService: tc.service})
			openUnusableClean(t, tr, tc.want)
		})
	}
}

// FuzzGRPCAnswer: any response fields, trailers and body give a status or
// an error, never a panic, and always one line.
func FuzzGRPCAnswer(f *testing.F) {
	f.Add("200 OK", "application/grpc", "0", "", []byte{0, 0, 0, 0, 2, 8, 1}, true)
	f.Add("200 OK", "application/grpc", "5", "unknown%20service", []byte{}, false)
	f.Add("200 OK", "application/grpc+proto", "0", "", []byte{0, 0, 0, 0, 2, 8, 3}, true)
	f.Add("404 Not Found", "text/plain", "", "", []byte("x"), false)
	f.Fuzz(func(t *testing.T, status, ct, gs, gm string, body []byte, trailers bool) {
		fields := []hpack.HeaderField{{Name: "content-type", Value: ct}}
		st := []hpack.HeaderField{{Name: "grpc-status", Value: gs}, {Name: "grpc-message", Value: gm}}
		var tr []hpack.HeaderField
		if trailers {
			tr = st
		} else {
			fields = append(fields, st...)
		}
		s, err := parseGRPCAnswer(status, fields, tr, body)
		if err == nil && s == "" {
			t.Fatal("no status and no error")
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("error %q is not one line", err)
		}
	})
}

// TestMeasureGRPCMaxConnectionIdle: grpc-go's MaxConnectionIdle sends a
// GOAWAY when a connection had no call for that long: the limit is the
// GOAWAY's moment, found without a search, on the idle clock.
func TestMeasureGRPCMaxConnectionIdle(t *testing.T) {
	noLeaks(t)
	const K = time.Second
	srv := startGoGRPC(t, nil, false, grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: K}))
	s := plan.Defaults()
	s.Min, s.Max = 200*time.Millisecond, 5*time.Second
	r, err := Measure(context.Background(), Target{Scheme: "grpc", Address: srv.addr, URL: mustURL(t, "grpc://"+srv.addr)},
		Options{Plan: s, Transport: TransportOptions{Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	// The server's idle clock starts when it wrote the trailers, the
	// client's when it read them: on an idle machine within 2 ms, but a
	// reader starved under -race on a loaded machine lagged 157 ms once.
	// Too early a close still fails; so does the close a second later.
	const early = 200 * time.Millisecond
	if r.Mode != plan.ClosedIdle || r.Kind != plan.Idle || !r.Found || r.Lower >= K || r.Upper < K-early {
		t.Fatalf("(%s, %s] mode %s kind %s, want closed_idle, idle, holding %s", r.Lower, r.Upper, r.Mode, r.Kind, K)
	}
	if d := r.CloseAge - K; d < -early || d > 100*time.Millisecond {
		t.Errorf("close seen at %s idle, want %s", r.CloseAge, K)
	}
	var detail string
	for _, tr := range r.Trials {
		if tr.Outcome == plan.ClosedIdle {
			detail = tr.Detail
		}
	}
	if !strings.Contains(detail, "GOAWAY") {
		t.Errorf("close detail %q, want the GOAWAY", detail)
	}
	t.Logf("grpc MaxConnectionIdle %s: (%s, %s] close at %s (%s), in %s", K, r.Lower, r.Upper, r.CloseAge, detail, r.Duration())
}

// TestGRPCMaxConnectionAge: grpc-go's MaxConnectionAge sends a GOAWAY
// ("max_age") when a connection is that old (within +-10 %, grpc-go's
// jitter), idle or not: the transport sees it while idle, at that
// connection age, not at that idle age. (Telling the lifetime from an idle
// limit is the planner's, from the two clocks of every trial.)
func TestGRPCMaxConnectionAge(t *testing.T) {
	noLeaks(t)
	const A = time.Second
	srv := startGoGRPC(t, nil, false, grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: A, MaxConnectionAgeGrace: time.Hour}))
	conn := open(t, transport(t, "grpc://"+srv.addr, TransportOptions{}))
	waitFor(t, 2*time.Second, "the connection to be 400ms old", func() bool { return time.Since(conn.Opened()) >= 400*time.Millisecond })
	if r := reuse(t, conn); r.Outcome != plan.OK {
		t.Fatalf("reuse: %+v", r)
	}
	waitClosed(t, conn, 3*time.Second)
	at, detail := conn.CloseInfo()
	if age := at.Sub(conn.Opened()); age < A-A/10-20*time.Millisecond || age > A+A/10+100*time.Millisecond {
		t.Errorf("closed at connection age %s, want %s +-10%%", age, A)
	}
	if idle := at.Sub(conn.IdleSince()); idle > A-300*time.Millisecond {
		t.Errorf("closed at idle age %s: the close should follow the connection's age, not its idle time", idle)
	}
	if !strings.Contains(detail, `GOAWAY (NO_ERROR: "max_age")`) {
		t.Errorf("detail %q, want the max_age GOAWAY", detail)
	}
}

// TestMeasureGRPCMaxConnectionAge: grpc-go's MaxConnectionAge closes
// connections at an age jittered by 10 % either way, which read on the
// closes' ages alone could pass for an idle limit; its GOAWAY says
// "max_age", and the measurement reports a lifetime holding A.
func TestMeasureGRPCMaxConnectionAge(t *testing.T) {
	noLeaks(t)
	const A = 1500 * time.Millisecond
	srv := startGoGRPC(t, nil, false, grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: A, MaxConnectionAgeGrace: time.Hour}))
	s := plan.Defaults()
	s.Min, s.Max, s.PrecisionFloor = 200*time.Millisecond, 4*time.Second, 50*time.Millisecond
	r, err := Measure(context.Background(), Target{Scheme: "grpc", Address: srv.addr, URL: mustURL(t, "grpc://"+srv.addr)},
		Options{Plan: s, Transport: TransportOptions{Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != plan.Lifetime || !r.Found || r.Lower >= A+A/10 || r.Upper < A-A/10-50*time.Millisecond {
		t.Fatalf("(%s, %s] mode %s kind %s, want a lifetime within %s +-10%%", r.Lower, r.Upper, r.Mode, r.Kind, A)
	}
	named := 0
	for _, tr := range r.Trials {
		if tr.Clock == plan.Lifetime {
			named++
		}
	}
	if named == 0 {
		t.Error("no close carries the clock the GOAWAY named")
	}
	t.Logf("grpc MaxConnectionAge %s: lifetime (%s, %s] mode %s in %s", A, r.Lower, r.Upper, r.Mode, r.Duration())
}
