package prober

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
)

// maxConnectReply caps the proxy's answer to CONNECT (status line and
// header fields).
const maxConnectReply = 16 << 10

// Errors of reading the proxy's answer to CONNECT.
var (
	errConnectTooLarge = errors.New("its answer to CONNECT has more than 16 KiB of headers")
	errConnectNoAnswer = errors.New("it closed the connection without answering CONNECT")
	errConnectCut      = errors.New("it closed the connection in the middle of its answer to CONNECT")
)

// connectReply is a parsed answer to CONNECT.
type connectReply struct {
	code   int
	reason string
	header textproto.MIMEHeader
}

// connect sends CONNECT target over c and reads the proxy's answer, not a
// byte further: after a 2xx the target's protocol starts on c.
func (tn *tunneler) connect(c net.Conn, target string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
	if tn.creds != nil {
		b.WriteString("Proxy-Authorization: Basic " +
			base64.StdEncoding.EncodeToString([]byte(tn.creds.user+":"+tn.creds.password)) + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		return err
	}
	head, err := readConnectHead(c)
	switch {
	case errors.Is(err, errConnectTooLarge), errors.Is(err, errConnectNoAnswer), errors.Is(err, errConnectCut):
		return &proxyError{fmt.Sprintf("proxy %s: %v", tn.url, err)}
	case err != nil:
		return err
	}
	rep, err := parseConnectReply(head)
	if err != nil {
		return &proxyError{fmt.Sprintf("proxy %s does not answer CONNECT like an HTTP proxy: %v", tn.url, err)}
	}
	return tn.connectStatus(rep, target)
}

// readConnectHead reads r one byte at a time up to the empty line that
// ends the answer's header (CRLF CRLF, or LF LF), so that nothing after it
// is consumed.
func readConnectHead(r io.Reader) ([]byte, error) {
	head := make([]byte, 0, 128)
	var one [1]byte
	for {
		n, err := r.Read(one[:])
		if n == 1 {
			head = append(head, one[0])
			if bytes.HasSuffix(head, []byte("\r\n\r\n")) || bytes.HasSuffix(head, []byte("\n\n")) {
				return head, nil
			}
			if len(head) >= maxConnectReply {
				return nil, errConnectTooLarge
			}
			continue
		}
		switch {
		case err == io.EOF && len(head) == 0:
			return nil, errConnectNoAnswer
		case err == io.EOF:
			return nil, errConnectCut
		case err != nil:
			return nil, err
		}
	}
}

// parseConnectReply parses the status line and header fields of an answer
// to CONNECT ("HTTP/1.1 200 Connection established"). It either returns a
// status code between 100 and 999 or an error.
func parseConnectReply(head []byte) (connectReply, error) {
	text := strings.ReplaceAll(string(head), "\r\n", "\n")
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	status := lines[0]
	proto, rest, ok := strings.Cut(status, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/1.") || len(proto) != len("HTTP/1.1") {
		return connectReply{}, fmt.Errorf("status line %q is not HTTP/1.x", printable(status))
	}
	codeText, reason, _ := strings.Cut(rest, " ")
	code, err := strconv.Atoi(codeText)
	if err != nil || len(codeText) != 3 || code < 100 {
		return connectReply{}, fmt.Errorf("status line %q has no 3-digit status code", printable(status))
	}
	rep := connectReply{code: code, reason: strings.TrimSpace(reason), header: textproto.MIMEHeader{}}
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return connectReply{}, fmt.Errorf("header line %q is not \"Name: value\"", printable(l))
		}
		rep.header.Add(name, strings.TrimSpace(value))
	}
	return rep, nil
}

// printable makes a proxy's text fit a one-line message: control
// characters replaced, at most 80 bytes.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// connectStatus turns the proxy's answer into nil (a 2xx: the tunnel is
// open) or one line saying what the proxy refused and what to do.
func (tn *tunneler) connectStatus(rep connectReply, target string) error {
	status := strconv.Itoa(rep.code)
	if rep.reason != "" {
		status += " " + printable(rep.reason)
	}
	if e := rep.header.Get("X-Squid-Error"); e != "" {
		status += ", " + printable(e)
	}
	var msg string
	switch {
	case rep.code >= 200 && rep.code < 300:
		return nil
	case rep.code == 407 && tn.creds == nil:
		msg = fmt.Sprintf("proxy %s requires authentication (%s): give user:password in a credentials file (--proxy-credentials-file, proxy.credentials_file)", tn.url, status)
	case rep.code == 407:
		msg = fmt.Sprintf("proxy %s rejected the credentials of its credentials file (%s)", tn.url, status)
	case rep.code == 403:
		msg = fmt.Sprintf("proxy %s refused to open a tunnel to %s (%s): its access rules deny this target or port", tn.url, target, status)
	case rep.code == 502 || rep.code == 503 || rep.code == 504:
		msg = fmt.Sprintf("proxy %s could not connect to %s (%s)", tn.url, target, status)
	default:
		msg = fmt.Sprintf("proxy %s answered CONNECT %s with %s instead of 200", tn.url, target, status)
	}
	return &proxyError{msg}
}
