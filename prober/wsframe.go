package prober

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// WebSocket framing (RFC 6455 section 5) as a client sees it: the server's
// frames are parsed from buffered plaintext and assembled into messages;
// the client's frames are masked.

// WebSocket opcodes.
const (
	wsContinuation = 0x0
	wsText         = 0x1
	wsBinary       = 0x2
	wsClose        = 0x8
	wsPing         = 0x9
	wsPong         = 0xa
)

// wsMaxControl is the largest control frame payload (RFC 6455 5.5).
const wsMaxControl = 125

// wsFrame is one frame from the server.
type wsFrame struct {
	fin     bool
	opcode  byte
	payload []byte // aliases the buffer it was parsed from
}

// errWSProtocol marks a frame or message the server should never send.
var errWSProtocol = errors.New("WebSocket protocol error")

func wsProtocolError(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errWSProtocol, fmt.Sprintf(format, a...))
}

// parseWSFrame parses the server frame at the start of b. It returns n = 0
// and no error when b does not hold a whole frame yet. A frame longer than
// limit is an error (errBodyTooLarge) as soon as its header is there.
func parseWSFrame(b []byte, limit int) (f wsFrame, n int, err error) {
	if len(b) < 2 {
		return f, 0, nil
	}
	b0, b1 := b[0], b[1]
	f.fin, f.opcode = b0&0x80 != 0, b0&0x0f
	if b0&0x70 != 0 {
		return f, 0, wsProtocolError("reserved bits set in a frame (no extension was negotiated)")
	}
	switch f.opcode {
	case wsContinuation, wsText, wsBinary, wsClose, wsPing, wsPong:
	default:
		return f, 0, wsProtocolError("unknown opcode %#x", f.opcode)
	}
	if b1&0x80 != 0 {
		return f, 0, wsProtocolError("masked frame from the server")
	}
	length, h := uint64(b1&0x7f), 2
	switch length {
	case 126:
		if len(b) < 4 {
			return f, 0, nil
		}
		length, h = uint64(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		if len(b) < 10 {
			return f, 0, nil
		}
		length, h = binary.BigEndian.Uint64(b[2:10]), 10
		if length>>63 != 0 {
			return f, 0, wsProtocolError("frame length with the top bit set")
		}
	}
	if f.opcode >= wsClose {
		if length > wsMaxControl {
			return f, 0, wsProtocolError("control frame of %d bytes (at most %d)", length, wsMaxControl)
		}
		if !f.fin {
			return f, 0, wsProtocolError("fragmented control frame")
		}
	}
	if length > uint64(limit) {
		return f, 0, errBodyTooLarge
	}
	if uint64(len(b)-h) < length {
		return f, 0, nil
	}
	end := h + int(length)
	f.payload = b[h:end]
	return f, end, nil
}

// wsAssembler joins data frames into messages.
type wsAssembler struct {
	op  byte // opcode of the message being assembled; 0 when none
	msg []byte
}

// add takes one frame. For a data frame that ends a message it returns the
// message's opcode and payload (valid until the next call); control frames
// are returned as they are.
func (a *wsAssembler) add(f wsFrame) (op byte, payload []byte, done bool, err error) {
	switch f.opcode {
	case wsClose, wsPing, wsPong:
		return f.opcode, f.payload, true, nil
	case wsContinuation:
		if a.op == 0 {
			return 0, nil, false, wsProtocolError("continuation frame outside a message")
		}
	default:
		if a.op != 0 {
			return 0, nil, false, wsProtocolError("new message before the last one ended")
		}
		a.op, a.msg = f.opcode, a.msg[:0]
	}
	if len(a.msg)+len(f.payload) > maxResponseBytes {
		return 0, nil, false, errBodyTooLarge
	}
	a.msg = append(a.msg, f.payload...)
	if !f.fin {
		return 0, nil, false, nil
	}
	op, a.op = a.op, 0
	return op, a.msg, true, nil
}

// closeText describes a close frame's payload: "WebSocket close 1001
// (going away: \"bye\")".
func closeText(payload []byte) string {
	if len(payload) < 2 {
		return "WebSocket close frame"
	}
	code := binary.BigEndian.Uint16(payload)
	s := fmt.Sprintf("WebSocket close %d", code)
	name := map[uint16]string{1000: "normal closure", 1001: "going away", 1002: "protocol error",
		1003: "unsupported data", 1007: "invalid data", 1008: "policy violation", 1009: "message too big",
		1011: "internal error", 1012: "service restart", 1013: "try again later"}[code]
	reason := ""
	if r := payload[2:]; len(r) > 0 && utf8.Valid(r) {
		reason = fmt.Sprintf("%q", oneLine(string(r)))
	}
	switch {
	case name != "" && reason != "":
		s += " (" + name + ": " + reason + ")"
	case name != "":
		s += " (" + name + ")"
	case reason != "":
		s += " (" + reason + ")"
	}
	return s
}

// appendWSFrame appends one masked client frame (FIN set) to dst.
func appendWSFrame(dst []byte, opcode byte, payload []byte) []byte {
	dst = append(dst, 0x80|opcode)
	switch n := len(payload); {
	case n <= 125:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	var key [4]byte
	_, _ = rand.Read(key[:]) // crypto/rand never fails on Linux
	dst = append(dst, key[:]...)
	for i, b := range payload {
		dst = append(dst, b^key[i&3])
	}
	return dst
}
