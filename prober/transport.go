package prober

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// Conn is one kept-alive connection under test. While idle it sends
// nothing (no TCP keepalive, no pings) and keeps one pending read that
// notices a FIN or RST the moment it arrives.
// Methods other than Closed and IdleSince must not be called concurrently.
type Conn interface {
	// Opened is when the connection's TCP handshake completed: connection
	// age (for lifetime limits) counts from it.
	Opened() time.Time
	// IdleSince is when the last exchange on the connection ended.
	IdleSince() time.Time
	// Closed is closed when the peer or a hop ended the connection while it
	// was idle. CloseInfo then tells when and how.
	Closed() <-chan struct{}
	// CloseInfo returns the moment the idle close was seen and a short
	// description ("EOF", "connection reset by peer"). Valid once Closed is closed.
	CloseInfo() (at time.Time, detail string)
	// Reuse sends the reuse payload (request) and classifies what the path
	// answers. It returns within the trial timeout (or when ctx ends). After
	// an OK reply the connection is idle again and watched; after any other
	// outcome the caller must Close it. A close that was seen while idle
	// yields ClosedIdle without sending anything.
	Reuse(ctx context.Context) Reply
	// Close releases the connection and stops its watcher. It is safe to call
	// more than once.
	Close() error
	// Hints returns what the server advertised in its latest answer on this
	// connection (the opening exchange, then each reuse); zero for tcp.
	Hints() Hints
}

// Reply is the outcome of one reuse.
type Reply struct {
	Outcome plan.Outcome
	// Start is when the first byte of the reuse was written; End is when the
	// outcome was known.
	Start, End time.Time
	// Detail is a short reason: the error text, or the status line.
	Detail string
	// Retired is set on an OK reply after which the server ended the
	// connection itself (HTTP Connection: close, HTTP/2 GOAWAY): the caller
	// must Close it, and it is not evidence for longer idle times.
	Retired bool
}

// Hints is what a server advertised about keeping a connection.
type Hints struct {
	// KeepAliveTimeout and KeepAliveMax are the values of the latest HTTP
	// "Keep-Alive: timeout=N, max=M" response header (0 when absent). For
	// postgres, mysql, redis and rediss, KeepAliveTimeout is the server's own
	// idle limit read at login (idle_session_timeout, wait_timeout, Redis
	// timeout; 0 when off or not readable).
	KeepAliveTimeout time.Duration
	KeepAliveMax     int
	// CloseClock is the clock the server named when it closed the
	// connection while idle: plan.Lifetime for a gRPC GOAWAY "max_age"
	// (grpc-go's MaxConnectionAge), plan.Idle for "max_idle"
	// (MaxConnectionIdle); "" when it named none.
	CloseClock plan.Kind
}

// Transport opens connections to one target.
type Transport interface {
	// Open dials the target, completes any handshake and first exchange (an
	// HTTP request, for http/https), and returns the connection idle and
	// watched. An error wraps ErrUnusable (refused, DNS, TLS, bad response).
	Open(ctx context.Context) (Conn, error)
}

// Target is a parsed measurement target.
type Target struct {
	// Scheme is tcp, http, https, h2 (HTTP/2 over TLS), h2c (cleartext
	// HTTP/2 with prior knowledge), ws, wss (WebSocket), grpc or grpcs,
	// udp, postgres, mysql, redis or rediss (Redis over TLS).
	Scheme string
	// Address is host:port to dial.
	Address string
	// URL is the full target (path and query used by http, https, h2, h2c;
	// user and database by postgres, mysql, redis and rediss). It never
	// holds a password.
	URL *url.URL
}

// String returns the target in URL form.
func (t Target) String() string { return t.URL.String() }

// Schemes lists the supported target schemes.
var Schemes = []string{"tcp", "http", "https", "h2", "h2c", "ws", "wss", "grpc", "grpcs", "udp", "postgres", "mysql", "redis", "rediss"}

