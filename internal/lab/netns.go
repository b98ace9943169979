package lab

import (
	"errors"
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
	var c net.Conn
	err := Do(ns, func() error {
		d := net.Dialer{Timeout: timeout, KeepAlive: -1}
		var err error
		c, err = d.Dial("tcp4", addr)
		return err
	})
	if err != nil {
		if c != nil {
			c.Close()
		}
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// Do runs f on an OS thread switched into namespace ns, from this process:
// sockets f creates belong to ns for their whole life (a packet capture,
// a dial). The thread is switched back before it is released. f must not
// start goroutines that create sockets: they would run elsewhere.
func Do(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- doIn(ns, f) }()
	return <-errc
}

func doIn(ns string, f func() error) error {
	target, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	defer target.Close()

	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	ferr := f()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked and in the wrong namespace: the runtime
		// discards a thread whose goroutine exits while locked to it.
		return errors.Join(ferr, fmt.Errorf("setns back from %s: %w", ns, err))
	}
	runtime.UnlockOSThread()
	return ferr
}
