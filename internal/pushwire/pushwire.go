// Package pushwire is the small TCP protocol between idleprobe's
// server-direction prober (tcp:// with --direction server) and the
// responder's push service: one definition for both sides. It asks the
// question of long-lived streams (WebSocket, gRPC streams, database
// notifications): after the client's connection sat idle, can the server
// still reach it?
//
//   - HOLD, sent once right after the connection under test is opened,
//     asks the responder to hold it for pushes; the responder answers ID
//     with a token naming that connection. From then on the client sends
//     nothing on it, ever.
//   - After an idle time, PUSH from a second, short control connection
//     (opened anew, through the same path) asks the responder to write
//     PUSHED on the connection with that token. The responder answers the
//     control connection with SENT when the write went out, or GONE with
//     what ended the held connection (reset, closed) when it was already
//     gone, or UNKNOWN for a token it never held (it was restarted), and
//     then closes the control connection.
//
// Whether PUSHED arrives on the held connection tells whether every hop
// still knows the flow: a forgotten flow drops the server's segment or
// answers it with a reset, and the client, which sent nothing, never
// learns otherwise.
//
// Every message is one line of ASCII ending in "\n", at most MaxLine
// bytes, starting with Magic. The responder writes nothing on a held
// connection but the PUSHED lines it was asked for, one per PUSH.
package pushwire

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/idleprobe/idleprobe/internal/wiretoken"
)

// Magic starts every message: the protocol and its version.
const Magic = "IDLEPROBE-PUSH/1"

// MaxLine is the longest message, line end included.
const MaxLine = 96

// TokenLen is the length of a token in hex digits (package wiretoken).
const TokenLen = wiretoken.Len

// Type is a message type.
type Type string

// The message types.
const (
	Hold    Type = "HOLD"    // connection under test -> responder
	ID      Type = "ID"      // responder -> connection under test: Token names it
	Push    Type = "PUSH"    // control connection -> responder: Token, Seq
	Pushed  Type = "PUSHED"  // responder -> connection under test: Seq
	Sent    Type = "SENT"    // responder -> control connection: Seq was written
	Gone    Type = "GONE"    // responder -> control connection: Token ended, Reason says how
	Unknown Type = "UNKNOWN" // responder -> control connection: no such Token
)

// Reasons a held connection ended, in GONE.
const (
	// ReasonReset: the responder's read on it failed (an RST reached the
	// server's side).
	ReasonReset = "reset"
	// ReasonClosed: the responder read EOF (a FIN reached the server's
	// side).
	ReasonClosed = "closed"
)

// Msg is one message.
type Msg struct {
	Type Type
	// Token names a held connection (ID, PUSH, GONE, UNKNOWN).
	Token string
	// Seq numbers the pushes of one connection (PUSH, PUSHED, SENT).
	Seq uint64
	// Reason says how a held connection ended (GONE).
	Reason string
}

// Line returns m's wire form, line end included.
func (m Msg) Line() []byte {
	b := []byte(Magic + " " + string(m.Type))
	switch m.Type {
	case ID, Gone, Unknown, Push:
		b = append(b, ' ')
		b = append(b, m.Token...)
	}
	switch m.Type {
	case Push, Pushed, Sent:
		b = append(b, ' ')
		b = strconv.AppendUint(b, m.Seq, 10)
	case Gone:
		b = append(b, ' ')
		b = append(b, m.Reason...)
	}
	return append(b, '\n')
}

// ErrNotOurs is returned by Parse for a line that is not this protocol.
var ErrNotOurs = errors.New("not an idleprobe push message")

// Parse reads one message from line (with or without its "\n").
func Parse(line []byte) (Msg, error) {
	if len(line) > MaxLine {
		return Msg{}, fmt.Errorf("%w: %d bytes, at most %d", ErrNotOurs, len(line), MaxLine)
	}
	s := strings.TrimSuffix(string(line), "\n")
	f := strings.Split(s, " ")
	if len(f) < 2 || f[0] != Magic {
		return Msg{}, ErrNotOurs
	}
	m := Msg{Type: Type(f[1])}
	want := map[Type]int{Hold: 2, ID: 3, Push: 4, Pushed: 3, Sent: 3, Gone: 4, Unknown: 3}[m.Type]
	if want == 0 {
		return Msg{}, fmt.Errorf("unknown message type %q", f[1])
	}
	if len(f) != want {
		return Msg{}, fmt.Errorf("%s: %d fields, want %d", m.Type, len(f), want)
	}
	rest := f[2:]
	switch m.Type {
	case ID, Gone, Unknown, Push:
		if !ValidToken(rest[0]) {
			return Msg{}, fmt.Errorf("%s: bad token %q", m.Type, rest[0])
		}
		m.Token, rest = rest[0], rest[1:]
	}
	switch m.Type {
	case Push, Pushed, Sent:
		seq, err := strconv.ParseUint(rest[0], 10, 64)
		if err != nil {
			return Msg{}, fmt.Errorf("%s: bad sequence number %q", m.Type, rest[0])
		}
		m.Seq = seq
	case Gone:
		if rest[0] != ReasonReset && rest[0] != ReasonClosed {
			return Msg{}, fmt.Errorf("GONE: bad reason %q (valid: %s, %s)", rest[0], ReasonReset, ReasonClosed)
		}
		m.Reason = rest[0]
	}
	return m, nil
}

// ValidToken reports whether s is a token (wiretoken.Valid).
func ValidToken(s string) bool { return wiretoken.Valid(s) }
