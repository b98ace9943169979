// Package realserver starts real servers for tests: PostgreSQL, Redis and
// nginx from their Debian packages, Python's http.server, and two small Go
// servers with misbehaviours no packaged server has (one closes a connection
// on its first byte, one closes idle connections after a short time).
//
// Each server runs on loopback on its own free port, with its own
// configuration and data directory under the test's temporary directory. A
// start helper returns once the server accepts connections (it polls the
// port) and registers a cleanup that stops the server by PID and reaps it.
// When a server's program is missing the test is skipped with the package
// to install, unless the CI environment variable is set: then it fails.
//
// The process handling (Start, Proc) and the nginx configuration are also
// used by package lab, which runs the same servers inside network
// namespaces.
package realserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Command describes a process for Start.
type Command struct {
	// Name labels the process in logs; its output goes to Name.log in LogDir.
	Name string
	// Argv is the program and its arguments.
	Argv []string
	// LogDir holds the log file (t.TempDir() when empty). An existing log is
	// appended to, so a restarted process keeps one log.
	LogDir string
	// Dir is the working directory ("" for the test's).
	Dir string
	// Env, when not nil, is the whole environment of the process.
	Env []string
	// Credential, when set, runs the process as that user (PostgreSQL
	// refuses to run as root).
	Credential *syscall.Credential
	// Stdout, when set, receives the process's stdout instead of the log
	// (for programs whose stdout is their result, such as Chromium's
	// --dump-dom); stderr still goes to the log.
	Stdout io.Writer
	// StopSignal asks the process to end (default SIGTERM; PostgreSQL's
	// fast shutdown is SIGINT). It goes to the process itself; whatever is
	// left of its process group gets SIGKILL once it has ended.
	StopSignal syscall.Signal
}

// Proc is a process started by Start.
type Proc struct {
	// Name is the label given to Start; Log is the file holding the
	// process's stdout and stderr.
	Name, Log string

	cmd     *exec.Cmd
	stopSig syscall.Signal
	done    chan struct{}
	err     error // valid after done is closed
}

// StopGrace is how long a process gets between its stop signal and SIGKILL.
const StopGrace = 3 * time.Second

// Start starts c.Argv in its own process group, its output going to a log
// file. When t ends the process gets its stop signal, then SIGKILL after
// StopGrace, and is reaped; when t failed, the end of its log is printed.
func Start(t testing.TB, c Command) *Proc {
	t.Helper()
	p, err := start(t, c)
	if err != nil {
		t.Fatalf("starting %s: %v", c.Name, err)
	}
	return p
}

func start(t testing.TB, c Command) (*Proc, error) {
	t.Helper()
	if len(c.Argv) == 0 {
		return nil, errors.New("empty command")
	}
	dir := c.LogDir
	if dir == "" {
		dir = t.TempDir()
	}
	logPath := filepath.Join(dir, sanitize(c.Name)+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if c.Stdout != nil {
		cmd.Stdout = c.Stdout
	}
	cmd.Dir, cmd.Env = c.Dir, c.Env
	// Its own process group, so that its children (nginx workers,
	// PostgreSQL backends) can be found and ended with it; SIGKILL if this
	// test binary dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: c.Credential}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	sig := c.StopSignal
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	p := &Proc{Name: c.Name, Log: logPath, cmd: cmd, stopSig: sig, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Logf("started %s (pid %d): %s", c.Name, cmd.Process.Pid, strings.Join(c.Argv, " "))
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("%s output (last lines of %s):\n%s", p.Name, p.Log, p.Tail(40))
		}
	})
	return p, nil
}

// Pid is the process's id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has ended and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

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

// Tail returns the last n lines of the process's output.
func (p *Proc) Tail(n int) string {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// Stop ends the process now (its stop signal, then SIGKILL after a grace
// period) and waits for it. Calling it again, or letting cleanup call it,
// is fine.
func (p *Proc) Stop(t testing.TB) {
	t.Helper()
	p.stop(t)
}

func (p *Proc) stop(t testing.TB) {
	t.Helper()
	pgid := p.cmd.Process.Pid
	// Once the leader has ended, SIGKILL whatever is left of its group (a
	// worker or backend that outlived it). The group id cannot be reused
	// while a member lives, and an empty group is ESRCH.
	killGroup := func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) }
	if exited, _ := p.Exited(); exited {
		killGroup()
		return
	}
	_ = p.cmd.Process.Signal(p.stopSig)
	timer := time.NewTimer(StopGrace)
	defer timer.Stop()
	select {
	case <-p.done:
		killGroup()
		return
	case <-timer.C:
	}
	t.Logf("%s (pid %d) ignored %v for %s: SIGKILL", p.Name, pgid, p.stopSig, StopGrace)
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	timer.Reset(StopGrace)
	select {
	case <-p.done:
	case <-timer.C:
		t.Errorf("%s (pid %d) still running after SIGKILL", p.Name, pgid)
	}
}

// startTimeout bounds how long a server may take to accept connections.
const startTimeout = 15 * time.Second

// pollEvery is how often WaitTCP tries to connect.
const pollEvery = 20 * time.Millisecond

// WaitTCP waits until addr (host:port, on this machine's network namespace)
// accepts a TCP connection. When p is not nil it gives up as soon as p
// exits (a server that failed to start), with the end of its log.
func WaitTCP(addr string, timeout time.Duration, p *Proc) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var done <-chan struct{}
	if p != nil {
		done = p.done
	}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited (%v) before accepting connections on %s:\n%s", p.Name, p.err, addr, p.Tail(20))
		case <-ctx.Done():
			return fmt.Errorf("nothing accepts connections on %s after %s (last: %v)", addr, timeout, err)
		case <-tick.C:
		}
	}
}

// ports remembers the ports FreePort handed out, so that two servers of
// one test binary never get the same one.
var ports struct {
	sync.Mutex
	used map[int]bool
}

// FreePort returns a loopback TCP port that nothing listens on now and that
// FreePort has not returned before in this process.
func FreePort() (int, error) {
	ports.Lock()
	defer ports.Unlock()
	if ports.used == nil {
		ports.used = make(map[int]bool)
	}
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !ports.used[port] {
			ports.used[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port found")
}

// startOnFreePort runs launch on a fresh port until the server accepts
// connections. A server that could not bind its port (another process took
// it between FreePort and the bind) is tried again on another port.
func startOnFreePort(t testing.TB, name string, launch func(port int) (*Proc, error)) (*Proc, string) {
	t.Helper()
	var lastErr error
	for range 3 {
		port, err := FreePort()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
		p, err := launch(port)
		if err != nil {
			t.Fatalf("starting %s: %v", name, err)
		}
		err = WaitTCP(addr, startTimeout, p)
		if err == nil {
			return p, addr
		}
		lastErr = err
		p.Stop(t)
		if !strings.Contains(p.Output(), "in use") {
			break
		}
		t.Logf("%s: port %d was taken, trying another", name, port)
	}
	t.Fatalf("%s: %v", name, lastErr)
	return nil, ""
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
