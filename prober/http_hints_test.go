package prober

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// Server hints over HTTP/1.1: the Keep-Alive header and Connection: close
// on a reuse, against Go's net/http server (nginx is in nginx_test.go).

func TestParseKeepAlive(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   Hints
	}{
		{"none", nil, Hints{}},
		{"empty", []string{""}, Hints{}},
		{"apache", []string{"timeout=5, max=100"}, Hints{KeepAliveTimeout: 5 * time.Second, KeepAliveMax: 100}},
		{"nginx", []string{"timeout=50"}, Hints{KeepAliveTimeout: 50 * time.Second}},
		{"max-only", []string{"max=7"}, Hints{KeepAliveMax: 7}},
		{"case-and-spaces", []string{"  Timeout = 5 ,\tMAX= 3  "}, Hints{KeepAliveTimeout: 5 * time.Second, KeepAliveMax: 3}},
		{"quoted", []string{`timeout="15", max=" 2 "`}, Hints{KeepAliveTimeout: 15 * time.Second, KeepAliveMax: 2}},
		{"semicolons", []string{"timeout=5; max=3"}, Hints{KeepAliveTimeout: 5 * time.Second, KeepAliveMax: 3}},
		{"two-lines", []string{"timeout=5", "max=9"}, Hints{KeepAliveTimeout: 5 * time.Second, KeepAliveMax: 9}},
		{"first-wins", []string{"timeout=5, timeout=9", "timeout=11, max=1, max=2"}, Hints{KeepAliveTimeout: 5 * time.Second, KeepAliveMax: 1}},
		{"junk-then-valid", []string{"timeout=soon, timeout=3"}, Hints{KeepAliveTimeout: 3 * time.Second}},
		{"unknown-params", []string{"foo=bar, timeout=7, baz"}, Hints{KeepAliveTimeout: 7 * time.Second}},
		{"zero", []string{"timeout=0, max=0"}, Hints{}},
		{"negative", []string{"timeout=-5, max=-1"}, Hints{}},
		{"plus-sign", []string{"timeout=+5"}, Hints{}},
		{"units", []string{"timeout=5s, max=3x"}, Hints{}},
		{"fraction", []string{"timeout=1.5"}, Hints{}},
		{"hex", []string{"timeout=0x10"}, Hints{}},
		{"largest", []string{"timeout=2147483647, max=2147483647"}, Hints{KeepAliveTimeout: 2147483647 * time.Second, KeepAliveMax: 2147483647}},
		{"too-large", []string{"timeout=2147483648, max=99999999999999999999999"}, Hints{}},
		{"no-value", []string{"timeout, max=, =4, ,,;;="}, Hints{}},
		{"empty-quotes", []string{`timeout=""`}, Hints{}},
		{"quoted-whole", []string{`"timeout=5"`}, Hints{}},
		{"utf8-junk", []string{"timeout=５, max=\xff\xfe"}, Hints{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseKeepAlive(tc.values); got != tc.want {
				t.Errorf("parseKeepAlive(%q) = %+v, want %+v", tc.values, got, tc.want)
			}
		})
	}
}

// connCount is the number of requests seen on one server connection.
type connCount struct{ n atomic.Int64 }

type connCountKey struct{}

// startCountingServer runs Go's HTTP/1.1 server; respond sets the headers
// of the n-th response on a connection (from 1).
func startCountingServer(t *testing.T, respond func(n int64, h http.Header)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := r.Context().Value(connCountKey{}).(*connCount).n.Add(1)
			respond(n, w.Header())
			io.WriteString(w, "ok")
		}),
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, connCountKey{}, new(connCount))
		},
		ErrorLog: newDiscardLogger(),
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// TestHTTPKeepAliveHints: Hints follow the Keep-Alive header of the
// latest response (Apache-style: max counts down with each request).
func TestHTTPKeepAliveHints(t *testing.T) {
	noLeaks(t)
	addr := startCountingServer(t, func(n int64, h http.Header) {
		if n == 3 {
			return // a response without the header: no hints
		}
		h.Set("Keep-Alive", fmt.Sprintf("timeout=5, max=%d", 101-n))
	})
	c := open(t, transport(t, "http://"+addr+"/", TransportOptions{}))
	if got, want := c.Hints(), (Hints{KeepAliveTimeout: 5 * time.Second, KeepAliveMax: 100}); got != want {
		t.Errorf("Hints after Open = %+v, want %+v", got, want)
	}
	for i, want := range []Hints{{KeepAliveTimeout: 5 * time.Second, KeepAliveMax: 99}, {}, {KeepAliveTimeout: 5 * time.Second, KeepAliveMax: 97}} {
		r := reuse(t, c)
		if r.Outcome != plan.OK || r.Retired {
			t.Fatalf("reuse %d = %+v, want ok, not retired", i+1, r)
		}
		if got := c.Hints(); got != want {
			t.Errorf("Hints after reuse %d = %+v, want %+v", i+1, got, want)
		}
	}
	// A tcp connection carries no hints.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	tc := open(t, transport(t, "tcp://"+ln.Addr().String(), TransportOptions{}))
	if got := tc.Hints(); got != (Hints{}) {
		t.Errorf("tcp Hints = %+v, want zero", got)
	}
}

// TestHTTPRetiredByGoServer: Go's server answers the third request on a
// connection with Connection: close (a handler retiring connections after
// N requests): the reuse that carries it is OK and Retired, and the
// connection is not reusable after it.
func TestHTTPRetiredByGoServer(t *testing.T) {
	noLeaks(t)
	addr := startCountingServer(t, func(n int64, h http.Header) {
		if n == 3 {
			h.Set("Connection", "close")
		}
	})
	c := open(t, transport(t, "http://"+addr+"/", TransportOptions{}))
	if r := reuse(t, c); r.Outcome != plan.OK || r.Retired {
		t.Fatalf("second request: %+v, want ok, not retired", r)
	}
	r := reuse(t, c)
	if r.Outcome != plan.OK || !r.Retired || !strings.Contains(r.Detail, "Connection: close") {
		t.Fatalf("third request: %+v, want ok and retired (Connection: close)", r)
	}
	if r.End.Before(r.Start) || r.Start.Before(c.Opened()) {
		t.Errorf("reply times %v..%v, opened %v", r.Start, r.End, c.Opened())
	}
	if r := reuse(t, c); r.Outcome != plan.Error {
		t.Errorf("reuse after retirement = %+v, want error", r)
	}
}

// TestHTTPOpenRetiredIsUnusable: a server that closes after every response
// still cannot be measured, whatever it advertises.
func TestHTTPOpenRetiredIsUnusable(t *testing.T) {
	noLeaks(t)
	addr := startCountingServer(t, func(n int64, h http.Header) { h.Set("Connection", "close") })
	tr := transport(t, "http://"+addr+"/", TransportOptions{})
	c, err := tr.Open(context.Background())
	if err == nil {
		c.Close()
		t.Fatal("Open succeeded against a server that closes after every response")
	}
	if !strings.Contains(err.Error(), "does not keep connections alive") {
		t.Errorf("Open error %q", err)
	}
}
