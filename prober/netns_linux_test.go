//go:build linux

package prober

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/idleprobe/idleprobe/prober/plan"
)

var netnsSeq atomic.Int32

// newNetns creates a network namespace with only loopback up and removes
// it at cleanup. Without root (and outside CI) the test is skipped.
func newNetns(t *testing.T) string {
	t.Helper()
	need := func(why string) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %s", why)
		}
		t.Skipf("skipping: %s (black-hole tests need root, iproute2 and nftables; set CI=1 to make this a failure)", why)
	}
	if os.Geteuid() != 0 {
		need("not running as root")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			need(tool + " is not installed")
		}
	}
	name := fmt.Sprintf("idleprobe-prober-%d-%d", os.Getpid(), netnsSeq.Add(1))
	run(t, "", "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	run(t, "", "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// run runs a command, with stdin when given, and fails the test on error.
func run(t *testing.T, stdin string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// inNetns runs fn on a thread that has joined namespace ns, so that the
// sockets fn creates live there. The thread is never unlocked: Go
// discards it when the goroutine ends, so no other code runs in ns.
func inNetns(t *testing.T, ns string, fn func()) {
	t.Helper()
	f, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Errorf("setns %s: %v", ns, err)
			return
		}
		fn()
	}()
	<-done
}

// blackHole drops every packet sent to port inside ns from now on. It
// drops on input, after the packet left the sender: dropping on output
// would make the sender's own stack keep the bytes unsent.
func blackHole(t *testing.T, ns string, port string) {
	t.Helper()
	run(t, fmt.Sprintf(`table inet idleprobe_test {
	chain in {
		type filter hook input priority 0; policy accept;
		tcp dport %s drop
	}
}
`, port), "ip", "netns", "exec", ns, "nft", "-f", "-")
}

// TestBlackHole: a path that silently drops packets after the connection
// was opened gives Dropped within the trial timeout, not after minutes of
// retransmissions: on the evidence (three transmissions lost, 0.8 s on
// loopback) or at the timeout, whichever is first.
func TestBlackHole(t *testing.T) {
	const timeout = time.Second
	for _, tc := range []struct {
		name   string
		scheme string
		opts   TransportOptions
	}{
		{"tcp", "tcp", TransportOptions{}},
		{"tcp-expect", "tcp", TransportOptions{Send: []byte("PING\r\n"), Expect: []byte("+PONG")}},
		{"http", "http", TransportOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			ns := newNetns(t)
			tc.opts.Timeout = timeout
			var (
				srv *server
				c   Conn
				err error
			)
			inNetns(t, ns, func() {
				ln, lerr := net.Listen("tcp", "127.0.0.1:0")
				if lerr != nil {
					t.Errorf("listen: %v", lerr)
					return
				}
				srv = serveOn(t, ln, func(t *testing.T, c net.Conn, done <-chan struct{}) {
					switch tc.scheme {
					case "http":
						httpAnswer(t, c, func(int, *http.Request) (string, bool) { return okResponse, true })
					default:
						buf := make([]byte, 64)
						for {
							if _, err := c.Read(buf); err != nil {
								return
							}
							io.WriteString(c, "+PONG\r\n")
						}
					}
				})
				c, err = transport(t, tc.scheme+"://"+ln.Addr().String()+"/", tc.opts).Open(context.Background())
			})
			if srv == nil || err != nil {
				t.Fatalf("open in namespace: %v", err)
			}
			defer c.Close()
			if r := reuse(t, c); r.Outcome != plan.OK {
				t.Fatalf("reuse before the black hole: %s (%s)", r.Outcome, r.Detail)
			}
			_, port, _ := net.SplitHostPort(srv.addr)
			blackHole(t, ns, port)
			r := reuse(t, c)
			if r.Outcome != plan.Dropped {
				t.Errorf("reuse into the black hole: %s (%s), want dropped", r.Outcome, r.Detail)
			}
			took := r.End.Sub(r.Start)
			early := strings.HasPrefix(r.Detail, "no acknowledgement after")
			if (early && !within(took, plan.MinBlackHoleWait(0), timeout)) || (!early && !within(took, timeout-50*time.Millisecond, timeout+500*time.Millisecond)) {
				t.Errorf("dropped after %s (%s), want on the evidence after %s, or at the timeout %s",
					took, r.Detail, plan.MinBlackHoleWait(0), timeout)
			}
		})
	}
}

// TestDialTimeout: a target whose SYNs vanish fails Open within the timeout.
func TestDialTimeout(t *testing.T) {
	noLeaks(t)
	ns := newNetns(t)
	const timeout = 500 * time.Millisecond
	blackHole(t, ns, "9")
	var (
		err  error
		took time.Duration
	)
	inNetns(t, ns, func() {
		start := time.Now()
		var c Conn
		c, err = transport(t, "tcp://127.0.0.1:9", TransportOptions{Timeout: timeout}).Open(context.Background())
		took = time.Since(start)
		if err == nil {
			c.Close()
		}
	})
	if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("Open error %v, want ErrUnusable mentioning the timeout", err)
	}
	if took > timeout+500*time.Millisecond {
		t.Errorf("Open took %s, want about %s", took, timeout)
	}
}
