package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// BinaryEnv names an environment variable that, when set, points at a
// prebuilt idleprobe binary to use instead of building one.
const BinaryEnv = "IDLEPROBE_LAB_BINARY"

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Binary returns the path of an idleprobe binary built from this module
// (`go build -o DIR/idleprobe ./cmd/idleprobe`), built once per test binary.
// Call Main from TestMain to remove it afterwards.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		if p := os.Getenv(BinaryEnv); p != "" {
			build.path = p
			return
		}
		root, err := moduleRoot()
		if err != nil {
			build.err = err
			return
		}
		build.dir, err = os.MkdirTemp("", "idleprobe-lab-bin-")
		if err != nil {
			build.err = err
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
			if _, serr := os.Stat(goTool); serr != nil {
				goTool = "/usr/local/go/bin/go"
			}
		}
		path := filepath.Join(build.dir, "idleprobe")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		c := exec.CommandContext(ctx, goTool, "build", "-o", path, "./cmd/idleprobe")
		c.Dir = root
		if out, err := c.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/idleprobe in %s: %w\n%s", root, err, out)
			return
		}
		build.path = path
	})
	if build.err != nil {
		t.Fatalf("idleprobe binary: %v", build.err)
	}
	return build.path
}

// moduleRoot finds the directory holding go.mod, from the working directory
// (a test runs in its package's directory) upwards.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Main runs the tests of a package that uses the lab and returns the exit
// code: use `func TestMain(m *testing.M) { os.Exit(lab.Main(m)) }`. After the
// tests it removes the built binary and fails the run if a lab namespace
// was left behind.
func Main(m *testing.M) int {
	if os.Geteuid() == 0 {
		// A test binary killed by -timeout runs no cleanup: remove what such
		// a run left (namespaces no live lab owns) before starting.
		if left, err := Leftovers(); err == nil {
			for _, ns := range left {
				fmt.Fprintf(os.Stderr, "lab: removing namespace %s left by an earlier run\n", ns)
				if err := removeNamespace(ns); err != nil {
					fmt.Fprintf(os.Stderr, "lab: %v\n", err)
				}
			}
		}
	}
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	if os.Geteuid() == 0 {
		left, err := Leftovers()
		if err != nil {
			fmt.Fprintf(os.Stderr, "lab: listing leftover namespaces: %v\n", err)
			return 1
		}
		if len(left) > 0 {
			fmt.Fprintf(os.Stderr, "lab: namespaces left behind: %s\n", strings.Join(left, " "))
			return 1
		}
	}
	return code
}

// measureTimeout bounds one run of `idleprobe measure` in the lab: 4x its
// --max plus 20 s (the sequential search costs ~8-10x the limit, and every
// scenario's limit is well below half its --max), or 3 minutes without --max.
func measureTimeout(args []string) time.Duration {
	for i, a := range args {
		v, ok := "", false
		switch {
		case (a == "--max" || a == "-max") && i+1 < len(args):
			v, ok = args[i+1], true
		case strings.HasPrefix(a, "--max="), strings.HasPrefix(a, "-max="):
			v, ok = a[strings.Index(a, "=")+1:], true
		}
		if !ok {
			continue
		}
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return 4*d + 20*time.Second
		}
	}
	return 3 * time.Minute
}

// Measure runs `idleprobe measure --output json ARGS...` in the client
// namespace and returns the decoded result. args are measure's flags
// followed by the target, e.g. "--max", "8s", "http://203.0.113.1:80/". It
// fails t if the command fails, runs far longer than --max, or prints
// something that is not a result.
func (l *Lab) Measure(t testing.TB, args ...string) plan.Result {
	t.Helper()
	stdout, _ := l.measure(t, append([]string{"--output", "json"}, args...))
	var r plan.Result
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("idleprobe measure --output json printed no result: %v\n%s", err, stdout)
	}
	t.Logf("measured %s: %s", r.Target, Summary(r))
	return r
}

// MeasureText runs `idleprobe measure ARGS...` (human output) in the client
// namespace and returns what it printed on stdout.
func (l *Lab) MeasureText(t testing.TB, args ...string) string {
	t.Helper()
	stdout, _ := l.measure(t, args)
	return stdout
}

func (l *Lab) measure(t testing.TB, args []string) (stdout, stderr string) {
	t.Helper()
	return l.run(t, "measure", args)
}

// run runs `idleprobe COMMAND ARGS...` in the client namespace, bounded
// like measure (measureTimeout), and fails t when it fails.
func (l *Lab) run(t testing.TB, command string, args []string) (stdout, stderr string) {
	t.Helper()
	bin := Binary(t)
	ip, err := lookTool("ip")
	if err != nil {
		t.Fatal(err)
	}
	timeout := measureTimeout(args)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := append([]string{"netns", "exec", l.Client, bin, command}, args...)
	c := exec.CommandContext(ctx, ip, argv...)
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	start := time.Now()
	err = c.Run()
	elapsed := time.Since(start)
	id := nextID()
	_ = os.WriteFile(filepath.Join(l.Dir, fmt.Sprintf("%s-%d.stdout", command, id)), o.Bytes(), 0o644)
	_ = os.WriteFile(filepath.Join(l.Dir, fmt.Sprintf("%s-%d.stderr", command, id)), e.Bytes(), 0o644)
	t.Logf("idleprobe %s %s (in %s, %.2fs)", command, strings.Join(args, " "), l.Client, elapsed.Seconds())
	if ctx.Err() != nil {
		t.Fatalf("idleprobe %s %s: still running after %s (killed)\nstdout:\n%s\nstderr:\n%s",
			command, strings.Join(args, " "), timeout, o.String(), tailString(e.String(), 40))
	}
	if err != nil {
		t.Fatalf("idleprobe %s %s: %v\nstdout:\n%s\nstderr:\n%s",
			command, strings.Join(args, " "), err, o.String(), tailString(e.String(), 40))
	}
	return o.String(), e.String()
}

// Summary is a one-line description of a result, for test logs.
func Summary(r plan.Result) string {
	if !r.Found {
		return fmt.Sprintf("no limit up to %.3fs (lower %.3fs) in %.2fs, %d connections (peak %d), %d trials, strategy %s",
			r.Settings.Max.Seconds(), r.Lower.Seconds(), r.Duration().Seconds(), r.ConnectionsOpened,
			r.PeakConnections, len(r.Trials), r.Settings.Strategy)
	}
	return fmt.Sprintf("limit in (%.3fs, %.3fs] mode %s close_age %.3fs in %.2fs, %d connections (peak %d), %d trials, agree %d disagree %d, strategy %s",
		r.Lower.Seconds(), r.Upper.Seconds(), r.Mode, r.CloseAge.Seconds(), r.Duration().Seconds(),
		r.ConnectionsOpened, r.PeakConnections, len(r.Trials), r.Agree, r.Disagree, r.Settings.Strategy)
}

func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
