package prober

import (
	"bufio"
	"bytes"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// h2ValidOpen is what a well-behaved server sends for the first exchange:
// SETTINGS, the ACK of the client's, and a 200 on stream 1 (":status: 200"
// is in the HPACK static table, so no dynamic table entry is made).
func h2ValidOpen() []byte {
	var b, hb bytes.Buffer
	fr := http2.NewFramer(&b, nil)
	fr.WriteSettings()
	fr.WriteSettingsAck()
	hpack.NewEncoder(&hb).WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	fr.WriteData(1, true, []byte("ok"))
	return b.Bytes()
}

// h2Reuse3 is a response on stream 3 with fields (encoded with a fresh
// HPACK table, as the client's is after h2ValidOpen), a body unless
// headersOnly, and a GOAWAY before (goAwayFirst) or after it.
func h2Reuse3(goAwayFirst bool, fields []hpack.HeaderField, headersOnly bool) []byte {
	var b, hb bytes.Buffer
	fr := http2.NewFramer(&b, nil)
	enc := hpack.NewEncoder(&hb)
	for _, f := range fields {
		enc.WriteField(f)
	}
	if goAwayFirst {
		fr.WriteGoAway(3, http2.ErrCodeNo, nil)
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: headersOnly})
	if !headersOnly {
		fr.WriteData(3, true, []byte("ok"))
	}
	if !goAwayFirst {
		fr.WriteGoAway(3, http2.ErrCodeNo, []byte("max age"))
	}
	return b.Bytes()
}

// FuzzH2Frames feeds arbitrary bytes from a server to the HTTP/2
// transport: as the answer to the first exchange (mode bit 0 clear), or,
// after a valid first exchange, while the connection is idle and as the
// answer to a reuse. Nothing may panic, Open fails only with ErrUnusable,
// and every reuse ends with a valid outcome and a one-line detail.
func FuzzH2Frames(f *testing.F) {
	ok3 := []byte("\x00\x00\x01\x01\x05\x00\x00\x00\x03\x88") // HEADERS stream 3, :status 200, END_STREAM
	f.Add(uint8(1), []byte{}, ok3)
	f.Add(uint8(0), []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), []byte{})
	f.Add(uint8(0), h2ValidOpen(), ok3)
	// A Keep-Alive field (not allowed in HTTP/2: no hints), and GOAWAYs
	// with and right after the response (retired).
	f.Add(uint8(1), []byte{}, h2Reuse3(true, []hpack.HeaderField{{Name: ":status", Value: "200"}, {Name: "keep-alive", Value: "timeout=5, max=3"}}, false))
	f.Add(uint8(3), []byte{}, h2Reuse3(false, []hpack.HeaderField{{Name: ":status", Value: "200"}, {Name: "connection", Value: "close"}}, true))
	f.Add(uint8(3), []byte{}, h2Reuse3(true, []hpack.HeaderField{{Name: ":status", Value: "204"}, {Name: "keep-alive", Value: "timeout=-1;;max=x"}}, false))
	f.Fuzz(func(t *testing.T, mode uint8, idle, reuse []byte) {
		srv := startServer(t, scripted(oneConn{
			open: func(c net.Conn, _ *bufio.Reader) error {
				if mode&1 == 1 {
					c.Write(h2ValidOpen())
					// Pacing: the idle bytes likely come after the first exchange.
					// It only steers which path the input takes: every outcome
					// is valid, no assertion depends on it.
					time.Sleep(5 * time.Millisecond)
				}
				return nil
			},
			idle: idle,
			reused: func(seen []byte) bool {
				return mode&1 == 1 && bytes.Contains(seen, []byte{0x01, 0x05, 0, 0, 0, 3}) // the HEADERS of stream 3
			},
			answer: reuse,
			hold:   mode&2 == 2,
		}))
		fuzzClient(t, "h2c://ADDR/", srv.addr, TransportOptions{Timeout: 150 * time.Millisecond}, 2, func(c Conn, r Reply) {
			if r.Retired && r.Outcome != plan.OK {
				t.Fatalf("Reuse = %+v: only an OK reply can be retired", r)
			}
			if h := c.Hints(); h != (Hints{}) {
				t.Fatalf("HTTP/2 Hints = %+v, want zero", h)
			}
		})
	})
}
