package lab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a process started in a lab namespace.
type Proc struct {
	// Name is the label given to Start; Log is the file holding the
	// process's stdout and stderr.
	Name, Log string
	// NS is the namespace the process runs in.
	NS string

	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid after done is closed
}

// stopGrace is how long a process gets between SIGTERM and SIGKILL.
const stopGrace = 3 * time.Second

// Start starts argv inside namespace ns (`ip netns exec NS argv...`), its
// output going to a log file in l.Dir named after name. The process (and its
// process group: nginx workers, say) gets SIGTERM when t ends, then SIGKILL
// after a short grace. When t failed, the end of the log is printed.
func (l *Lab) Start(t testing.TB, ns, name string, argv ...string) *Proc {
	t.Helper()
	if len(argv) == 0 {
		t.Fatalf("lab.Start %s: empty command", name)
	}
	logPath := filepath.Join(l.Dir, sanitize(name)+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("lab.Start %s: %v", name, err)
	}
	ip, err := lookTool("ip")
	if err != nil {
		t.Fatalf("lab.Start %s: %v", name, err)
	}
	c := exec.Command(ip, append([]string{"netns", "exec", ns}, argv...)...)
	c.Stdout, c.Stderr = f, f
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		f.Close()
		t.Fatalf("lab.Start %s: %v", name, err)
	}
	p := &Proc{Name: name, Log: logPath, NS: ns, cmd: c, done: make(chan struct{})}
	go func() {
		p.err = c.Wait()
		f.Close()
		close(p.done)
	}()
	t.Logf("started %s in %s (pid %d): %s", name, ns, c.Process.Pid, strings.Join(argv, " "))
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("%s output (last lines of %s):\n%s", name, logPath, tail(logPath, 40))
		}
	})
	return p
}

// Pid is the process's id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Output returns what the process has written so far.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}

// Stop ends the process now (SIGTERM, then SIGKILL after a grace period)
// and waits for it. Calling it again, or letting cleanup call it, is fine.
func (p *Proc) Stop(t testing.TB) {
	t.Helper()
	p.stop(t)
}

func (p *Proc) stop(t testing.TB) {
	t.Helper()
	pgid := p.cmd.Process.Pid
	if exited, _ := p.Exited(); exited {
		// The leader is gone; make sure no child of its group lingers.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	timer := time.NewTimer(stopGrace)
	defer timer.Stop()
	select {
	case <-p.done:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return
	case <-timer.C:
	}
	t.Logf("%s (pid %d) ignored SIGTERM for %s: SIGKILL", p.Name, pgid, stopGrace)
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	timer.Reset(stopGrace)
	select {
	case <-p.done:
	case <-timer.C:
		t.Errorf("%s (pid %d) still running after SIGKILL", p.Name, pgid)
	}
}

// runTimeout bounds every one-shot command.
const runTimeout = 30 * time.Second

// Run runs a one-shot command inside namespace ns and returns its combined
// output. It fails t when the command fails or runs longer than 30 s.
func (l *Lab) Run(t testing.TB, ns string, argv ...string) string {
	t.Helper()
	out, err := l.TryRun(ns, argv...)
	if err != nil {
		t.Fatalf("in %s: %v", ns, err)
	}
	return out
}

// TryRun is Run for commands that may fail: it returns the error instead.
func (l *Lab) TryRun(ns string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	ip, err := lookTool("ip")
	if err != nil {
		return "", err
	}
	c := exec.CommandContext(ctx, ip, append([]string{"netns", "exec", ns}, argv...)...)
	out, err := c.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// WaitTCP waits until something listens on TCP addr (host:port; host may be
// empty or a wildcard) inside namespace ns, or fails t after timeout.
func WaitTCP(t testing.TB, ns, addr string, timeout time.Duration) {
	t.Helper()
	if err := waitListen(ns, addr, timeout, nil); err != nil {
		t.Fatal(err)
	}
}

// waitListen polls `ss` in ns until addr listens. When p is not nil it gives
// up as soon as p exits (a server that failed to start).
func waitListen(ns, addr string, timeout time.Duration, p *Proc) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("WaitTCP: %q is not host:port: %v", addr, err)
	}
	if _, err := strconv.Atoi(port); err != nil {
		return fmt.Errorf("WaitTCP: %q: port must be a number", addr)
	}
	ss, err := lookTool("ss")
	if err != nil {
		return err
	}
	ip, err := lookTool("ip")
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		out, err := exec.Command(ip, "netns", "exec", ns, ss, "-Hltn").Output()
		if err == nil && listening(string(out), host, port) {
			return nil
		}
		if p != nil {
			if exited, perr := p.Exited(); exited {
				return fmt.Errorf("%s exited (%v) before listening on %s in %s:\n%s", p.Name, perr, addr, ns, tail(p.Log, 20))
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s in %s after %s (ss: %v)\n%s", addr, ns, timeout, err, out)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// listening reports whether ss -Hltn output shows a listener for host:port.
func listening(ssOut, host, port string) bool {
	for _, line := range strings.Split(ssOut, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		lh, lp, err := net.SplitHostPort(f[3])
		if err != nil || lp != port {
			continue
		}
		switch lh {
		case host, "*", "0.0.0.0", "[::]", "::":
			return true
		}
		if host == "" || host == "0.0.0.0" {
			return true
		}
	}
	return false
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// sanitize makes name usable as a file name.
func sanitize(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, name)
}

// unique numbers files written by helpers that may be called several times.
var unique struct {
	sync.Mutex
	n int
}

func nextID() int {
	unique.Lock()
	defer unique.Unlock()
	unique.n++
	return unique.n
}
