package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"
)

// NewTransport returns the transport for t's scheme (see Schemes),
// with o's defaults filled in. It fails on options that can never work
// (an unreadable CA file, an invalid header), naming the field.
func NewTransport(t Target, o TransportOptions) (Transport, error) {
	if t.URL == nil || t.Address == "" {
		return nil, errors.New("target has no address (parse it with ParseTarget)")
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("timeout %s is negative (use a positive duration such as 5s)", o.Timeout)
	}
	o.Timeout = o.trialTimeout()
	if err := ValidateDirection(t.Scheme, o.Direction); err != nil {
		return nil, fmt.Errorf("direction %w", err)
	}
	if o.Family != FamilyAny && o.Family != FamilyIPv4 && o.Family != FamilyIPv6 {
		return nil, fmt.Errorf("family %q is not an address family (valid: 4, 6, or empty for either)", o.Family)
	}
	d := &dialer{address: t.Address, timeout: o.Timeout, keepalive: o.keepalive, family: o.Family, resolver: o.Resolver}
	if err := d.viaProxy(o.Proxy, t.Scheme); err != nil {
		return nil, err
	}
	switch t.Scheme {
	case "tcp":
		if o.Direction == DirectionServer {
			return &pushTransport{d: d}, nil
		}
		return newTCPTransport(d, o), nil
	case "http":
		return newHTTPTransport(t, d, o, nil)
	case "https":
		cfg, err := newTLSConfig(t, o)
		if err != nil {
			return nil, err
		}
		return newHTTPTransport(t, d, o, cfg)
	case "h2c":
		return newH2Transport(t, d, o, nil)
	case "h2":
		cfg, err := newTLSConfig(t, o)
		if err != nil {
			return nil, err
		}
		return newH2Transport(t, d, o, cfg)
	case "redis":
		return newRedisTransport(t, d, o, nil)
	case "rediss":
		cfg, err := newTLSConfig(t, o)
		if err != nil {
			return nil, err
		}
		cfg.NextProtos = nil // Redis negotiates no protocol
		return newRedisTransport(t, d, o, cfg)
	case "postgres":
		return newPostgresTransport(t, d, o)
	case "mysql":
		return newMySQLTransport(t, d, o)
	case "udp":
		return newUDPTransport(t, o)
	case "ws":
		return newWSTransport(t, d, o, nil)
	case "wss":
		cfg, err := newTLSConfig(t, o)
		if err != nil {
			return nil, err
		}
		return newWSTransport(t, d, o, cfg)
	case "grpc":
		return newGRPCTransport(t, d, o, nil)
	case "grpcs":
		cfg, err := newTLSConfig(t, o)
		if err != nil {
			return nil, err
		}
		return newGRPCTransport(t, d, o, cfg)
	}
	return nil, fmt.Errorf("unknown scheme %q (valid: %s)", t.Scheme, strings.Join(Schemes, ", "))
}

// dialer opens raw TCP connections that stay silent while idle.
type dialer struct {
	address string
	timeout time.Duration
	// resolver overrides name resolution (tests); nil uses the default.
	resolver *net.Resolver
	// keepalive turns TCP keepalive on (the keepalive check only); nil,
	// for every trial, keeps it off.
	keepalive *net.KeepAliveConfig
	// family restricts the addresses dialed (TransportOptions.Family):
	// through a proxy, those of the proxy.
	family string
	// proxy, when set, is the forward proxy: the TCP connection goes to
	// it, and the tunnel to address is set up on it (proxy.go).
	proxy *tunneler
}

// viaProxy makes d connect through p (nil: directly), reading its
// credentials file now. A proxy tunnels TCP: a udp target cannot use one.
func (d *dialer) viaProxy(p *Proxy, scheme string) error {
	if p == nil {
		return nil
	}
	if scheme == "udp" {
		return fmt.Errorf("proxy %s: udp targets cannot go through a proxy (HTTP CONNECT and SOCKS5 CONNECT tunnel TCP)", p)
	}
	tn, err := newTunneler(p)
	if err != nil {
		return err
	}
	d.proxy = tn
	return nil
}

// dialed is the address d opens its TCP connection to: the target's, or
// the proxy's.
func (d *dialer) dialed() string {
	if d.proxy != nil {
		return d.proxy.address()
	}
	return d.address
}

// peer is what d connects to, for messages: the address, or the proxy.
func (d *dialer) peer() string {
	if d.proxy != nil {
		return "proxy " + d.proxy.url.String()
	}
	return d.address
}

