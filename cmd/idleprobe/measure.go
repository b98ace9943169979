package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/internal/term"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

func init() {
	register(command{
		name:    "measure",
		summary: "measure the idle limit of one path (tcp://, http://, https://, h2://, h2c://)",
		run:     runMeasureCmd,
	})
}

const measureHelp = `
Usage: idleprobe measure [flags] TARGET

Measures how long a kept-alive connection to TARGET may sit idle before the
path kills it, and how it dies. Nothing is sent while a connection is idle.

TARGET is one of:
  tcp://HOST:PORT            reuse = write --send (default "\r\n"); ok once ACKed
                             (or once the answer contains --expect)
  http://HOST[:PORT]/PATH    reuse = one HTTP/1.1 request, full response read
  https://HOST[:PORT]/PATH   the same over TLS
  h2://HOST[:PORT]/PATH      HTTP/2 over TLS (ALPN h2): reuse = the request on a
                             new stream, full response read
  h2c://HOST[:PORT]/PATH     the same over cleartext HTTP/2 (prior knowledge)

Examples:
  idleprobe measure http://192.0.2.7:8080/healthz
  idleprobe measure --max 20m --strategy sequential tcp://192.0.2.7:9090
                             # the responder's TCP echo behind the same hop as
                             # the database: a tcp:// measurement of a database
                             # itself finds its login timeout, not the path
  idleprobe measure --send 'PING\r\n' --expect +PONG tcp://redis:6379
  idleprobe measure --output json https://api.example.com/ > result.json
  idleprobe measure --keepalive 30s,75s,9 http://192.0.2.7:30080/   # does TCP keepalive rescue it?

Every measurement ends by itself: by its --deadline (automatic by default,
see --deadline below for the formula) it has a clean answer or it ends
inconclusive, with the evidence it has. Connections are all closed then.

Exit codes:
  0    measured: a limit was found, or no limit up to --max
  1    no clean answer. unusable: the target cannot be measured (refused,
       DNS, TLS, or every reuse fails whatever its idle time: a protocol
       mismatch); inconclusive: the deadline passed while the evidence still
       contradicted itself. The partial result is printed in the --output
       format, marked as such, and one line on stderr says why
  2    usage error: bad flag, target or settings
  130  interrupted (Ctrl-C or SIGTERM): the partial result is printed,
       clearly marked partial
`

// outputFormats are the values of --output for measure.
var outputFormats = []string{"text", "json", "prom"}

// addSearchFlags binds the search settings flags shared by measure and
// simulate to s.
func addSearchFlags(fs *flag.FlagSet, s *plan.Settings) {
	fs.Var(durationValue{&s.Min}, "min", "Shortest idle `duration` tested.")
	fs.Var(durationValue{&s.Max}, "max", "Longest idle `duration` tested; a path that survives it has \"no limit up to max\".")
	fs.Var(floatValue{&s.Precision}, "precision", "Wanted bracket width relative to the limit, as a `fraction` (0.02 or 2%).")
	fs.Var(durationValue{&s.PrecisionFloor}, "precision-floor", "Absolute floor of the bracket width (`duration`): the search stops at max(precision*limit, floor).")
	fs.Var(choiceValue{(*string)(&s.Strategy), []string{string(plan.Parallel), string(plan.Sequential)}}, "strategy", "Search `strategy`: parallel (staggered connections, close to 1x the limit in wall time) or sequential (the textbook baseline, about 8-10x).")
	fs.Var(intValue{&s.Budget}, "budget", "Most connections open at once (`count`, at least 2).")
	fs.Var(intValue{&s.Confirm}, "confirm", "Extra trials that re-test each bracket edge before the result is published (`count`; 0 turns it off).")
	fs.Var(durationValue{&s.Deadline}, "deadline", deadlineUsage)
}

// deadlineUsage is the help text of --deadline: the automatic deadline's
// formula, from the factors the planner uses.
var deadlineUsage = fmt.Sprintf("Longest the search may run (`duration`, longer than --max): without a clean answer by then it ends inconclusive, with the evidence so far. "+
	"0 is automatic: %d x max + 2 x (confirm + 2) x timeout for the parallel strategy, %d x max + 2 x (confirm + 2) x timeout for sequential "+
	"(%s with the defaults).", plan.ParallelDeadlineFactor, plan.SequentialDeadlineFactor, fmtFlagDuration(plan.AutoDeadline(plan.Defaults(), prober.DefaultTimeout)))

