package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Proxy is a forward proxy that every connection of a measurement goes
// through: the TCP connection idleprobe opens, watches and reuses is the
// one to the proxy, and the tunnel to the target is set up on it (HTTP
// CONNECT or SOCKS5) before any protocol of the target is spoken. The
// proxy is a hop with its own idle timeout.
type Proxy struct {
	// URL is http://HOST:PORT (an HTTP proxy, tunnelling with CONNECT) or
	// socks5://HOST:PORT, without credentials (ParseProxyURL).
	URL *url.URL
	// CredentialsFile, when set, holds "user:password" (one line):
	// Proxy-Authorization Basic for CONNECT, the username/password method
	// for SOCKS5. It is read when a measurement starts; its content is
	// never logged nor put in an error.
	CredentialsFile string
	// IdleTimeout is the proxy's own idle timeout for tunnels as its
	// operator configured it (Squid read_timeout, Dante timeout.io), or 0
	// when unknown. It is what lets a result say whether the proxy is the
	// hop that ended the connections (JudgeProxy).
	IdleTimeout time.Duration
}

// String returns the proxy's URL as scheme://host:port: never with
// credentials, even when URL was built by hand with some.
func (p *Proxy) String() string {
	if p == nil || p.URL == nil {
		return ""
	}
	return (&url.URL{Scheme: p.URL.Scheme, Host: p.URL.Host}).String()
}

// ProxySchemes lists the supported proxy URL schemes.
var ProxySchemes = []string{"http", "socks5"}

// ParseProxyURL parses http://HOST:PORT (HTTP CONNECT) or
// socks5://HOST:PORT. Credentials in the URL are refused: they would show
// in process lists, logs and metrics; they belong in a credentials file.
// Errors never repeat a password.
func ParseProxyURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("proxy %q is not a URL (examples: http://proxy.internal:3128, socks5://127.0.0.1:1080)", redactProxy(s))
	}
	shown := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "socks5":
		return nil, fmt.Errorf("proxy %q: unknown scheme %q (valid: http for an HTTP CONNECT proxy, socks5)", shown, u.Scheme)
	case u.User != nil:
		return nil, fmt.Errorf("proxy %q: credentials in the URL are not accepted (they would show in process lists and logs); put user:password in a credentials file", shown)
	case u.Hostname() == "":
		return nil, fmt.Errorf("proxy %q has no host", shown)
	case u.Port() == "":
		return nil, fmt.Errorf("proxy %q needs a port (examples: http://%s:3128, socks5://%s:1080)", shown, u.Hostname(), u.Hostname())
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return nil, fmt.Errorf("proxy %q: a proxy URL is only scheme://host:port (no path or query)", shown)
	}
	return &url.URL{Scheme: scheme, Host: u.Host}, nil
}

// redactProxy hides the userinfo of something that may be a URL, for a
// message about a string that does not parse.
func redactProxy(s string) string {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		if j := strings.Index(s, "://"); j >= 0 && j < i {
			return s[:j+3] + "***@" + s[i+1:]
		}
		return "***@" + s[i+1:]
	}
	return s
}

// proxyCredentials are the user and password read from a credentials file.
type proxyCredentials struct{ user, password string }

// ReadProxyCredentials checks the credentials file of a proxy: it holds
// "user:password" (the password may contain colons; one trailing newline
// is dropped), read with the rule of every secret file (Credentials: a
// regular file of password size, one line). The error names the file and
// what is wrong, never its content.
func ReadProxyCredentials(file string) error {
	_, err := readProxyCredentials(file)
	return err
}

func readProxyCredentials(file string) (proxyCredentials, error) {
	line, err := Credentials{PasswordFile: file}.password()
	if err != nil {
		return proxyCredentials{}, fmt.Errorf("proxy credentials: %w", err)
	}
	user, password, ok := strings.Cut(line, ":")
	switch {
	case !ok || user == "":
		return proxyCredentials{}, fmt.Errorf(`proxy credentials file %s must hold "user:password"`, file)
	case len(user) > 255 || len(password) > 255:
		return proxyCredentials{}, fmt.Errorf("proxy credentials file %s: user and password must each be at most 255 bytes (SOCKS5)", file)
	}
	return proxyCredentials{user: user, password: password}, nil
}

// tunneler sets up the tunnel to a target on a connection to the proxy.
type tunneler struct {
	url   *url.URL
	creds *proxyCredentials
}

// newTunneler checks p and reads its credentials file.
func newTunneler(p *Proxy) (*tunneler, error) {
	if p == nil || p.URL == nil {
		return nil, errors.New("proxy has no URL (parse it with ParseProxyURL)")
	}
	u, err := ParseProxyURL(p.URL.String())
	if err != nil {
		return nil, err
	}
	if p.IdleTimeout < 0 {
		return nil, fmt.Errorf("proxy idle timeout %s is negative (0 when unknown)", p.IdleTimeout)
	}
	tn := &tunneler{url: u}
	if p.CredentialsFile != "" {
		c, err := readProxyCredentials(p.CredentialsFile)
		if err != nil {
			return nil, err
		}
		tn.creds = &c
	}
	return tn, nil
}

// address is host:port of the proxy.
func (tn *tunneler) address() string { return tn.url.Host }

// tunnel asks the proxy, over c, for a tunnel to target (host:port). It
// reads exactly the proxy's answer and nothing of the target's bytes, so
// that c carries the target's protocol from its first byte. The error is
// one line (ErrUnusable) naming the proxy and what it said.
func (tn *tunneler) tunnel(ctx context.Context, c *net.TCPConn, target string, timeout time.Duration) error {
	var err error
	switch tn.url.Scheme {
	case "socks5":
		err = tn.socks5(ctx, c, target)
	default:
		err = withConnDeadline(ctx, c, func() error { return tn.connect(c, target) })
	}
	if err == nil {
		return nil
	}
	if ctx.Err() == context.Canceled {
		return fmt.Errorf("proxy %s: %w", tn.url, ctx.Err())
	}
	var pe *proxyError
	if errors.As(err, &pe) {
		return unusable(pe.msg, err)
	}
	if errors.Is(err, syscall.ECONNRESET) {
		return unusable(fmt.Sprintf("proxy %s reset the connection during the tunnel request (is it a %s proxy, and does it accept us?)", tn.url, tn.url.Scheme), err)
	}
	if ctx.Err() != nil || isTimeout(err) {
		return unusable(fmt.Sprintf("proxy %s: timeout: no answer to the tunnel request for %s within %s", tn.url, target, timeout), err)
	}
	return unusable(fmt.Sprintf("proxy %s: tunnel to %s failed: %s", tn.url, target, oneLine(err.Error())), err)
}

// proxyError is what a proxy answered when it would not open the tunnel:
// the message is the one line shown.
type proxyError struct{ msg string }

func (e *proxyError) Error() string { return e.msg }

// withConnDeadline runs fn with c's deadline set from ctx, and c's
// pending I/O interrupted when ctx ends; the deadline is cleared after.
func withConnDeadline(ctx context.Context, c net.Conn, fn func() error) error {
	if d, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(d)
	}
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = c.SetDeadline(aLongTimeAgo)
		close(interrupted)
	})
	err := fn()
	if !stop() {
		<-interrupted // clear the deadline only after it was set in the past
		if err == nil {
			err = ctx.Err()
		}
	}
	_ = c.SetDeadline(time.Time{})
	return err
}
