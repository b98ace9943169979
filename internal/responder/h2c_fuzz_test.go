package responder

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// fuzzServer is a Server with what the h2c fast path uses and no sockets.
func fuzzServer() *Server {
	s := &Server{log: slog.New(slog.DiscardHandler), grpc: newGRPCHealth()}
	s.ws = newWSEcho(s.log)
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP)}
	return s
}

// clientFrames builds a client's frames after the preface.
func clientFrames(write func(fr *http2.Framer, enc func(...string) []byte)) []byte {
	var b bytes.Buffer
	fr := http2.NewFramer(&b, nil)
	var hb bytes.Buffer
	e := hpack.NewEncoder(&hb)
	enc := func(kv ...string) []byte {
		hb.Reset()
		for i := 0; i+1 < len(kv); i += 2 {
			e.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return bytes.Clone(hb.Bytes())
	}
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
	write(fr, enc)
	return b.Bytes()
}

// FuzzH2Server feeds arbitrary client bytes after the preface to the h2c
// fast path: it must not panic, everything it writes must be well-formed
// frames, it never PINGs on its own, and a protocol error ends with a
// GOAWAY.
func FuzzH2Server(f *testing.F) {
	get := []string{":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/"}
	grpcMsg := binary.BigEndian.AppendUint32([]byte{0}, 11)
	grpcMsg = append(grpcMsg, 0x0a, 9, 'i', 'd', 'l', 'e', 'p', 'r', 'o', 'b', 'e')
	f.Add(clientFrames(func(fr *http2.Framer, enc func(...string) []byte) {
		fr.WriteSettingsAck()
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: enc(get...), EndStream: true, EndHeaders: true})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: enc(get...), EndStream: true, EndHeaders: true})
		fr.WriteWindowUpdate(1, 100)
		fr.WriteWindowUpdate(3, 100)
	}))
	f.Add(clientFrames(func(fr *http2.Framer, enc func(...string) []byte) {
		fr.WritePing(false, [8]byte{1})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: enc(":method", "POST", ":scheme", "http", ":path", "/", "content-length", "3")[:5], EndHeaders: false})
		fr.WriteContinuation(1, true, enc("x-a", "b"))
		fr.WriteData(1, false, []byte("ab"))
		fr.WriteDataPadded(1, true, []byte("c"), []byte{0, 0})
		fr.WriteRSTStream(1, http2.ErrCodeCancel)
		fr.WriteGoAway(1, http2.ErrCodeNo, nil)
	}))
	f.Add(clientFrames(func(fr *http2.Framer, enc func(...string) []byte) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: enc(":method", "POST", ":scheme", "http", ":path", grpcCheckPath, "content-type", "application/grpc", "te", "trailers"), EndHeaders: true})
		fr.WriteData(1, true, grpcMsg)
		fr.WriteWindowUpdate(0, 100)
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1000})
	}))
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := fuzzServer()
		h := newH2Conn("fuzz")
		x := h2IOs.New().(*h2IO)
		x.br.Reset(io.MultiReader(strings.NewReader(http2.ClientPreface), bytes.NewReader(data)))
		var out bytes.Buffer
		var err error
		for err == nil {
			err = h.serve(s, x, &out)
		}
		_, goAway := goAwayCode(err)
		rd := http2.NewFramer(nil, &out)
		rd.SetMaxReadFrameSize(1<<24 - 1)
		var last http2.Frame
		for {
			fr, rerr := rd.ReadFrame()
			if errors.Is(rerr, io.EOF) {
				break
			}
			if rerr != nil {
				t.Fatalf("the server wrote a malformed frame: %v", rerr)
			}
			if p, ok := fr.(*http2.PingFrame); ok && !p.IsAck() {
				t.Fatal("the server sent a PING")
			}
			last = fr
		}
		if _, ok := last.(*http2.GoAwayFrame); goAway && !ok {
			t.Fatalf("protocol error %v without a GOAWAY (last frame %v)", err, last)
		}
	})
}