// dial connects with TCP keepalive off (nothing is sent while idle) and
// TCP_USER_TIMEOUT set to the trial timeout. The error wraps ErrUnusable
// unless ctx itself was canceled.
//
// Through a proxy, the socket is the one to the proxy, with the same
// settings, and the tunnel to the address is open on it when dial returns
// (bounded by ctx): every scheme speaks its protocol over it unchanged.
//
// A dialer of the keepalive check instead turns keepalive on at exactly its
// settings and leaves TCP_USER_TIMEOUT off: with it, Linux would abort the
// connection one user timeout after the first unanswered probe instead of
// after Count probes, which is not how the client behaves. Its reuse is
// still bounded by the trial timeout.
func (d *dialer) dial(ctx context.Context) (*net.TCPConn, syscall.RawConn, error) {
	nd := net.Dialer{
		Timeout:         d.timeout,
		KeepAlive:       -1,
		KeepAliveConfig: net.KeepAliveConfig{Enable: false},
		Resolver:        d.resolver,
		ControlContext: func(_ context.Context, _, _ string, c syscall.RawConn) error {
			if d.keepalive != nil {
				return nil
			}
			var serr error
			if err := c.Control(func(fd uintptr) { serr = setUserTimeout(fd, d.timeout) }); err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("set TCP_USER_TIMEOUT: %w", serr)
			}
			return nil
		},
	}
	if d.keepalive != nil {
		nd.KeepAlive = 0
		nd.KeepAliveConfig = *d.keepalive
		nd.KeepAliveConfig.Enable = true
	}
	nc, err := nd.DialContext(ctx, network("tcp", d.family), d.dialed())
	if err != nil {
		return nil, nil, d.dialError(ctx, err)
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return nil, nil, unusable(fmt.Sprintf("connect %s: not a TCP connection", d.peer()), nil)
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		tc.Close()
		return nil, nil, unusable(fmt.Sprintf("connect %s: %v", d.peer(), err), err)
	}
	if d.proxy != nil {
		if err := d.proxy.tunnel(ctx, tc, d.address, d.timeout); err != nil {
			tc.Close()
			return nil, nil, err
		}
	}
	return tc, rc, nil
}

// dialError turns a dial error into one line saying what failed.
func (d *dialer) dialError(ctx context.Context, err error) error {
	if ctx.Err() == context.Canceled {
		return fmt.Errorf("connect %s: %w", d.peer(), ctx.Err())
	}
	var dnsErr *net.DNSError
	var addrErr *net.AddrError
	switch {
	case d.family != FamilyAny && (errors.As(err, &addrErr) || errors.As(err, &dnsErr) && dnsErr.IsNotFound):
		return unusable(noFamilyAddress(d.dialed(), d.family), err)
	case errors.As(err, &dnsErr):
		reason := dnsErr.Err
		if dnsErr.IsNotFound {
			reason = "no such host"
		}
		return unusable(fmt.Sprintf("DNS lookup of %q failed: %s", dnsErr.Name, reason), err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return unusable(fmt.Sprintf("connect %s: connection refused (is anything listening on that port?)", d.peer()), err)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return unusable(fmt.Sprintf("connect %s: no route to host", d.peer()), err)
	case isTimeout(err), errors.Is(err, syscall.ETIMEDOUT):
		return unusable(fmt.Sprintf("connect %s: timeout: no answer within %s", d.peer(), d.timeout), err)
	}
	return unusable(fmt.Sprintf("connect %s: %s", d.peer(), oneLine(err.Error())), err)
}

// noFamilyAddress says that the host of address has no address of the
// family: "api.example has no IPv6 address". It is the message of a dial
// restricted to a family that found no address: a literal of the other
// family, or a lookup of only that family's records that found none.
func noFamilyAddress(address, family string) string {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	return fmt.Sprintf("%s has no %s address", host, FamilyName(family))
}

// openError is an Open failure: one line for people, ErrUnusable and the
// cause for errors.Is.
type openError struct {
	msg   string
	cause error
}

func (e *openError) Error() string { return e.msg }

func (e *openError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrUnusable}
	}
	return []error{ErrUnusable, e.cause}
}

// unusable wraps cause in an error that is ErrUnusable and reads msg.
func unusable(msg string, cause error) error { return &openError{msg: msg, cause: cause} }

// openDeadline bounds the whole of Open (dial, handshake, first exchange)
// by the timeout and ctx.
func openDeadline(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, timeout)
}

// handshakeError describes a failed TLS handshake.
func handshakeError(ctx context.Context, parent context.Context, address string, timeout time.Duration, err error) error {
	if parent.Err() == context.Canceled {
		return fmt.Errorf("TLS handshake with %s: %w", address, parent.Err())
	}
	if ctx.Err() != nil || isTimeout(err) {
		return unusable(fmt.Sprintf("TLS handshake with %s failed: timeout: no answer within %s", address, timeout), err)
	}
	var ve *tls.CertificateVerificationError
	reason := oneLine(err.Error())
	if errors.As(err, &ve) {
		reason += " (trust its CA with a CA file, or skip verification)"
	}
	return unusable(fmt.Sprintf("TLS handshake with %s failed: %s", address, reason), err)
}
