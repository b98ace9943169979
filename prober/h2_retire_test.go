package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// Go's HTTP/2 server retiring connections: a handler that sets
// "Connection: close" makes it send GOAWAY (NO_ERROR) with the response and
// close the connection once its streams are done. That is how a Go service
// gives its connections a maximum age (the role of gRPC's
// MaxConnectionAge or Envoy's max_connection_duration).

type acceptedKey struct{}

// startGoH2MaxAge runs Go's HTTP/2 server (h2 over TLS with cert, h2c
// without) that retires a connection with the first response after it is
// maxAge old (every response when maxAge is 0). It returns the address and
// the server.
func startGoH2MaxAge(t *testing.T, cert *tls.Certificate, maxAge time.Duration) (string, *http.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	if cert == nil {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP2(true)
	}
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if time.Since(r.Context().Value(acceptedKey{}).(time.Time)) >= maxAge {
				w.Header().Set("Connection", "close")
			}
			io.WriteString(w, "ok")
		}),
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, acceptedKey{}, time.Now())
		},
		Protocols: &p,
		ErrorLog:  newDiscardLogger(),
	}
	if cert != nil {
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
		go hs.ServeTLS(ln, "", "")
	} else {
		go hs.Serve(ln)
	}
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String(), hs
}

// TestH2RetiredByGoServer: the first reuse after the connection's maximum
// age is OK and Retired (the GOAWAY came with the response); reuses before
// it are not; the retired connection is not reused.
func TestH2RetiredByGoServer(t *testing.T) {
	const maxAge = 600 * time.Millisecond
	cert, _ := selfSigned(t, "idleprobe.test")
	for _, scheme := range []string{"h2c", "h2"} {
		t.Run(scheme, func(t *testing.T) {
			noLeaks(t)
			var crt *tls.Certificate
			if scheme == "h2" {
				crt = &cert
			}
			addr, _ := startGoH2MaxAge(t, crt, maxAge)
			c := open(t, transport(t, scheme+"://"+addr+"/", TransportOptions{InsecureSkipVerify: true}))
			if got := c.Hints(); got != (Hints{}) {
				t.Errorf("HTTP/2 Hints = %+v, want zero (no Keep-Alive in HTTP/2)", got)
			}
			if r := reuse(t, c); r.Outcome != plan.OK || r.Retired {
				t.Fatalf("reuse at age %s = %+v, want ok, not retired", time.Since(c.Opened()), r)
			}
			time.Sleep(time.Until(c.Opened().Add(maxAge + 50*time.Millisecond))) // the condition is the age
			r := reuse(t, c)
			if r.Outcome != plan.OK || !r.Retired || !strings.Contains(r.Detail, "GOAWAY (NO_ERROR)") {
				t.Fatalf("reuse at age %s = %+v, want ok and retired by GOAWAY", r.Start.Sub(c.Opened()), r)
			}
			if r := reuse(t, c); r.Outcome != plan.Error {
				t.Errorf("reuse after retirement = %+v, want error", r)
			}
		})
	}
}

// TestH2GoServerRetiresEveryResponse: a server that retires the connection
// with its first response cannot be measured.
func TestH2GoServerRetiresEveryResponse(t *testing.T) {
	noLeaks(t)
	addr, _ := startGoH2MaxAge(t, nil, 0)
	tr := transport(t, "h2c://"+addr+"/", TransportOptions{})
	c, err := tr.Open(context.Background())
	if err == nil {
		c.Close()
		t.Fatal("Open succeeded against a server that retires every connection at once")
	}
	if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), "GOAWAY") {
		t.Errorf("Open error %q, want ErrUnusable naming the GOAWAY", err)
	}
	t.Logf("Open: %v", err)
}

// TestH2ShutdownWhileIdle: Go's graceful Shutdown sends GOAWAY to an idle
// connection: that is a close seen while idle, at that moment, not a
// retirement.
func TestH2ShutdownWhileIdle(t *testing.T) {
	noLeaks(t)
	addr, hs := startGoH2MaxAge(t, nil, time.Hour)
	c := open(t, transport(t, "h2c://"+addr+"/", TransportOptions{}))
	if r := reuse(t, c); r.Outcome != plan.OK || r.Retired {
		t.Fatalf("reuse = %+v, want ok, not retired", r)
	}
	shutAt := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
	}()
	t.Cleanup(func() {
		c.Close() // Shutdown returns once the connection is gone
		<-done
	})
	waitClosed(t, c, 3*time.Second)
	at, detail := c.CloseInfo()
	if d := at.Sub(shutAt); !within(d, 0, 100*time.Millisecond) {
		t.Errorf("close seen %s after Shutdown, want within 100ms", d)
	}
	if !strings.HasPrefix(detail, "GOAWAY (NO_ERROR") {
		t.Errorf("detail %q, want GOAWAY (NO_ERROR...)", detail)
	}
	if r := reuse(t, c); r.Outcome != plan.ClosedIdle || r.Retired {
		t.Errorf("reuse after the idle GOAWAY = %+v, want closed_idle", r)
	}
}
