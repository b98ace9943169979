package prober_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/middlebox"
	"github.com/idleprobe/idleprobe/internal/responder"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// pushPath starts the responder's push service behind the userspace
// middlebox that forgets a flow idle for T, and returns the middlebox.
func pushPath(t *testing.T, T time.Duration, mode middlebox.Mode) net.Addr {
	t.Helper()
	rs, err := responder.StartPush(context.Background(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	return startMiddlebox(t, rs.Addr(), T, mode)
}

func pushTransport(t *testing.T, addr string, timeout time.Duration) prober.Transport {
	t.Helper()
	tr, err := prober.NewTransport(mustTarget(t, "tcp://"+addr), prober.TransportOptions{Timeout: timeout, Direction: prober.DirectionServer})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// Through a hop that forgets idle flows, the server's bytes arrive while
// the hop holds the flow; after it forgot it, they go nowhere and the
// client, which sends nothing, sees nothing: dropped, within the timeout.
func TestPushServerDirection(t *testing.T) {
	t.Parallel()
	const T = 300 * time.Millisecond
	for _, mode := range []middlebox.Mode{middlebox.Reset, middlebox.Drop} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			mb := pushPath(t, T, mode)
			c, err := pushTransport(t, mb.String(), 400*time.Millisecond).Open(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			waitIdle(T / 3)
			if r := c.Reuse(context.Background()); r.Outcome != plan.OK {
				t.Fatalf("push after %s idle: %s (%s), want ok", T/3, r.Outcome, r.Detail)
			}
			waitIdle(T + 100*time.Millisecond)
			r := c.Reuse(context.Background())
			if r.Outcome != plan.Dropped {
				t.Errorf("push after %s idle: %s (%s), want dropped", T+100*time.Millisecond, r.Outcome, r.Detail)
			}
			if d := r.End.Sub(r.Start); d > time.Second {
				t.Errorf("the dropped trial took %s, past its 400ms timeout", d)
			}
		})
	}
}

// A whole measurement in the server direction finds the hop's timeout.
func TestPushMeasure(t *testing.T) {
	t.Parallel()
	const T = time.Second
	mb := pushPath(t, T, middlebox.Reset)
	r, err := measureReal(t, "tcp://"+mb.String(), realSettings(3*time.Second, 0),
		prober.TransportOptions{Timeout: 500 * time.Millisecond, Direction: prober.DirectionServer})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Found || r.Lower >= T || r.Upper < T || r.Mode != plan.Dropped {
		t.Errorf("bracket (%s, %s] mode %s, want one holding %s, dropped", r.Lower, r.Upper, r.Mode, T)
	}
}

// Against something that is not the push service (the TCP echo), the
// target is unusable, in one line that names the flag to fix it.
func TestPushNotAResponder(t *testing.T) {
	t.Parallel()
	rs, err := responder.Start(context.Background(), responder.Config{TCPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Shutdown(context.Background()) })
	_, err = pushTransport(t, rs.TCPAddr().String(), 300*time.Millisecond).Open(context.Background())
	if err == nil {
		t.Fatal("open succeeded against a TCP echo")
	}
	if !errors.Is(err, prober.ErrUnusable) || !strings.Contains(err.Error(), "--push.listen-address") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q: want one line, ErrUnusable, naming --push.listen-address", err)
	}
}

// The server direction is refused for schemes without it, naming the
// valid ones.
func TestDirectionRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ target, dir, want string }{
		{"http://127.0.0.1:1/", prober.DirectionServer, "the server direction needs tcp or udp"},
		{"tcp://127.0.0.1:1", "sideways", `direction "sideways" is not valid (valid: client, server)`},
	} {
		_, err := prober.NewTransport(mustTarget(t, tc.target), prober.TransportOptions{Direction: tc.dir})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: error %v, want %q", tc.target, tc.dir, err, tc.want)
		}
	}
}