// withDeadline returns opts with the automatic deadline resolved against
// its trial timeout, so that the result says which deadline it ran with.
func withDeadline(opts prober.Options) prober.Options {
	if opts.Plan == (plan.Settings{}) {
		return opts // prober.Measure applies plan.Defaults
	}
	timeout := opts.Transport.Timeout
	if timeout <= 0 {
		timeout = prober.DefaultTimeout
	}
	opts.Plan = opts.Plan.WithDeadline(timeout)
	return opts
}

// settingsErrors turns plan.Settings.Validate's lines into flag-named
// messages: "--max: ...".
func settingsErrors(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, "--"+line)
		}
	}
	return out
}

// measureFlags holds the raw values of measure's flags.
type measureFlags struct {
	settings   plan.Settings
	timeout    time.Duration
	insecure   bool
	caFile     string
	serverName string
	method     string
	header     headerValue
	host       string
	body       string
	bodyFile   string
	send       string
	expect     string
	output     string
	name       string
	pushURL    string
	keepalive  *prober.KeepaliveCheck
	log        *logFlags
	// given holds the names of the flags set on the command line.
	given map[string]bool
}

func newMeasureFlags() (*flag.FlagSet, *measureFlags) {
	fs := newFlagSet("measure")
	f := &measureFlags{settings: plan.Defaults(), timeout: prober.DefaultTimeout, output: "text"}
	addSearchFlags(fs, &f.settings)
	fs.Var(durationValue{&f.timeout}, "timeout", "Trial timeout (`duration`): bounds dialing, handshakes and every reuse; also the TCP_USER_TIMEOUT, so a black hole cannot hold a trial for minutes.")
	fs.BoolVar(&f.insecure, "insecure", false, "https, h2: do not verify the server certificate.")
	fs.StringVar(&f.caFile, "ca-file", "", "https, h2: PEM `file` with the CA certificates to trust instead of the system pool.")
	fs.StringVar(&f.serverName, "server-name", "", "https, h2: TLS server `name` (SNI and certificate check) when it differs from the target host.")
	fs.StringVar(&f.method, "method", "GET", "http(s), h2(c): request `method`.")
	fs.Var(&f.header, "header", "http(s), h2(c): extra request header `\"Name: value\"`; repeat for more.")
	fs.StringVar(&f.host, "host", "", "http(s), h2(c): Host header `name` (:authority for HTTP/2; default: from the target).")
	fs.StringVar(&f.body, "body", "", "http(s), h2(c): request `body` (sent with Content-Length on every request).")
	fs.StringVar(&f.bodyFile, "body-file", "", "http(s), h2(c): read the request body from `file`.")
	fs.StringVar(&f.send, "send", "", "tcp: reuse `payload`; \\r \\n \\t \\0 \\\\ \\xHH escapes are expanded (default \"\\r\\n\").")
	fs.StringVar(&f.expect, "expect", "", "tcp: the answer must contain this `string` (escapes as for --send); without it, reuse succeeds once the payload is acknowledged.")
	fs.Var(choiceValue{&f.output, outputFormats}, "output", "Result `format`: text (summary and advice), json (one object), prom (Prometheus text format, for a textfile collector).")
	fs.StringVar(&f.name, "name", "", "`name` of the path: the path label of --output prom and --push-gateway (default: the target).")
	fs.StringVar(&f.pushURL, "push-gateway", "", "Push a complete result to the Pushgateway at this `URL` (job \"idleprobe\", grouped by path).")
	fs.Var(keepaliveValue{&f.keepalive}, "keepalive", keepaliveUsage)
	f.log = addLogFlags(fs)
	return fs, f
}

