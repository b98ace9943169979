package prober

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
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
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		served := make(chan struct{})
		go func() {
			defer close(served)
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Second))
			if mode&1 == 1 {
				c.Write(h2ValidOpen())
				// Pacing: the idle bytes likely come after the first exchange.
				// It only steers which path the input takes: every outcome
				// is valid, no assertion depends on it.
				time.Sleep(5 * time.Millisecond)
			}
			c.Write(idle)
			// Wait for the client's reuse (or its close), then answer.
			buf := make([]byte, 4096)
			deadline := time.Now().Add(time.Second)
			for time.Now().Before(deadline) {
				c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				n, err := c.Read(buf)
				if n > 0 && mode&1 == 1 && bytes.Contains(buf[:n], []byte{0x01, 0x05, 0, 0, 0, 3}) {
					break // the HEADERS of stream 3
				}
				if err != nil && !isTimeout(err) {
					return
				}
			}
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write(reuse)
			if mode&2 == 2 { // hold the connection until the client closes
				c.SetReadDeadline(time.Now().Add(time.Second))
				io.Copy(io.Discard, c)
			}
		}()
		defer func() { <-served }()

		tg, err := ParseTarget("h2c://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		tr, err := NewTransport(tg, TransportOptions{Timeout: 150 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		c, err := tr.Open(context.Background())
		if err != nil {
			t.Logf("%s open: %v", t.Name(), err)
			if !errors.Is(err, ErrUnusable) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Open error %q: want one line wrapping ErrUnusable", err)
			}
			return
		}
		defer c.Close()
		time.Sleep(10 * time.Millisecond) // a real idle period; like the server's pacing, it only steers the path
		for range 2 {
			r := c.Reuse(context.Background())
			t.Logf("%s reuse: %s retired=%v (%s)", t.Name(), r.Outcome, r.Retired, r.Detail)
			if !r.Outcome.Valid() || strings.Contains(r.Detail, "\n") || r.End.Before(r.Start) {
				t.Fatalf("Reuse = %+v: want a valid outcome, a one-line detail, End >= Start", r)
			}
			if r.Retired && r.Outcome != plan.OK {
				t.Fatalf("Reuse = %+v: only an OK reply can be retired", r)
			}
			if h := c.Hints(); h != (Hints{}) {
				t.Fatalf("HTTP/2 Hints = %+v, want zero", h)
			}
			if r.Outcome != plan.OK {
				if r.Detail == "" {
					t.Fatalf("Reuse = %s without detail", r.Outcome)
				}
				return
			}
		}
	})
}
