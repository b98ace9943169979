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

// grpcAnswer is a whole gRPC answer on stream: response headers, one
// message (unless trailersOnly) and trailers with status, encoded with
// enc (whose table must follow the client's decoder).
func grpcAnswer(enc *hpack.Encoder, hb *bytes.Buffer, fr *http2.Framer, stream uint32, status string, msg []byte, trailersOnly bool) {
	block := func(fields ...hpack.HeaderField) []byte {
		hb.Reset()
		for _, f := range fields {
			enc.WriteField(f)
		}
		return bytes.Clone(hb.Bytes())
	}
	st := hpack.HeaderField{Name: ":status", Value: "200"}
	ct := hpack.HeaderField{Name: "content-type", Value: "application/grpc"}
	gs := hpack.HeaderField{Name: "grpc-status", Value: status}
	if trailersOnly {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: block(st, ct, gs), EndHeaders: true, EndStream: true})
		return
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: block(st, ct), EndHeaders: true})
	fr.WriteData(stream, false, append([]byte{0, 0, 0, 0, byte(len(msg))}, msg...))
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: block(gs), EndHeaders: true, EndStream: true})
}

// grpcValidOpen is a server's preface and a SERVING answer on stream 1;
// grpcReuse3 an answer on stream 3 encoded with the same HPACK table.
func grpcValidOpen() (open, reuse3 []byte) {
	var b, hb bytes.Buffer
	fr := http2.NewFramer(&b, nil)
	enc := hpack.NewEncoder(&hb)
	fr.WriteSettings()
	fr.WriteSettingsAck()
	grpcAnswer(enc, &hb, fr, 1, "0", []byte{8, 1}, false)
	open = bytes.Clone(b.Bytes())
	b.Reset()
	grpcAnswer(enc, &hb, fr, 3, "0", []byte{8, 1}, false)
	return open, bytes.Clone(b.Bytes())
}

// FuzzGRPCFrames feeds arbitrary bytes from a server to the gRPC
// transport after a valid first call: while idle (idle), and as the answer
// to a reuse (reuse). Nothing may panic, and every reuse ends with a valid
// outcome and a one-line detail.
func FuzzGRPCFrames(f *testing.F) {
	open, ok3 := grpcValidOpen()
	var b, hb bytes.Buffer
	fr := http2.NewFramer(&b, nil)
	grpcAnswer(hpack.NewEncoder(&hb), &hb, fr, 3, "14", nil, true)
	unavailable := bytes.Clone(b.Bytes())
	b.Reset()
	fr.WriteGoAway(1, http2.ErrCodeEnhanceYourCalm, []byte("too_many_pings"))
	calm := bytes.Clone(b.Bytes())
	f.Add([]byte{}, ok3)
	f.Add([]byte{}, unavailable)
	f.Add(calm, []byte{})
	f.Add([]byte{0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}, ok3) // a PING while idle
	f.Fuzz(func(t *testing.T, idle, reuse []byte) {
		srv := startServer(t, scripted(oneConn{
			open: func(c net.Conn, _ *bufio.Reader) error {
				_, err := c.Write(open)
				return err
			},
			idle: idle,
			reused: func(seen []byte) bool {
				return bytes.Contains(seen, []byte{0x01, 0x04, 0, 0, 0, 3}) // the client's second HEADERS (stream 3)
			},
			answer: reuse,
			hold:   true,
		}))
		fuzzClient(t, "grpc://ADDR", srv.addr, TransportOptions{Timeout: 150 * time.Millisecond}, 1, nil)
	})
}

// TestGRPCFuzzOpenIsValid: the fuzz target's scripted first call and
// reuse answer are a valid gRPC exchange, so fuzzing starts past Open.
func TestGRPCFuzzOpenIsValid(t *testing.T) {
	open1, ok3 := grpcValidOpen()
	srv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
		c.Write(open1)
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if bytes.Contains(buf[:n], []byte{0x01, 0x04, 0, 0, 0, 3}) {
				c.Write(ok3)
			}
		}
	})
	conn := open(t, transport(t, "grpc://"+srv.addr, TransportOptions{Timeout: time.Second}))
	if r := reuse(t, conn); r.Outcome != plan.OK || r.Detail != "SERVING" {
		t.Fatalf("reuse: %+v, want ok SERVING", r)
	}
}
