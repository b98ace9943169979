package prober

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// wsServerFrame is an unmasked server frame.
func wsServerFrame(fin bool, op byte, payload []byte) []byte {
	b := []byte{op, 0}
	if fin {
		b[0] |= 0x80
	}
	switch n := len(payload); {
	case n <= 125:
		b[1] = byte(n)
	case n <= 0xffff:
		b[1] = 126
		b = append(b, byte(n>>8), byte(n))
	default:
		b[1] = 127
		b = append(b, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, payload...)
}

// FuzzParseWSFrame: any bytes parse to a frame, "need more", or an error;
// never a panic, never a frame past the input or over the limit.
func FuzzParseWSFrame(f *testing.F) {
	f.Add(wsServerFrame(true, wsText, []byte("idleprobe 1")))
	f.Add(wsServerFrame(false, wsBinary, bytes.Repeat([]byte("x"), 300)))
	f.Add(wsServerFrame(true, wsClose, []byte{0x03, 0xe9, 'b', 'y', 'e'}))
	f.Add([]byte{0x81, 0xff, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var a wsAssembler
		for len(b) > 0 {
			fr, n, err := parseWSFrame(b, 1<<10)
			if err != nil || n == 0 {
				return
			}
			if n > len(b) || len(fr.payload) > 1<<10 {
				t.Fatalf("frame of %d bytes from %d bytes of input", n, len(b))
			}
			op, payload, done, err := a.add(fr)
			if err != nil {
				return
			}
			if done && op == wsClose && strings.Contains(closeText(payload), "\n") {
				t.Fatalf("close text %q has a newline", closeText(payload))
			}
			b = b[n:]
		}
	})
}

// FuzzWSFrames feeds arbitrary bytes from a server after a valid upgrade:
// right behind the 101 and while idle (idle), and as the answer to a reuse
// (reuse). Nothing may panic, and every reuse ends with a valid outcome and
// a one-line detail.
func FuzzWSFrames(f *testing.F) {
	f.Add([]byte{}, wsServerFrame(true, wsText, []byte("idleprobe 1")))
	f.Add(wsServerFrame(true, wsPing, []byte("p")), append(wsServerFrame(false, wsText, []byte("idleprobe")), wsServerFrame(true, wsContinuation, []byte(" 1"))...))
	f.Add(wsServerFrame(true, wsClose, []byte{0x03, 0xe9}), []byte{})
	f.Add([]byte{}, wsServerFrame(true, wsClose, []byte{0x03, 0xe8, 'x'}))
	f.Add([]byte("\x81\x7f\xff\xff\xff\xff\xff\xff\xff\xff"), []byte{})
	f.Fuzz(func(t *testing.T, idle, reuse []byte) {
		srv := startServer(t, scripted(oneConn{
			open: func(c net.Conn, br *bufio.Reader) error {
				req, err := http.ReadRequest(br)
				if err != nil {
					return err
				}
				sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + wsGUID))
				_, err = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
					base64.StdEncoding.EncodeToString(sum[:])+"\r\n\r\n")
				return err
			},
			idle:   idle,
			reused: func(seen []byte) bool { return len(seen) > 0 }, // the client's message (or its close)
			answer: reuse,
			hold:   true,
		}))
		fuzzClient(t, "ws://ADDR/", srv.addr, TransportOptions{Timeout: 150 * time.Millisecond}, 2, nil)
	})
}
