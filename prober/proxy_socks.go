package prober

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"golang.org/x/net/proxy"
)

// socksWithConn is the SOCKS5 dialer of golang.org/x/net/proxy: its
// DialWithConn does the handshake over a connection we dialed ourselves,
// so that the connection watched and reused (and its TCP_INFO) is the real
// socket to the proxy, not a wrapper.
type socksWithConn interface {
	DialWithConn(ctx context.Context, c net.Conn, network, address string) (net.Addr, error)
}

// socks5 asks the SOCKS5 proxy, over c, to connect to target. The SOCKS5
// handshake reads exactly its replies, nothing of the target's bytes.
func (tn *tunneler) socks5(ctx context.Context, c net.Conn, target string) error {
	var auth *proxy.Auth
	if tn.creds != nil {
		auth = &proxy.Auth{User: tn.creds.user, Password: tn.creds.password}
	}
	d, err := proxy.SOCKS5("tcp", tn.address(), auth, nil)
	if err != nil {
		return err
	}
	wc, ok := d.(socksWithConn)
	if !ok {
		return fmt.Errorf("golang.org/x/net/proxy's SOCKS5 dialer (%T) cannot dial over a given connection", d)
	}
	if _, err := wc.DialWithConn(ctx, c, "tcp", target); err != nil {
		return tn.socksError(err, target)
	}
	return nil
}

// socksReplyPrefix starts x/net's error for a SOCKS5 reply other than
// "succeeded"; the reply's meaning (RFC 1928 section 6) follows.
const socksReplyPrefix = "unknown error "

// socksError turns an error of x/net's SOCKS5 handshake into one line
// naming the proxy (a *proxyError), or returns it as is for the caller to
// describe (I/O errors and timeouts).
func (tn *tunneler) socksError(err error, target string) error {
	inner := err
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		inner = oe.Err
	}
	if errors.Is(inner, io.EOF) || errors.Is(inner, io.ErrUnexpectedEOF) {
		return &proxyError{fmt.Sprintf("SOCKS5 proxy %s closed the connection during the handshake", tn.url)}
	}
	if errors.Is(inner, syscall.ECONNRESET) || isTimeout(inner) || errors.Is(inner, context.Canceled) || errors.Is(inner, context.DeadlineExceeded) {
		return err
	}
	text := inner.Error()
	var msg string
	switch {
	case strings.HasPrefix(text, socksReplyPrefix):
		reply := strings.TrimPrefix(text, socksReplyPrefix)
		if reply == "connection not allowed by ruleset" {
			msg = fmt.Sprintf("SOCKS5 proxy %s refused to connect to %s (%s): its rules deny this target", tn.url, target, reply)
		} else {
			msg = fmt.Sprintf("SOCKS5 proxy %s could not connect to %s (%s)", tn.url, target, reply)
		}
	case text == "username/password authentication failed":
		msg = fmt.Sprintf("SOCKS5 proxy %s rejected the credentials of its credentials file (username/password authentication failed)", tn.url)
	case text == "no acceptable authentication methods" && tn.creds == nil:
		msg = fmt.Sprintf("SOCKS5 proxy %s requires authentication (it accepts no connection without): give user:password in a credentials file (--proxy-credentials-file, proxy.credentials_file)", tn.url)
	case text == "no acceptable authentication methods":
		msg = fmt.Sprintf("SOCKS5 proxy %s accepts none of our authentication methods (none, username/password)", tn.url)
	case strings.HasPrefix(text, "unexpected protocol version"):
		msg = fmt.Sprintf("proxy %s does not speak SOCKS5 (%s in its answer)", tn.url, printable(text))
	default:
		msg = fmt.Sprintf("SOCKS5 proxy %s: handshake for %s failed: %s", tn.url, target, printable(oneLine(text)))
	}
	return &proxyError{msg}
}
