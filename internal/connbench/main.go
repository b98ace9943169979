// Command connbench measures what idle trial connections cost: it starts a
// real `idleprobe responder` and a real `idleprobe serve` as two separate
// processes on loopback, with a config whose paths hold -conns idle trial
// connections to the responder at once (max_connections caps them there),
// and reads both processes' resident set (VmRSS, peak VmHWM) and CPU time
// (/proc/PID/stat) over a window while every connection is idle.
//
//	go run ./internal/connbench -conns 10000
//
// The connections are idle from their opening until -min-idle after the
// first one opened (no path reuses a connection before its min_idle), so
// the window must end by then; connbench checks that it did.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

func main() { os.Exit(run()) }

// options are connbench's flags.
type options struct {
	setup
	bin    string
	window time.Duration
	fill   time.Duration
	keep   bool
}

func run() int {
	var o options
	flag.IntVar(&o.Conns, "conns", 10000, "idle trial connections to hold (the config's max_connections)")
	flag.StringVar(&o.Scheme, "scheme", "http", "target scheme of the paths: http, h2c or tcp")
	flag.IntVar(&o.Paths, "paths", 0, fmt.Sprintf("number of paths (0: one per %d connections)", perPath))
	flag.DurationVar(&o.MinIdle, "min-idle", 2*time.Minute, "every path's min_idle: the connections stay idle this long after the first opened")
	flag.DurationVar(&o.window, "window", 10*time.Second, "how long CPU time is measured while all connections are idle")
	flag.DurationVar(&o.fill, "fill-timeout", 90*time.Second, "how long serve may take to open the connections")
	flag.StringVar(&o.bin, "bin", "", "idleprobe binary (default: go build ./cmd/idleprobe into a temporary directory)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (config, logs)")
	flag.Parse()
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "connbench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "connbench:", err)
		return 1
	}
	return 0
}

func (o options) check() error {
	switch {
	case o.Conns < 1:
		return fmt.Errorf("-conns %d: need at least 1", o.Conns)
	case o.Scheme != "http" && o.Scheme != "h2c" && o.Scheme != "tcp":
		return fmt.Errorf("-scheme %q: valid are http, h2c, tcp", o.Scheme)
	case o.Paths < 0:
		return fmt.Errorf("-paths %d: must not be negative", o.Paths)
	case o.window <= 0 || o.fill <= 0:
		return errors.New("-window and -fill-timeout must be positive")
	case o.MinIdle < o.fill+o.window+5*time.Second:
		return fmt.Errorf("-min-idle %s: must exceed -fill-timeout + -window + 5s (%s), or a reuse may fall into the window",
			o.MinIdle, o.fill+o.window+5*time.Second)
	}
	return nil
}

