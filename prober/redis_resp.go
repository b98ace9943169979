package prober

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// RESP (the Redis serialization protocol, version 2): the few replies
// idleprobe reads, with bounds on every length a server can claim.

const (
	// maxRESPBulk caps one bulk string; maxRESPArray the elements of one
	// array; maxRESPDepth the nesting of arrays.
	maxRESPBulk  = 1 << 20
	maxRESPArray = 1 << 10
	maxRESPDepth = 4
	// maxRESPLine caps a simple string, error or length line.
	maxRESPLine = 4 << 10
)

// respValue is one RESP reply.
type respValue struct {
	// kind is the type byte: '+', '-', ':', '$' or '*'.
	kind byte
	// str is the text of a simple string, error, integer or bulk string.
	str string
	// null is a null bulk string or array ($-1, *-1).
	null bool
	// elems are the elements of an array.
	elems []respValue
}

// respCommand encodes a command as an array of bulk strings.
func respCommand(args ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.Bytes()
}

// readRESP reads one reply from br.
func readRESP(br *bufio.Reader) (respValue, error) { return readRESPDepth(br, 0) }

func readRESPDepth(br *bufio.Reader, depth int) (respValue, error) {
	line, err := readRESPLine(br)
	if err != nil {
		return respValue{}, err
	}
	if len(line) == 0 {
		return respValue{}, malformed("empty RESP line")
	}
	v := respValue{kind: line[0], str: string(line[1:])}
	switch v.kind {
	case '+', '-':
		return v, nil
	case ':':
		if _, err := strconv.ParseInt(v.str, 10, 64); err != nil {
			return respValue{}, malformed("RESP integer %q", clip(v.str))
		}
		return v, nil
	case '$':
		n, err := respLength(v.str, maxRESPBulk)
		if err != nil {
			return respValue{}, err
		}
		if n < 0 {
			return respValue{kind: '$', null: true}, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return respValue{}, err
		}
		if !bytes.HasSuffix(buf, []byte("\r\n")) {
			return respValue{}, malformed("RESP bulk string not ended by CRLF")
		}
		return respValue{kind: '$', str: string(buf[:n])}, nil
	case '*':
		n, err := respLength(v.str, maxRESPArray)
		if err != nil {
			return respValue{}, err
		}
		if n < 0 {
			return respValue{kind: '*', null: true}, nil
		}
		if depth >= maxRESPDepth {
			return respValue{}, malformed("RESP arrays nested deeper than %d", maxRESPDepth)
		}
		a := respValue{kind: '*', elems: make([]respValue, 0, n)}
		for range n {
			e, err := readRESPDepth(br, depth+1)
			if err != nil {
				return respValue{}, err
			}
			a.elems = append(a.elems, e)
		}
		return a, nil
	}
	return respValue{}, malformed("RESP type byte %q", line[0])
}

// readRESPLine reads one CRLF-terminated line (without the CRLF).
func readRESPLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > maxRESPLine {
			return nil, malformed("RESP line longer than %d bytes", maxRESPLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		break
	}
	if !bytes.HasSuffix(line, []byte("\r\n")) {
		return nil, malformed("RESP line not ended by CRLF")
	}
	return line[:len(line)-2], nil
}

// respLength parses a bulk or array length: -1 (null) or 0..max.
func respLength(s string, max int) (int, error) {
	n, err := strconv.Atoi(s)
	switch {
	case err != nil || n < -1:
		return 0, malformed("RESP length %q", clip(s))
	case n > max:
		return 0, malformed("RESP length %d above the limit %d", n, max)
	}
	return n, nil
}

// clip shortens server text quoted in a message.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}
