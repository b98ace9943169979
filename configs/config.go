// Package configs loads and validates the YAML configuration of
// `idleprobe serve`: which paths to measure, on what schedule, and with which
// search and connection settings. See CONFIGURATION.md at the repository root
// for every field, its default and the validation rules.
//
// Loading goes in three steps: built-in defaults, then the file's
// `defaults:` block, then each path's own values; the result is validated as
// a whole and every problem is reported with its file, line and field path.
package configs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Built-in defaults that are not search settings (those come from
// plan.Defaults and prober.DefaultTimeout).
const (
	// DefaultSchedule is the schedule of a path that sets none.
	DefaultSchedule = "@every 6h"
	// DefaultMaxConnections is the global cap on live trial connections
	// across all paths.
	DefaultMaxConnections = 256
	// MaxJitterDefault caps the default jitter (10 % of the schedule period).
	MaxJitterDefault = 5 * time.Minute
	// MaxIdleLimit is the largest max_idle accepted, in a config file and
	// on the command line (Path.Check): a measurement of a longer limit
	// would take days.
	MaxIdleLimit = 7 * 24 * time.Hour
)

// Config is a loaded, validated configuration.
type Config struct {
	// File is the file the configuration was read from, as given to Load or
	// Parse.
	File string
	// MaxConnections caps the trial connections open at once across all
	// paths.
	MaxConnections int
	// Paths are the measured paths with every default applied, in file order.
	Paths []Path

	maxConnLine int
	maxConnBad  bool // max_connections could not be decoded
}

// Path is one measured path with every setting resolved (built-in defaults,
// then the defaults block, then the path's own values). Maps are shared
// between copies of a Path: treat them as read-only.
type Path struct {
	// Name is unique within the file and is the `path` label of every metric.
	Name string
	// Target is the target as written: tcp://host:port, http://host[:port]/path,
	// https://host[:port]/path, h2://host[:port]/path (HTTP/2 over TLS) or
	// h2c://host[:port]/path (cleartext HTTP/2 with prior knowledge).
	Target string
	// Schedule is a robfig/cron/v3 expression (optional seconds field,
	// descriptors such as "@every 6h" and "@daily", CRON_TZ= prefix).
	Schedule string
	// Jitter is the most a scheduled start is delayed at random, so that
	// paths do not all start together.
	Jitter time.Duration

	// Search settings (see plan.Settings).
	MinIdle        time.Duration
	MaxIdle        time.Duration
	Precision      float64
	PrecisionFloor time.Duration
	Strategy       plan.Strategy
	Budget         int
	Confirm        int
	// Hint says whether `serve` may start a measurement from the path's
	// last result (HintAuto, the default) or always runs a full search
	// (HintOff).
	Hint string
	// Direction is who sends after the idle time: prober.DirectionClient
	// (the client reuses the connection) or prober.DirectionServer (the
	// server pushes to it; tcp and udp); "" is the scheme's default.
	Direction string
	// TrialTimeout bounds dialing, handshakes and every reuse.
	TrialTimeout time.Duration
	// Deadline is the longest one measurement may run before it ends
	// inconclusive; 0 means plan.AutoDeadline for the path's settings and
	// trial timeout.
	Deadline time.Duration

	// TLS, Request and TCP shape connections and reuses; each applies only
	// to the target schemes that use it.
	TLS     TLS
	Request Request
	TCP     TCP
	// Auth says where the password of a postgres, mysql, redis or rediss
	// login comes from (the user is in the target).
	Auth Auth

	// TCPKeepalive, when its Idle is set, asks for the keepalive check after
	// every search that finds a limit: does TCP keepalive at the client's
	// settings keep the path alive past it? The zero value: no check.
	TCPKeepalive TCPKeepalive

	// Proxy is the forward proxy the path goes through; its zero value
	// (URL "") connects directly.
	Proxy Proxy

	// WebSocket shapes the reuse message of ws and wss targets; GRPC the
	// health check of grpc and grpcs targets.
	WebSocket TCP
	GRPC      GRPC
	// PingKeepalive, when its Interval is set, asks for the ping check
	// after every search that finds a limit (ws, wss, grpc, grpcs): does
	// the protocol's ping every Interval keep the path alive past it, and
	// does the server accept that interval? The zero value: no check.
	PingKeepalive PingKeepalive

	// ClientIdleTimeout is how long the real client keeps an idle connection
	// (e.g. nginx upstream keepalive_timeout); 0 when not configured. It
	// drives the margin metric and the advice.
	ClientIdleTimeout time.Duration
	// Labels are copied onto every metric of this path.
	Labels map[string]string
	// Group names the backend this path reaches, shared by the paths that
	// reach the same backend through different hops (pod IP, ClusterIP,
	// NodePort, load balancer); "" for none. The landing page, the
	// dashboard and idleprobe_path_group_info compare a group's paths.
	Group string
	// IPFamily is the address family to connect over: "4", "6", "" (the
	// resolver's first address) or, as written in a file, "both", which
	// Parse turns into two paths (see ExpandFamilies).
	IPFamily string

	line   int               // line of the path's entry in the file
	index  int               // position in the paths list
	origin map[string]origin // where each set value came from, by dotted key
	bad    map[string]bool   // dotted keys whose value could not be decoded
}

// TLS configures https, h2, rediss and postgres (with sslmode) targets.
type TLS struct {
	// InsecureSkipVerify turns off certificate verification.
	InsecureSkipVerify bool
	// CAFile is a PEM bundle of trusted roots (resolved against the config
	// file's directory when relative); empty means the system roots.
	CAFile string
	// ServerName overrides the SNI and verified name (default: the target host).
	ServerName string
}

// Auth gives the password of database and Redis logins: from a file or an
// environment variable, never from the config or command line itself.
type Auth struct {
	// PasswordFile names a file holding the password (resolved against the
	// config file's directory when relative).
	PasswordFile string
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string
}

// Request configures the HTTP request of http, https, h2 and h2c targets.
type Request struct {
	// Method is the request method; empty means GET.
	Method string
	// Headers are extra request headers, keyed by canonical name.
	Headers map[string]string
	// Host overrides the Host header (default: from the target).
	Host string
	// Body is sent with every request.
	Body string
}

// AddHeader adds the header name: value to r.Headers under its canonical
// name, for a front end that collects headers one by one ("--header
// 'Name: value'"). Names are case-insensitive and a header is given once,
// as in a config file: a second value for a name is an error. The name and
// value themselves are checked by Path.Check.
func (r *Request) AddHeader(name, value string) error {
	canonical := http.CanonicalHeaderKey(name)
	if _, dup := r.Headers[canonical]; dup {
		return fmt.Errorf("%s: duplicate name (%s is given already; give each header once)", name, canonical)
	}
	if r.Headers == nil {
		r.Headers = map[string]string{}
	}
	r.Headers[canonical] = value
	return nil
}

// TCP configures the reuse of tcp targets.
type TCP struct {
	// Send is written on every reuse; empty means the transport default
	// ("\r\n").
	Send string
	// Expect, when set, must appear in the answer for the reuse to count as
	// a success; otherwise the path is alive once Send is acknowledged.
	Expect string
}

// Proxy is a forward proxy a path goes through, for every scheme.
type Proxy struct {
	// URL is http://HOST:PORT (HTTP CONNECT) or socks5://HOST:PORT,
	// without credentials; "" connects directly (and turns off a proxy
	// of the defaults block).
	URL string
	// CredentialsFile holds "user:password" on one line (resolved
	// against the config file's directory when relative); "" for none.
	CredentialsFile string
	// IdleTimeout is the proxy's own idle timeout for tunnels as
	// configured (Squid read_timeout, Dante timeout.io), 0 when unknown:
	// with it the result says whether the proxy is the hop that closed.
	IdleTimeout time.Duration
}

// Prober returns the prober's proxy for these settings, or nil for a
// direct path. The URL must have passed validation.
func (p Proxy) Prober() *prober.Proxy {
	if p.URL == "" {
		return nil
	}
	u, err := prober.ParseProxyURL(p.URL)
	if err != nil {
		return nil
	}
	return &prober.Proxy{URL: u, CredentialsFile: p.CredentialsFile, IdleTimeout: p.IdleTimeout}
}

// TCPKeepalive is the client's TCP keepalive configuration, for the
// keepalive check (see prober.KeepaliveCheck).
type TCPKeepalive struct {
	// Idle is the idle time before the first probe (TCP_KEEPIDLE,
	// net.ipv4.tcp_keepalive_time); 0 means no check.
	Idle time.Duration
	// Interval is the time between probes (TCP_KEEPINTVL); 0 means Idle.
	Interval time.Duration
	// Count is how many unanswered probes end the connection (TCP_KEEPCNT);
	// 0 means 9.
	Count int
}

// Check returns the prober's keepalive check for these settings, or nil
// when no check is configured.
func (k TCPKeepalive) Check() *prober.KeepaliveCheck {
	if k.Idle == 0 {
		return nil
	}
	return &prober.KeepaliveCheck{Idle: k.Idle, Interval: k.Interval, Count: k.Count}
}

// GRPC configures the health check of grpc and grpcs targets.
type GRPC struct {
	// HealthService is the service name asked of grpc.health.v1.Health/Check;
	// empty asks for the server as a whole.
	HealthService string
}

// PingKeepalive is the client's protocol ping setting (a WebSocket ping
// interval, gRPC keepalive.ClientParameters Time), for the ping check (see
// prober.KeepaliveCheck.Ping).
type PingKeepalive struct {
	// Interval is the time between pings; 0 means no check.
	Interval time.Duration
}

// Check returns the prober's ping check for this setting, or nil when no
// check is configured.
func (k PingKeepalive) Check() *prober.KeepaliveCheck {
	if k.Interval == 0 {
		return nil
	}
	return &prober.KeepaliveCheck{Ping: true, Interval: k.Interval}
}

// rescueCheck is the path's keepalive or ping check, or nil.
func (p Path) rescueCheck() *prober.KeepaliveCheck {
	if k := p.PingKeepalive.Check(); k != nil {
		return k
	}
	return p.TCPKeepalive.Check()
}

// origin records where a resolved value came from.
type origin struct {
	line  int
	field string // display path, e.g. "paths[2].max_idle" or "defaults.max_idle"
}

// Load reads and parses the configuration file at path. On error the Config
// is nil; warnings are returned whenever they could be determined.
func Load(path string) (*Config, []Warning, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(data, path)
}

// Parse parses and validates a configuration. filename is used in messages
// and to resolve relative file references (tls.ca_file). Every problem is
// reported (joined with errors.Join, each an *Error, sorted by line); on
// error the Config is nil.
func Parse(data []byte, filename string) (*Config, []Warning, error) {
	if filename == "" {
		filename = "<input>"
	}
	c, probs := decode(data, filename)
	if c == nil {
		warns, err := probs.result()
		return nil, warns, err
	}
	warns, err := c.validate(probs)
	if err != nil {
		return nil, warns, err
	}
	if err := c.expandFamilies(); err != nil {
		return nil, warns, err
	}
	return c, warns, nil
}

// Path returns the path with the given name.
func (c *Config) Path(name string) (Path, bool) {
	for _, p := range c.Paths {
		if p.Name == name {
			return p, true
		}
	}
	return Path{}, false
}

// LabelNames returns the sorted union of the label names of all paths.
// Metric families need the same label names on every series: a path that
// lacks one of these labels exports it with an empty value.
func (c *Config) LabelNames() []string {
	seen := map[string]bool{}
	var names []string
	for _, p := range c.Paths {
		for k := range p.Labels {
			if !seen[k] {
				seen[k] = true
				names = append(names, k)
			}
		}
	}
	sort.Strings(names)
	return names
}

// The values of Path.Hint.
const (
	// HintAuto: `serve` starts a measurement from the path's last result
	// when it can trust it, and falls back to a full search otherwise.
	HintAuto = "auto"
	// HintOff: every measurement is a full search.
	HintOff = "off"
)

// Settings returns the path's search settings.
func (p Path) Settings() plan.Settings {
	return plan.Settings{
		Strategy:       p.Strategy,
		Min:            p.MinIdle,
		Max:            p.MaxIdle,
		Precision:      p.Precision,
		PrecisionFloor: p.PrecisionFloor,
		Budget:         p.Budget,
		Confirm:        p.Confirm,
		Deadline:       p.Deadline,
	}
}

// Measurement returns what prober.Measure needs to measure this path. The
// Options carry the search and transport settings; Limiter, Progress and
// Logger are left for the caller. Every call returns fresh values that the
// caller may modify. For a validated path the Target is always valid.
func (p Path) Measurement() (prober.Target, prober.Options) {
	target, _ := prober.ParseTarget(p.Target)
	t := prober.TransportOptions{
		Timeout:            p.TrialTimeout,
		Method:             p.Request.Method,
		Host:               p.Request.Host,
		InsecureSkipVerify: p.TLS.InsecureSkipVerify,
		CAFile:             p.TLS.CAFile,
		ServerName:         p.TLS.ServerName,
		Credentials:        prober.Credentials{PasswordFile: p.Auth.PasswordFile, PasswordEnv: p.Auth.PasswordEnv},
		Direction:          p.Direction,
	}
	if p.IPFamily != "both" {
		t.Family = p.IPFamily
	}
	send := p.TCP
	if target.Scheme == "ws" || target.Scheme == "wss" {
		send = p.WebSocket
	}
	if send.Send != "" {
		t.Send = []byte(send.Send)
	}
	if send.Expect != "" {
		t.Expect = []byte(send.Expect)
	}
	t.GRPCService = p.GRPC.HealthService
	if p.Request.Body != "" {
		t.Body = []byte(p.Request.Body)
	}
	if len(p.Request.Headers) > 0 {
		t.Header = make(http.Header, len(p.Request.Headers))
		for k, v := range p.Request.Headers {
			t.Header.Set(k, v)
		}
	}
	t.Proxy = p.Proxy.Prober()
	return target, prober.Options{Plan: p.Settings().WithDeadline(p.TrialTimeout), Transport: t, Keepalive: p.rescueCheck()}
}

// EffectiveDeadline is the deadline a measurement of the path runs with:
// deadline when set, else plan.AutoDeadline for its settings and
// trial_timeout.
func (p Path) EffectiveDeadline() time.Duration {
	return p.Settings().WithDeadline(p.TrialTimeout).Deadline
}

// WorstCase is the longest one measurement of the path can take: the
// search ends by its deadline (EffectiveDeadline), then, with
// tcp_keepalive (or ping_keepalive), the keepalive check holds one
// connection after a limit near max_idle and reuses it.
func (p Path) WorstCase() time.Duration {
	wc := p.EffectiveDeadline()
	if k := p.rescueCheck(); k != nil && wc < math.MaxInt64/2 {
		wc += k.HoldFor(p.MaxIdle, p.MaxIdle) + p.TrialTimeout
	}
	return wc
}

// Hash returns a digest of every setting of the path (not where in the file
// it was written). Two paths with the same Hash measure the same way, so a
// reload can keep the schedule and results of paths whose Hash is unchanged.
func (p Path) Hash() string {
	// fmt prints maps sorted by key, which gives a canonical form. Fields
	// that only say where the path was written are cleared first.
	q := p
	q.line, q.index, q.origin, q.bad = 0, 0, nil, nil
	b := []byte(fmt.Sprintf("%#v", q))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// Equal reports whether p and q have the same settings.
func (p Path) Equal(q Path) bool { return p.Hash() == q.Hash() }

// Line is the line of the path's entry in the config file (0 when the Path
// was not loaded from a file).
func (p Path) Line() int { return p.line }