// bench runs the benchmark and prints its report to out.
func bench(ctx context.Context, o options, out io.Writer) error {
	if err := raiseNoFile(uint64(o.Conns) + 1024); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "connbench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(out, "# files in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(dir, "idleprobe")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/idleprobe")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/idleprobe (run connbench from the module root, or pass -bin): %w", err)
		}
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	httpAddr, tcpAddr, webAddr := hostPort(ports[0]), hostPort(ports[1]), hostPort(ports[2])
	cfgFile := filepath.Join(dir, "idleprobe.yml")
	if err := os.WriteFile(cfgFile, o.config(httpAddr, tcpAddr), 0o644); err != nil {
		return err
	}

	resp, err := startProc(dir, "responder", bin, "responder", "--http.listen-address", httpAddr, "--tcp.listen-address", tcpAddr)
	if err != nil {
		return err
	}
	defer resp.stop()
	port := ports[0]
	if o.Scheme == "tcp" {
		port = ports[1]
	}
	if err := waitListening(ctx, resp, hostPort(port)); err != nil {
		return err
	}
	respBase, err := readMemory(resp.pid())
	if err != nil {
		return err
	}
	serve, err := startProc(dir, "serve", bin, "serve", "--config.file", cfgFile,
		"--storage.path", filepath.Join(dir, "state.json"), "--web.listen-address", webAddr, "--log.level", "warn")
	if err != nil {
		return err
	}
	defer serve.stop()
	started := time.Now()
	if err := waitListening(ctx, serve, webAddr); err != nil {
		return err
	}
	serveBase, err := readMemory(serve.pid())
	if err != nil {
		return err
	}

	fctx, cancel := context.WithTimeoutCause(ctx, o.fill, fmt.Errorf("not within -fill-timeout %s", o.fill))
	err = waitConns(fctx, port, o.Conns)
	cancel()
	if err != nil {
		return fmt.Errorf("serve did not open the connections: %w (logs in %s with -keep)", err, dir)
	}
	filled := time.Since(started)

	// Let the last handshakes and first exchanges settle, then measure.
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	procs := []*proc{serve, resp}
	before := make([]int64, len(procs))
	for i, p := range procs {
		if before[i], err = readCPUTicks(p.pid()); err != nil {
			return err
		}
	}
	t0 := time.Now()
	if err := sleep(ctx, o.window); err != nil {
		return err
	}
	window := time.Since(t0)
	cpu := make([]float64, len(procs))
	mem := make([]memory, len(procs))
	for i, p := range procs {
		after, err := readCPUTicks(p.pid())
		if err != nil {
			return err
		}
		cpu[i] = float64(after-before[i]) / clockTicks / window.Seconds() * 100
		if mem[i], err = readMemory(p.pid()); err != nil {
			return err
		}
	}
	held, err := connected(port)
	if err != nil {
		return err
	}
	socks, err := sockets(serve.pid())
	if err != nil {
		return err
	}
	gauges, err := scrape(ctx, "http://"+webAddr+"/metrics", "idleprobe_trial_connections", "go_goroutines")
	if err != nil {
		return err
	}
	if time.Since(started) >= o.MinIdle {
		return fmt.Errorf("the window ended %s after serve started, past -min-idle %s: reuses may have run; raise -min-idle", time.Since(started).Round(time.Second), o.MinIdle)
	}
	if held != o.Conns {
		return fmt.Errorf("%d connections to the responder at the end of the window, want %d: some were closed or opened while they should idle", held, o.Conns)
	}

	fmt.Fprintf(out, "connbench: %d idle %s trial connections, %d paths; serve and responder as separate processes on loopback (%s, %d CPUs); filled in %s, CPU over %s\n",
		o.Conns, o.Scheme, o.paths(), runtime.Version(), runtime.NumCPU(), filled.Round(100*time.Millisecond), window.Round(100*time.Millisecond))
	fmt.Fprintf(out, "%-10s %9s %9s %9s %11s %16s %9s\n", "process", "peak RSS", "RSS", "start RSS", "peak/conn", "(peak-start)/conn", "CPU idle")
	base := []memory{serveBase, respBase}
	for i, p := range procs {
		fmt.Fprintf(out, "%-10s %9s %9s %9s %11s %16s %8.2f%%\n", p.name, mib(mem[i].Peak), mib(mem[i].RSS), mib(base[i].RSS),
			kib(mem[i].Peak/int64(o.Conns)), kib((mem[i].Peak-base[i].RSS)/int64(o.Conns)), cpu[i])
	}
	fmt.Fprintf(out, "held at the end: %d connections to the responder; serve %d sockets, idleprobe_trial_connections %g, go_goroutines %g\n",
		held, socks, gauges["idleprobe_trial_connections"], gauges["go_goroutines"])
	return nil
}

func mib(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MB" }
func kib(b int64) string { return strconv.FormatFloat(float64(b)/(1<<10), 'f', 1, 64) + " KB" }

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// raiseNoFile raises this process's RLIMIT_NOFILE (inherited by the two
// children) to at least n, raising the hard limit too when allowed.
func raiseNoFile(n uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= n {
		return nil
	}
	want := lim
	want.Cur = max(lim.Cur, min(n, lim.Max))
	if lim.Max < n {
		want.Cur, want.Max = n, n // needs CAP_SYS_RESOURCE
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		return fmt.Errorf("RLIMIT_NOFILE is %d (hard %d), need %d for -conns: %w (raise it with ulimit -n)", lim.Cur, lim.Max, n, err)
	}
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
