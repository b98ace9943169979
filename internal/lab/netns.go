package lab

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Dial opens a TCP connection to addr from inside namespace ns, from this
// test process, with TCP keepalive off (nothing is sent while idle). The
// connection is closed when t ends. It lets a test drive idle periods with
// exact timing, without the idleprobe binary.
func (l *Lab) Dial(t testing.TB, ns, addr string) *net.TCPConn {
	t.Helper()
	c, err := DialIn(ns, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// DialIn opens a TCP connection to addr from inside namespace ns, with TCP
// keepalive off. A socket belongs to the namespace it was created in, so the
// socket is created on an OS thread switched into ns, which is switched back
// before the thread is released.
func DialIn(ns, addr string, timeout time.Duration) (*net.TCPConn, error) {
	type result struct {
		c   *net.TCPConn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := dialIn(ns, addr, timeout)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func dialIn(ns, addr string, timeout time.Duration) (*net.TCPConn, error) {
	target, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", ns, err)
	}
	defer target.Close()

	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("setns %s: %w", ns, err)
	}
	d := net.Dialer{Timeout: timeout, KeepAlive: -1}
	c, dialErr := d.Dial("tcp4", addr)
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked and in the wrong namespace: the runtime
		// discards a thread whose goroutine exits while locked to it.
		if c != nil {
			c.Close()
		}
		return nil, fmt.Errorf("setns back from %s: %w", ns, err)
	}
	runtime.UnlockOSThread()
	if dialErr != nil {
		return nil, dialErr
	}
	return c.(*net.TCPConn), nil
}
