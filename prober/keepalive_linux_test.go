//go:build linux

package prober

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// TestKeepaliveSocket: the keepalive check's connection has TCP keepalive on
// at exactly the asked settings (and no TCP_USER_TIMEOUT, so Count is
// honoured), and its probes really reach the server while it is idle.
func TestKeepaliveSocket(t *testing.T) {
	noLeaks(t)
	srvConn := make(chan *net.TCPConn, 1)
	srv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
		srvConn <- c.(*net.TCPConn)
		io.Copy(io.Discard, c)
	})
	o := TransportOptions{Timeout: time.Second}
	o.keepalive = KeepaliveCheck{Idle: time.Second, Interval: 2 * time.Second, Count: 3}.config()
	c := open(t, transport(t, "tcp://"+srv.addr, o))
	w := rawOf(t, c)
	for _, tc := range []struct {
		name       string
		level, opt int
		want       int
	}{
		{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 1},
		{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 2},
		{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 3},
		{"TCP_USER_TIMEOUT", unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, 0},
	} {
		if v := sockopt(t, w.rc, tc.level, tc.opt); v != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, v, tc.want)
		}
	}
	sc := <-srvConn
	src, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	before := settled(t, src)
	idleSince := c.IdleSince()
	// The first probe is due 1 s (TCP_KEEPIDLE) after the last traffic.
	var probeAt time.Time
	waitFor(t, 5*time.Second, "a keepalive probe to reach the server while the connection is idle", func() bool {
		st, err := readTCPInfo(src)
		if err != nil {
			t.Fatal(err)
		}
		probeAt = time.Now()
		return st.SegsIn != before.SegsIn
	})
	if idle := probeAt.Sub(idleSince); idle < 900*time.Millisecond {
		t.Errorf("the server received a segment %s into the idle period, before the first probe is due at 1s: not a keepalive probe", idle)
	}
}

// TestMeasureTrialsStayQuiet: with a keepalive check asked for, every trial
// socket still has SO_KEEPALIVE 0; only the check's one socket has it on.
func TestMeasureTrialsStayQuiet(t *testing.T) {
	noLeaks(t)
	// A server that closes idle connections after 600 ms: a quick search.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler:     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }),
		IdleTimeout: 600 * time.Millisecond,
	}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })

	var (
		mu      sync.Mutex
		quiet   int // trial sockets seen with SO_KEEPALIVE 0
		loud    int // keepalive check sockets with SO_KEEPALIVE 1
		badSock []string
	)
	newTr := func(tg Target, o TransportOptions) (Transport, error) {
		tr, err := NewTransport(tg, o)
		if err != nil {
			return nil, err
		}
		return openHook{tr, func(c Conn) {
			v := sockopt(t, rawOf(t, c).rc, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case o.keepalive == nil && v == 0:
				quiet++
			case o.keepalive != nil && v == 1:
				loud++
			default:
				badSock = append(badSock, fmt.Sprintf("check=%v SO_KEEPALIVE=%d", o.keepalive != nil, v))
			}
		}}, nil
	}
	s := plan.Defaults()
	s.Min, s.Max = 200*time.Millisecond, 3*time.Second
	tg, err := ParseTarget("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Measure(context.Background(), tg, Options{Plan: s, NewTransport: newTr,
		Keepalive: &KeepaliveCheck{Idle: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(badSock) > 0 {
		t.Errorf("sockets with the wrong SO_KEEPALIVE: %v", badSock)
	}
	if quiet == 0 || loud != 1 {
		t.Errorf("%d quiet trial sockets and %d keepalive sockets, want >0 and 1", quiet, loud)
	}
	if !r.KeepaliveChecked || r.KeepaliveRescues {
		t.Errorf("keepalive check: checked=%v rescues=%v (%s), want checked, not rescued (the server's own idle timer closes it)",
			r.KeepaliveChecked, r.KeepaliveRescues, r.KeepaliveDetail)
	}
}

// openHook calls fn with every connection its transport opens.
type openHook struct {
	Transport
	fn func(Conn)
}

func (h openHook) Open(ctx context.Context) (Conn, error) {
	c, err := h.Transport.Open(ctx)
	if err == nil {
		h.fn(c)
	}
	return c, err
}
