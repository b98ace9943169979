package lab

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/realserver"
)

// Proc is a process started in a lab namespace: a realserver.Proc (Name,
// Log, Pid, Stop...) that knows its namespace.
type Proc struct {
	*realserver.Proc
	// NS is the namespace the process runs in.
	NS string
}

// Start starts argv inside namespace ns (`ip netns exec NS argv...`), its
// output going to a log file in l.Dir named after name. The process (and its
// process group: nginx workers, say) is stopped by PID when t ends
// (realserver.Start). When t failed, the end of the log is printed.
func (l *Lab) Start(t testing.TB, ns, name string, argv ...string) *Proc {
	t.Helper()
	if len(argv) == 0 {
		t.Fatalf("lab.Start %s: empty command", name)
	}
	ip, err := lookTool("ip")
	if err != nil {
		t.Fatalf("lab.Start %s: %v", name, err)
	}
	p := realserver.Start(t, realserver.Command{
		Name:   name,
		Argv:   append([]string{ip, "netns", "exec", ns}, argv...),
		LogDir: l.Dir,
	})
	return &Proc{Proc: p, NS: ns}
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
				return fmt.Errorf("%s exited (%v) before listening on %s in %s:\n%s", p.Name, perr, addr, ns, p.Tail(20))
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
