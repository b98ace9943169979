// Package udpwire is the small datagram protocol between idleprobe's udp://
// prober and the responder: one definition for both sides. It is the
// binding lifetime test of RFC 5780 (section 4.6) made explicit:
//
//   - HELLO from the socket under test registers a binding: the responder
//     answers SEEN with the address and port it saw (the NAT's mapping).
//   - After an idle time, PUSH from a second, fresh socket asks the
//     responder to send PUSHED to the registered binding; it answers the
//     second socket with SENT (or UNKNOWN for a token it does not hold).
//     Whether PUSHED arrives on the first socket tells whether the path
//     still holds the binding, without the first socket sending anything.
//
// Every message is one line of ASCII in one datagram, at most MaxSize
// bytes; spaces may pad a datagram after the line. The responder only
// ever sends to an address that registered itself, and never more bytes
// than it was sent (requests are padded to MaxSize, and the responder
// ignores shorter ones): no reflection, no amplification.
package udpwire

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/idleprobe/idleprobe/internal/wiretoken"
)

// Magic starts every message: the protocol and its version.
const Magic = "IDLEPROBE-UDP/1"

// MaxSize is the largest message.
const MaxSize = 128

// Type is a message type.
type Type string

// The message types.
const (
	Hello   Type = "HELLO"   // client socket under test -> responder
	Seen    Type = "SEEN"    // responder -> socket under test: Addr is the mapping
	Push    Type = "PUSH"    // control socket -> responder
	Sent    Type = "SENT"    // responder -> control socket: pushed to Addr
	Pushed  Type = "PUSHED"  // responder -> socket under test
	Unknown Type = "UNKNOWN" // responder -> control socket: no such token
)

// Msg is one message. Token names a binding (TokenLen hex digits); Seq
// numbers the pushes of one binding; Addr is set on SEEN and SENT.
type Msg struct {
	Type  Type
	Token string
	Seq   uint64
	Addr  netip.AddrPort
}

// TokenLen is the length of a token in hex digits (package wiretoken).
const TokenLen = wiretoken.Len

// Padded appends m's wire form to b, padded with spaces to MaxSize.
func (m Msg) Padded(b []byte) []byte {
	start := len(b)
	b = m.Append(b)
	for len(b)-start < MaxSize {
		b = append(b, ' ')
	}
	return b
}

// Append appends m's wire form to b.
func (m Msg) Append(b []byte) []byte {
	b = append(b, Magic...)
	b = append(b, ' ')
	b = append(b, m.Type...)
	b = append(b, ' ')
	b = append(b, m.Token...)
	switch m.Type {
	case Push, Sent, Pushed:
		b = append(b, ' ')
		b = strconv.AppendUint(b, m.Seq, 10)
	}
	switch m.Type {
	case Seen, Sent:
		b = append(b, ' ')
		b = m.Addr.AppendTo(b)
	}
	return append(b, '\n')
}

// ErrNotOurs is returned by Parse for a datagram that is not this protocol.
var ErrNotOurs = errors.New("not an idleprobe datagram")

// Parse reads one message. It fails on anything malformed.
func Parse(b []byte) (Msg, error) {
	if len(b) > MaxSize {
		return Msg{}, fmt.Errorf("%w: %d bytes, at most %d", ErrNotOurs, len(b), MaxSize)
	}
	s, pad, ok := strings.Cut(string(b), "\n")
	if !ok {
		return Msg{}, fmt.Errorf("%w: no line end", ErrNotOurs)
	}
	if strings.Trim(pad, " ") != "" {
		return Msg{}, fmt.Errorf("%w: more than one line", ErrNotOurs)
	}
	f := strings.Split(s, " ")
	if len(f) < 3 || f[0] != Magic {
		return Msg{}, ErrNotOurs
	}
	m := Msg{Type: Type(f[1]), Token: f[2]}
	if !wiretoken.Valid(m.Token) {
		return Msg{}, fmt.Errorf("bad token %q", m.Token)
	}
	want := 3
	switch m.Type {
	case Hello, Unknown:
	case Push, Pushed:
		want = 4
	case Seen:
		want = 4
	case Sent:
		want = 5
	default:
		return Msg{}, fmt.Errorf("unknown message type %q", f[1])
	}
	if len(f) != want {
		return Msg{}, fmt.Errorf("%s: %d fields, want %d", m.Type, len(f), want)
	}
	rest := f[3:]
	if m.Type == Push || m.Type == Sent || m.Type == Pushed {
		seq, err := strconv.ParseUint(rest[0], 10, 64)
		if err != nil {
			return Msg{}, fmt.Errorf("%s: bad sequence number %q", m.Type, rest[0])
		}
		m.Seq, rest = seq, rest[1:]
	}
	if m.Type == Seen || m.Type == Sent {
		a, err := netip.ParseAddrPort(rest[0])
		if err != nil {
			return Msg{}, fmt.Errorf("%s: bad address %q", m.Type, rest[0])
		}
		m.Addr = a
	}
	return m, nil
}