// build checks the flags against the target and returns the measurement
// to run, or every problem found, one per line.
func (f *measureFlags) build(pos []string) (prober.Target, prober.Options, []string) {
	var errs []string
	var target prober.Target
	switch len(pos) {
	case 0:
		errs = append(errs, "measure needs a TARGET (examples: tcp://192.0.2.1:6379, http://svc:8080/healthz, https://example.com/)")
	case 1:
		t, err := prober.ParseTarget(pos[0])
		if err != nil {
			errs = append(errs, oneLine(err.Error()))
		}
		target = t
	default:
		errs = append(errs, fmt.Sprintf("measure takes one TARGET, got %d: %s", len(pos), strings.Join(pos, " ")))
	}
	errs = append(errs, settingsErrors(f.settings.Validate())...)
	if f.timeout <= 0 {
		errs = append(errs, fmt.Sprintf("--timeout: %s must be positive (example: 5s)", f.timeout))
	}

	topt := prober.TransportOptions{
		Timeout:            f.timeout,
		Method:             f.method,
		Host:               f.host,
		InsecureSkipVerify: f.insecure,
		CAFile:             f.caFile,
		ServerName:         f.serverName,
	}
	if len(f.header.h) > 0 {
		topt.Header = f.header.h.Clone()
	}
	if f.method == "" || !validHeaderName(f.method) {
		errs = append(errs, fmt.Sprintf("--method: %q is not an HTTP method (examples: GET, HEAD, POST)", f.method))
	}
	switch {
	case f.body != "" && f.bodyFile != "":
		errs = append(errs, "--body-file: give either --body or --body-file, not both")
	case f.body != "":
		topt.Body = []byte(f.body)
	case f.bodyFile != "":
		b, err := os.ReadFile(f.bodyFile)
		if err != nil {
			errs = append(errs, "--body-file: "+oneLine(err.Error()))
		}
		topt.Body = b
	}
	if f.send != "" {
		b, err := unescape(f.send)
		if err != nil {
			errs = append(errs, fmt.Sprintf("--send: %q %s", f.send, err))
		}
		topt.Send = b
	}
	if f.expect != "" {
		b, err := unescape(f.expect)
		if err != nil {
			errs = append(errs, fmt.Sprintf("--expect: %q %s", f.expect, err))
		}
		topt.Expect = b
	}
	if f.caFile != "" {
		if _, err := os.ReadFile(f.caFile); err != nil {
			errs = append(errs, "--ca-file: "+oneLine(err.Error()))
		}
	}

	// Flags that the target's protocol would silently ignore are mistakes.
	if target.Scheme != "" {
		only := func(scheme string, names ...string) {
			for _, n := range names {
				if f.given[n] {
					errs = append(errs, fmt.Sprintf("--%s: only for %s targets, not %s://", n, scheme, target.Scheme))
				}
			}
		}
		switch target.Scheme {
		case "tcp":
			only("http(s) and h2(c)", "method", "header", "host", "body", "body-file")
			only("https and h2", "insecure", "ca-file", "server-name")
		case "http", "h2c":
			only("tcp", "send", "expect")
			only("https and h2", "insecure", "ca-file", "server-name")
		case "https", "h2":
			only("tcp", "send", "expect")
		}
	}
	return target, prober.Options{Plan: f.settings, Transport: topt, Keepalive: f.keepalive}, errs
}

func runMeasureCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, f := newMeasureFlags()
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, fs, measureHelp)
		return exitOK
	}
	if err != nil {
		return usageError(stderr, flagError("measure", err))
	}
	f.given = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.given[fl.Name] = true })
	target, opts, errs := f.build(pos)
	if len(errs) > 0 {
		return usageError(stderr, errs...)
	}
	log := f.log.logger(stderr)
	opts.Logger = log
	if f.pushURL != "" {
		if u, err := url.Parse(f.pushURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageError(stderr, fmt.Sprintf("--push-gateway: %q is not an http(s) URL (example: http://pushgateway:9091)", f.pushURL))
		}
	}
	_, code := measureAndReport(ctx, target, opts, report{
		output:  f.output,
		name:    f.name,
		pushURL: f.pushURL,
		tty:     term.IsTerminalWriter(stdout),
		log:     log,
	}, stdout, stderr)
	return code
}

// report says how measureAndReport shows progress and the result.
type report struct {
	output  string // text, json or prom
	name    string // the path label for prom output and the Pushgateway
	pushURL string // Pushgateway to push a complete result to, or ""
	tty     bool   // stdout is a terminal: redraw a live progress line
	log     *slog.Logger
	// measure runs the measurement: prober.Measure when nil (tests pass a
	// stand-in that ends the way they need).
	measure func(context.Context, prober.Target, prober.Options) (prober.Result, error)
}