// ParseTarget parses tcp://host:port, http://host[:port]/path,
// https://host[:port]/path, h2://host[:port]/path (HTTP/2 over TLS, port
// 443 by default), h2c://host[:port]/path (cleartext HTTP/2, port 80),
// and the database targets postgres://user@host[:port]/db (port 5432),
// mysql://user@host[:port][/db] (port 3306) and redis://[user@]host[:port]
// or rediss://[user@]host[:port] (Redis over TLS, port 6379). A password in
// the URL is refused: it comes from Credentials.
func ParseTarget(s string) (Target, error) {
	u, err := url.Parse(s)
	if err == nil && u.User != nil {
		if _, set := u.User.Password(); set {
			return Target{}, fmt.Errorf("target %q has a password in the URL: refused (it would show in process lists and logs); give it in a password file or environment variable", u.Redacted())
		}
	}
	if err != nil || u.Scheme == "" || u.Host == "" {
		return Target{}, fmt.Errorf("target %q is not a URL (examples: tcp://192.0.2.1:6379, http://svc:8080/healthz, https://example.com/)", redactRaw(s))
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	switch scheme {
	case "tcp", "udp":
		if port == "" {
			return Target{}, fmt.Errorf("target %q: %s targets need a port (example: %s://%s:9090)", u.Redacted(), scheme, scheme, u.Hostname())
		}
	case "http", "h2c":
		if port == "" {
			port = "80"
		}
	case "https", "h2":
		if port == "" {
			port = "443"
		}
	case "ws":
		if port == "" {
			port = "80"
		}
	case "wss":
		if port == "" {
			port = "443"
		}
	case "grpc", "grpcs":
		if port == "" {
			return Target{}, fmt.Errorf("target %q: gRPC targets need a port (example: %s://%s:50051)", u.Redacted(), scheme, u.Hostname())
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return Target{}, fmt.Errorf("target %q: a gRPC target has no path (the health service name is a setting of its own; example: %s://%s)", u.Redacted(), scheme, u.Host)
		}
	case "postgres", "mysql", "redis", "rediss":
		if port == "" {
			port = dbPorts[scheme]
		}
		if err := checkDBTarget(scheme, u); err != nil {
			return Target{}, err
		}
	default:
		return Target{}, fmt.Errorf("target %q: unknown scheme %q (valid: %s)", u.Redacted(), u.Scheme, strings.Join(Schemes, ", "))
	}
	if u.Hostname() == "" {
		return Target{}, fmt.Errorf("target %q has no host", u.Redacted())
	}
	u.Scheme = scheme
	return Target{Scheme: scheme, Address: net.JoinHostPort(u.Hostname(), port), URL: u}, nil
}

// TransportOptions configure how connections are opened and reused.
type TransportOptions struct {
	// Timeout bounds dialing, the handshake, the first exchange and every
	// reuse. It is also the TCP_USER_TIMEOUT, so a black hole cannot hold a
	// trial for the minutes of kernel retransmissions. Default 5s.
	Timeout time.Duration

	// Send is the tcp reuse payload (default "\r\n"). Expect, when set, is
	// a string the answer must contain (e.g. "+PONG" for Redis "PING\r\n");
	// without it, tcp reuse succeeds once the payload is acknowledged.
	Send   []byte
	Expect []byte

	// Method, Header, Host and Body shape the HTTP request (default GET,
	// no body, Host from the URL).
	Method string
	Header http.Header
	Host   string
	Body   []byte

	// GRPCService is the service name of the gRPC health check (grpc,
	// grpcs); empty asks for the server as a whole.
	GRPCService string

	// InsecureSkipVerify, CAFile and ServerName configure TLS for https,
	// h2, wss, grpcs, rediss and postgres with sslmode.
	InsecureSkipVerify bool
	CAFile             string
	ServerName         string

	// Direction is who sends first after the idle time: DirectionClient
	// or DirectionServer ("" is the scheme's default). The server
	// direction is for ServerDirectionSchemes (ValidateDirection): tcp
	// against the responder's push service (push.go), and udp.
	Direction string

	// Family is the address family to connect over: FamilyIPv4,
	// FamilyIPv6, or FamilyAny ("", the default: whatever the resolver
	// gives first, as the system would). A name without an address of
	// the family is unusable ("api.example has no IPv6 address").
	Family string
	// Resolver overrides name resolution; nil is the system's resolver.
	Resolver *net.Resolver
	// Credentials give the password of postgres, mysql, redis and rediss
	// logins (the user is in the target URL).
	Credentials Credentials

	// Proxy, when set, is the forward proxy every connection goes through
	// (HTTP CONNECT or SOCKS5), whatever the scheme.
	Proxy *Proxy

	// keepalive, when set, turns TCP keepalive on at these settings. Only
	// the keepalive check (keepalive.go) sets it; trial connections never
	// send anything while idle.
	keepalive *net.KeepAliveConfig
	// ping, when positive, makes ws and grpc connections send their
	// protocol's ping every ping while idle. Only the ping check sets it.
	ping time.Duration
}

// Address families of TransportOptions.Family.
const (
	FamilyAny  = ""
	FamilyIPv4 = "4"
	FamilyIPv6 = "6"
)

// Families lists the valid values of TransportOptions.Family other than
// FamilyAny.
var Families = []string{FamilyIPv4, FamilyIPv6}

// FamilyName is how a family is shown: "IPv4", "IPv6", or "" for
// FamilyAny.
func FamilyName(family string) string {
	if family == FamilyAny {
		return ""
	}
	return "IPv" + family
}

// network is the Go network name for proto ("tcp", "udp") restricted to
// the family: "tcp4", "udp6", or proto itself for FamilyAny.
func network(proto, family string) string { return proto + family }

// DefaultTimeout is the trial timeout used when none is given (the one the
// planner's automatic deadline assumes).
const DefaultTimeout = plan.DefaultTrialTimeout

// trialTimeout is the trial timeout in effect: Timeout, or DefaultTimeout
// when it is not set.
func (o TransportOptions) trialTimeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}
