package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/idleprobe/idleprobe/configs"
	"github.com/idleprobe/idleprobe/internal/cliflags"
	"github.com/idleprobe/idleprobe/internal/durfmt"
	"github.com/idleprobe/idleprobe/internal/report"
	"github.com/idleprobe/idleprobe/internal/term"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

const measureHelp = `
Measure the idle limit of one path (tcp://, http://, https://, h2://, h2c://,
ws://, wss://, grpc://, grpcs://, udp://, postgres://, mysql://, redis://,
rediss://).

Measures how long a kept-alive connection to TARGET may sit idle before the path kills it, and how it dies. Nothing is sent while a connection is idle.

TARGET is one of:

  tcp://HOST:PORT            reuse = write --send (default "\r\n"); ok once ACKed
                             (or once the answer contains --expect)
  http://HOST[:PORT]/PATH    reuse = one HTTP/1.1 request, full response read
  https://HOST[:PORT]/PATH   the same over TLS
  h2://HOST[:PORT]/PATH      HTTP/2 over TLS (ALPN h2): reuse = the request on a
                             new stream, full response read
  h2c://HOST[:PORT]/PATH     the same over cleartext HTTP/2 (prior knowledge)
  ws://HOST[:PORT]/PATH      WebSocket: the upgrade opens; reuse = one message
                             (--send, default "idleprobe N"), ok when a message
                             containing --expect (default: the same) comes back
  wss://HOST[:PORT]/PATH     the same over TLS
  grpc://HOST:PORT           gRPC over cleartext HTTP/2: reuse = one
                             grpc.health.v1.Health/Check call (--grpc-service)
                             on a new stream
  grpcs://HOST:PORT          the same over TLS
  postgres://USER@HOST[:PORT]/DB[?sslmode=require|verify-full]
                             a PostgreSQL login (trust, password, md5,
                             SCRAM-SHA-256), over TLS with sslmode;
                             reuse = SELECT 1
  mysql://USER@HOST[:PORT][/DB]
                             a MySQL/MariaDB login; reuse = SELECT 1
  redis://[USER@]HOST[:PORT][/N]
                             Redis (AUTH when a password is given); reuse = PING
  rediss://[USER@]HOST[:PORT][/N]
                             the same over TLS

  Passwords come from --password-file or --password-env, never from the
  target URL or the command line itself.
  udp://HOST:PORT            the idleprobe responder's UDP service: after the
                             idle time it sends to the client's binding, which
                             sent nothing (--direction server, the default)

--direction server measures tcp:// from the other side, against the idleprobe responder's push service (port 9092): after the idle time the server writes and the bytes must arrive on the connection, which sends nothing itself (streams, notifications). --direction both measures both directions at once and reports them side by side.

Examples:

  idleprobe measure http://192.0.2.7:8080/healthz
  idleprobe measure --max 20m --strategy sequential tcp://192.0.2.7:9090
                             # the responder's TCP echo behind the same hop as
                             # the database: a tcp:// measurement of a database
                             # itself finds its login timeout, not the path
  idleprobe measure --send 'PING\r\n' --expect +PONG tcp://redis:6379
  idleprobe measure --output json https://api.example.com/ > result.json
  idleprobe measure --password-file /run/secrets/pg postgres://app@db:5432/app
  PGPW=... idleprobe measure --password-env PGPW postgres://app@db/app
  idleprobe measure --keepalive 30s,75s,9 http://192.0.2.7:30080/   # does TCP keepalive rescue it?
  idleprobe measure --proxy http://proxy.internal:3128 --proxy-idle-timeout 15m \
                             --proxy-credentials-file ~/.idleprobe-proxy https://api.example.com/
                             # through a forward proxy (HTTP CONNECT or socks5://)
  idleprobe measure --ping 20s grpc://192.0.2.7:50051   # does a PING every 20s rescue it, and may we?
  idleprobe measure --direction both tcp://192.0.2.7:9092   # reuse and push
  idleprobe measure udp://192.0.2.7:9090                     # a UDP binding

Every measurement ends by itself: by its --deadline (automatic by default, see --deadline below for the formula) it has a clean answer or it ends inconclusive, with the evidence it has. Connections are all closed then.

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

// searchFlags are the search settings shared by measure and simulate.
type searchFlags struct {
	min, max, floor, deadline *time.Duration
	hint                      *time.Duration
	precision                 cliflags.Fraction
	strategy                  *string
	budget, confirm           *int
	strategyGiven             bool
}

func addSearchFlags(cmd *kingpin.CmdClause) *searchFlags {
	d := plan.Defaults()
	f := &searchFlags{precision: cliflags.Fraction(d.Precision)}
	dur := func(name, help string, def time.Duration) *time.Duration {
		return cmd.Flag(name, help).Default(durfmt.Short(def)).Duration()
	}
	f.min = dur("min", "Shortest idle duration tested.", d.Min)
	f.max = dur("max", `Longest idle duration tested; a path that survives it has "no limit up to max".`, d.Max)
	cmd.Flag("precision", "Wanted bracket width relative to the limit, as a fraction (0.02 or 2%).").Default(f.precision.String()).SetValue(&f.precision)
	f.floor = dur("precision-floor", "Absolute floor of the bracket width: the search stops at max(precision*limit, floor).", d.PrecisionFloor)
	f.strategy = cmd.Flag("strategy", "Search strategy: parallel (staggered connections, close to 1x the limit in wall time) or sequential (the textbook baseline, about 8-10x).").
		Default(string(d.Strategy)).IsSetByUser(&f.strategyGiven).Enum(string(plan.Parallel), string(plan.Sequential))
	f.budget = cmd.Flag("budget", "Most connections open at once (at least 2).").Default(strconv.Itoa(d.Budget)).Int()
	f.confirm = cmd.Flag("confirm", "Extra trials that re-test each bracket edge before the result is published (0 turns it off).").Default(strconv.Itoa(d.Confirm)).Int()
	f.deadline = dur("deadline", fmt.Sprintf("Longest the search may run (longer than --max): without a clean answer by then it ends inconclusive, with the evidence so far. "+
		"0 is automatic: %d x max + 2 x (confirm + 2) x timeout for the parallel strategy, %d x max + 2 x (confirm + 2) x timeout for sequential (%s with the defaults).",
		plan.ParallelDeadlineFactor, plan.SequentialDeadlineFactor, durfmt.Short(plan.AutoDeadline(d, prober.DefaultTimeout))), 0)
	f.hint = cmd.Flag("hint", "Start from a previous answer: the upper edge of the last bracket (e.g. 15m). A few connections test around it; "+
		"when the trials contradict it the search goes on as a full parallel search. The verdict comes from this run's trials only. 0: no hint.").
		Default("0s").Duration()
	return f
}

// hintErrors checks --hint against the other search settings.
func (f *searchFlags) hintErrors() []string {
	if err := f.settings().ValidateHint(); err != nil {
		return []string{"--" + err.Error()}
	}
	return nil
}

// settings returns the search settings and the problems plan.Settings
// finds in them, one per flag: "--max: ...".
func (f *searchFlags) settings() plan.Settings {
	return plan.Settings{Strategy: plan.Strategy(*f.strategy), Min: *f.min, Max: *f.max, Precision: float64(f.precision),
		PrecisionFloor: *f.floor, Budget: *f.budget, Confirm: *f.confirm, Deadline: *f.deadline, Hint: *f.hint}
}

// errLines splits the joined errors of a check into one line each.
func errLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.FieldsFunc(err.Error(), func(r rune) bool { return r == '\n' })
}

// measureFlags are measure's flags as parsed.
type measureFlags struct {
	search                                                              *searchFlags
	timeout                                                             *time.Duration
	insecure, whichHop                                                  *bool
	caFile, serverName, method, host, body, bodyFile, send, expect, kal *string
	grpcService                                                         *string
	ping                                                                *time.Duration
	output, name, pushURL, family, direction                            *string
	proxy, proxyCreds                                                   *string
	proxyIdle                                                           *time.Duration
	passwordFile, passwordEnv                                           *string
	headers                                                             *[]string
	// given says which scheme-specific flags were set on the command line.
	given map[string]*bool
}

func (c *cli) addMeasure() {
	f := &measureFlags{given: map[string]*bool{}}
	c.measure = f
	cmd := c.command("measure", measureHelp, "TARGET: the URL to measure (see above)", "", func(ctx context.Context, pos []string) int {
		target, opts, rep, errs := f.options(pos)
		if len(errs) > 0 {
			return c.usage(errs...)
		}
		if *f.family == "both" {
			return c.measureBoth(ctx, target, opts, rep.Output)
		}
		rep.Logger = c.logger()
		rep.Progress = term.IsTerminalWriter(c.stdout)
		rep.Width = func() int { return term.Width(c.stdout) }
		if *f.direction == directionBoth {
			_, err := report.MeasureBoth(ctx, target, opts, rep, c.stdout)
			return c.exit(err)
		}
		_, err := report.Measure(ctx, target, opts, rep, c.stdout)
		return c.exit(err)
	})
	f.search = addSearchFlags(cmd)
	flag := func(name, help string) *kingpin.FlagClause {
		f.given[name] = new(bool)
		return cmd.Flag(name, help).IsSetByUser(f.given[name])
	}
	f.timeout = cmd.Flag("timeout", "Trial timeout: bounds dialing, handshakes and every reuse; also the TCP_USER_TIMEOUT, so a black hole cannot hold a trial for minutes.").Default(durfmt.Short(prober.DefaultTimeout)).Duration()
	f.insecure = flag("insecure", "https, h2, wss, grpcs: do not verify the server certificate.").Bool()
	f.caFile = flag("ca-file", "https, h2, wss, grpcs: PEM file with the CA certificates to trust instead of the system pool.").PlaceHolder("FILE").String()
	f.serverName = flag("server-name", "https, h2, wss, grpcs: TLS server name (SNI and certificate check) when it differs from the target host.").PlaceHolder("NAME").String()
	f.passwordFile = flag("password-file", "postgres, mysql, redis(s): read the login's password from FILE (one trailing newline is dropped).").PlaceHolder("FILE").String()
	f.passwordEnv = flag("password-env", "postgres, mysql, redis(s): read the login's password from the environment variable NAME.").PlaceHolder("NAME").String()
	f.method = flag("method", "http(s), h2(c): request method.").Default(http.MethodGet).String()
	f.headers = flag("header", "http(s), h2(c): extra request header; repeat for more.").PlaceHolder(`"Name: value"`).Strings()
	f.host = flag("host", "http(s), h2(c): Host header (:authority for HTTP/2; default: from the target).").PlaceHolder("NAME").String()
	f.body = flag("body", "http(s), h2(c): request body (sent with Content-Length on every request).").String()
	f.bodyFile = flag("body-file", "http(s), h2(c): read the request body from FILE.").PlaceHolder("FILE").String()
	f.proxy = cmd.Flag("proxy", "Forward proxy every connection goes through, for every scheme: http://HOST:PORT (HTTP CONNECT) or socks5://HOST:PORT. No credentials in the URL: see --proxy-credentials-file.").PlaceHolder("URL").String()
	f.proxyCreds = cmd.Flag("proxy-credentials-file", `--proxy: file holding "user:password" on one line (Basic for CONNECT, username/password for SOCKS5); never logged.`).PlaceHolder("FILE").String()
	f.proxyIdle = cmd.Flag("proxy-idle-timeout", "--proxy: the proxy's own idle timeout for tunnels as configured (Squid read_timeout, Dante timeout.io), so that the result can say whether the proxy is the hop that closed.").Default("0s").Duration()
	f.send = flag("send", `tcp: reuse payload; \r \n \t \0 \\ \xHH escapes are expanded (default "\r\n"). ws, wss: the reuse message (default "idleprobe N").`).String()
	f.expect = flag("expect", "tcp: the answer must contain this string (escapes as for --send); without it, reuse succeeds once the payload is acknowledged. ws, wss: a message containing it answers the reuse (default: the message itself, an echo).").String()
	f.grpcService = flag("grpc-service", `grpc, grpcs: the service name of the grpc.health.v1.Health/Check call (default "": the server as a whole).`).PlaceHolder("NAME").String()
	f.ping = flag("ping", "ws, wss, grpc, grpcs: after finding a limit, check whether the protocol's ping (WebSocket ping, HTTP/2 PING) every INTERVAL keeps the path alive past it, and whether the server accepts that interval (gRPC: GOAWAY too_many_pings).").PlaceHolder("INTERVAL").Duration()
	f.output = cmd.Flag("output", "Result format: text (summary and advice), json (one object), prom (Prometheus text format, for a textfile collector), svg (a chart of the trials), html (a page with the chart and the summary).").Default(report.Outputs[0]).Enum(report.Outputs...)
	f.name = cmd.Flag("name", "Name of the path: the path label of --output prom and --push-gateway, the title of svg and html (default: the target).").String()
	f.pushURL = cmd.Flag("push-gateway", `Push a complete result to the Pushgateway at this URL (job "idleprobe", grouped by path).`).PlaceHolder("URL").String()
	f.whichHop = cmd.Flag("which-hop", whichHopHelp).Default("true").Bool()
	f.family = addFamilyFlag(cmd)
	f.direction = cmd.Flag("direction", "Who sends after the idle time: client (the client reuses the connection; the default, but for udp), server (the server pushes and the bytes must arrive; tcp against the responder's push service, udp; the default for udp), or both (two measurements at once, reported side by side; text or json output).").
		Enum(prober.DirectionClient, prober.DirectionServer, directionBoth)
	f.kal = cmd.Flag("keepalive", "After finding a limit, check whether TCP keepalive at the client's settings keeps the path alive past it: IDLE[,INTERVAL[,COUNT]] in whole seconds, e.g. 30s,75s,9 (INTERVAL defaults to IDLE, COUNT to 9).").PlaceHolder("IDLE[,INTERVAL[,COUNT]]").String()
}

// whichHopHelp is the help of measure's and serve's --which-hop.
const whichHopHelp = "Tell who ended each failed connection, the server or a hop before it, from the TTL of its RST or FIN against the server's SYN-ACK (a packet capture: needs CAP_NET_RAW; without it the result says so). --no-which-hop turns it off."

// options checks measure's flags against the target and turns them into
// the measurement to run and how to report it, or every problem found, one
// per line naming its flag. Every check of measure's command line is here.
func (f *measureFlags) options(pos []string) (prober.Target, prober.Options, report.Options, []string) {
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
	settings := f.search.settings()
	// The path the flags describe is checked with the config file's rules
	// (configs.Path.Check): the command line accepts and refuses exactly
	// what a config file does, naming the flags.
	p := configs.NewPath("measure", strings.Join(pos, " ")).WithSettings(settings)
	p.TrialTimeout = *f.timeout
	errs = f.directionChoice(&p, errs)
	p.TLS = configs.TLS{InsecureSkipVerify: *f.insecure, CAFile: *f.caFile, ServerName: *f.serverName}
	p.Auth = configs.Auth{PasswordFile: *f.passwordFile, PasswordEnv: *f.passwordEnv}
	p.Request.Method, p.Request.Host = *f.method, *f.host
	p.Proxy = configs.Proxy{URL: *f.proxy, CredentialsFile: *f.proxyCreds, IdleTimeout: *f.proxyIdle}
	errs = headers(&p.Request, *f.headers, errs)
	switch {
	case *f.body != "" && *f.bodyFile != "":
		errs = append(errs, "--body-file: give either --body or --body-file, not both")
	case *f.body != "":
		p.Request.Body = *f.body
	case *f.bodyFile != "":
		b, err := os.ReadFile(*f.bodyFile)
		if err != nil {
			errs = append(errs, "--body-file: "+oneLine(err.Error()))
		}
		p.Request.Body = string(b)
	}
	for _, v := range []struct {
		flag, s string
		to      *string
	}{{"send", *f.send, f.payloadOf(&p, target.Scheme, true)}, {"expect", *f.expect, f.payloadOf(&p, target.Scheme, false)}} {
		if v.s == "" {
			continue
		}
		b, err := cliflags.Unescape(v.s)
		if err != nil {
			errs = append(errs, fmt.Sprintf("--%s: %q %s", v.flag, v.s, err))
			continue // said once; the config's check would only add "empty"
		}
		*v.to = string(b)
	}
	kalParts := 0
	if *f.kal != "" {
		k, err := cliflags.Keepalive(*f.kal)
		switch {
		case err != nil:
			errs = append(errs, "--keepalive: "+err.Error())
		case k != nil:
			p.TCPKeepalive = configs.TCPKeepalive{Idle: k.Idle, Interval: k.Interval, Count: k.Count}
			kalParts = strings.Count(*f.kal, ",") + 1
		}
	}
	p.GRPC.HealthService = *f.grpcService
	p.PingKeepalive.Interval = *f.ping
	emptySend := *f.given["send"] && *f.send == ""
	ws := target.Scheme == "ws" || target.Scheme == "wss"
	given := map[string]bool{"tcp.send": emptySend && !ws, "websocket.send": emptySend && ws,
		"ping_keepalive.interval": *f.given["ping"]}
	for i, part := range []string{"idle", "interval", "count"} {
		given["tcp_keepalive."+part] = i < kalParts
	}
	src := configs.MeasureFlags
	src.Given = func(key string) bool { return given[key] }
	if target.Scheme != "" {
		errs = append(errs, errLines(p.Check(src))...)
	} else {
		errs = append(errs, errLines(configs.CheckSettings(settings, src))...)
	}
	if u, err := url.Parse(*f.pushURL); *f.pushURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		errs = append(errs, fmt.Sprintf("--push-gateway: %q is not an http(s) URL (example: http://pushgateway:9091)", *f.pushURL))
	}
	errs = append(errs, f.schemeErrors(target)...)
	families, err := configs.ParseFamily(*f.family)
	if err != nil {
		errs = append(errs, "--ip-family: "+err.Error())
	} else if len(families) > 1 {
		errs = append(errs, bothErrors(*f.output, *f.pushURL, *f.kal)...)
	}
	errs = append(errs, f.search.hintErrors()...)
	var opts prober.Options
	if len(errs) == 0 {
		target, opts = p.Measurement()
		opts.WhichHop = *f.whichHop
		opts.Transport.Family = families[0]
		opts.Plan.Hint = settings.Hint
	}
	return target, opts, report.Options{Output: *f.output, Name: *f.name, PushURL: *f.pushURL}, errs
}

// headers adds the --header flags to r, appending a line to errs for each
// one that is not of the form "Name: value" or names a header twice; the
// name and value themselves are checked with the config's rules.
func headers(r *configs.Request, flags []string, errs []string) []string {
	for _, f := range flags {
		name, value, ok := strings.Cut(f, ":")
		if !ok {
			errs = append(errs, fmt.Sprintf("--header: %q is not a header (example: \"Authorization: Bearer xyz\")", f))
			continue
		}
		if err := r.AddHeader(strings.TrimSpace(name), strings.TrimSpace(value)); err != nil {
			errs = append(errs, "--header: "+err.Error())
		}
	}
	return errs
}

// schemeErrors rejects the flags that the target's protocol would silently
// ignore: they are mistakes.
func (f *measureFlags) schemeErrors(target prober.Target) []string {
	scheme := target.Scheme
	var errs []string
	only := func(schemes string, names ...string) {
		for _, n := range names {
			if *f.given[n] {
				errs = append(errs, fmt.Sprintf("--%s: only for %s targets, not %s://", n, schemes, scheme))
			}
		}
	}
	const (
		tlsSchemes  = "https, h2, wss, grpcs, rediss and postgres (with sslmode)"
		dbSchemes   = "postgres, mysql, redis and rediss"
		sendSchemes = "tcp, ws and wss"
	)
	if !target.UsesTLS() {
		only(tlsSchemes, "insecure", "ca-file", "server-name")
	}
	switch scheme {
	case "postgres", "mysql", "redis", "rediss":
	default:
		only(dbSchemes, "password-file", "password-env")
	}
	switch scheme {
	case "tcp":
		only("http(s) and h2(c)", "method", "header", "host", "body", "body-file")
	case "udp":
		only("http(s) and h2(c)", "method", "header", "host", "body", "body-file")
		only(sendSchemes, "send", "expect")
	case "http", "h2c", "https", "h2":
		only(sendSchemes, "send", "expect")
	case "ws", "wss":
		only("http(s) and h2(c)", "method", "body", "body-file")
	case "grpc", "grpcs":
		only("http(s) and h2(c)", "method", "body", "body-file")
		only(sendSchemes, "send", "expect")
	case "postgres", "mysql", "redis", "rediss":
		only("http(s) and h2(c)", "method", "header", "host", "body", "body-file")
		only(sendSchemes, "send", "expect")
	}
	if scheme != "grpc" && scheme != "grpcs" {
		only("grpc and grpcs", "grpc-service")
	}
	return errs
}

// payloadOf is where --send (send) or --expect goes for scheme: the
// websocket block for ws and wss, else tcp.
func (f *measureFlags) payloadOf(p *configs.Path, scheme string, send bool) *string {
	b := &p.TCP
	if scheme == "ws" || scheme == "wss" {
		b = &p.WebSocket
	}
	if send {
		return &b.Send
	}
	return &b.Expect
}

// oneLine joins a possibly multi-line message into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