// measureAndReport runs one measurement with the live display hooked to its
// progress, prints the result in the requested format and returns it with
// the exit code. It is the code path of both `measure` and `demo`.
func measureAndReport(ctx context.Context, target prober.Target, opts prober.Options, rep report, stdout, stderr io.Writer) (prober.Result, int) {
	if rep.log == nil {
		rep.log = slog.New(slog.DiscardHandler)
	}
	if opts.Logger == nil {
		opts.Logger = rep.log
	}
	var disp *display
	if rep.tty {
		disp = startDisplay(stdout, time.Now())
		prev := opts.Progress
		opts.Progress = func(p prober.Progress) {
			disp.update(p)
			if prev != nil {
				prev(p)
			}
		}
	}
	opts = withDeadline(opts)
	rep.log.Debug("measuring", "target", target.String(), "strategy", opts.Plan.Strategy,
		"min", opts.Plan.Min, "max", opts.Plan.Max, "budget", opts.Plan.Budget, "deadline", opts.Plan.Deadline)
	measure := rep.measure
	if measure == nil {
		measure = prober.Measure
	}
	r, err := measure(ctx, target, opts)
	if disp != nil {
		disp.stop()
	}
	if r.Target == "" {
		r.Target = target.String()
	}
	if r.Settings.Strategy == "" {
		r.Settings = opts.Plan
	}
	if ctx.Err() != nil && !r.Complete {
		r.Status = plan.Interrupted
	}
	r = exporters.Settle(r, err)
	status := advice.StatusOf(r)
	if err != nil && status != plan.Interrupted {
		rep.log.Debug("measurement failed", "status", status, "err", err)
	}
	if werr := writeResult(stdout, r, rep); werr != nil {
		fmt.Fprintf(stderr, "idleprobe: writing the result: %s\n", oneLine(werr.Error()))
		return r, exitFailed
	}
	switch status {
	case plan.Interrupted:
		fmt.Fprintln(stderr, "idleprobe: interrupted; the result above is partial")
		return r, exitInterrupted
	case plan.Measured:
	default:
		// Inconclusive or unusable: the evidence is on stdout, the reason
		// here, and nothing is pushed.
		fmt.Fprintf(stderr, "idleprobe: measuring %s: %s\n", target, oneLine(advice.Ending(r)))
		return r, exitFailed
	}
	if rep.pushURL != "" && exporters.Publishable(r) {
		if perr := push(ctx, rep.pushURL, rep.name, r); perr != nil {
			fmt.Fprintf(stderr, "idleprobe: pushing to %s: %s\n", rep.pushURL, oneLine(perr.Error()))
			return r, exitFailed
		}
	}
	if ctx.Err() != nil && opts.Keepalive != nil && r.Found && !r.KeepaliveChecked {
		// Measure keeps a finished search when the keepalive check after it
		// is cut short: the limit above is final, the check is not done.
		fmt.Fprintln(stderr, "idleprobe: interrupted during the TCP keepalive check; the limit above is final, the check was not done")
		return r, exitInterrupted
	}
	return r, exitOK
}

// writeResult prints r in the given output format, whatever its status:
// a result that ended without a clean answer is marked as such.
func writeResult(w io.Writer, r prober.Result, rep report) error {
	switch rep.output {
	case "json":
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	case "prom":
		return writeProm(w, rep.name, r)
	default:
		writeSummary(w, r)
		return nil
	}
}

// display redraws one progress line on a terminal, at most four times a
// second, from the latest snapshot.
type display struct {
	w    io.Writer
	mu   sync.Mutex
	snap progressSnap
	quit chan struct{}
	done chan struct{}
}

func startDisplay(w io.Writer, started time.Time) *display {
	d := &display{w: w, snap: progressSnap{at: started, started: started}, quit: make(chan struct{}), done: make(chan struct{})}
	go d.loop()
	return d
}

// update records a progress snapshot; called from the measuring goroutine.
func (d *display) update(p prober.Progress) {
	s := snapOf(p)
	d.mu.Lock()
	if s.started.IsZero() {
		s.started = d.snap.started
	}
	if s.at.IsZero() {
		s.at = time.Now()
	}
	d.snap = s
	d.mu.Unlock()
}

func (d *display) loop() {
	defer close(d.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-d.quit:
			fmt.Fprint(d.w, "\r\x1b[K")
			return
		case now := <-t.C:
			d.mu.Lock()
			s := d.snap
			d.mu.Unlock()
			fmt.Fprint(d.w, "\r"+progressLine(s, now)+"\x1b[K")
		}
	}
}

// stop clears the progress line and waits for the redraw loop to end.
func (d *display) stop() {
	close(d.quit)
	<-d.done
}
