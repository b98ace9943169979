package prober

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// HTTP/2 tests against a scripted server built on the x/net framer, for
// what Go's server never does on its own (resets, stalls, GOAWAY at chosen
// moments).

// fakeH2 is one connection of a scripted HTTP/2 server.
type fakeH2 struct {
	c    net.Conn
	fr   *http2.Framer
	done <-chan struct{}
	enc  *hpack.Encoder
	hb   bytes.Buffer
}

type fakeServer struct{ *server }

// startFakeH2 runs script on every accepted connection.
func startFakeH2(t *testing.T, script func(t *testing.T, s *fakeH2)) fakeServer {
	t.Helper()
	srv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
		s := &fakeH2{c: c, fr: http2.NewFramer(c, c), done: done}
		s.enc = hpack.NewEncoder(&s.hb)
		s.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		script(t, s)
	})
	return fakeServer{srv}
}

// wait blocks until the test ends.
func (s *fakeH2) wait() { <-s.done }

// drain reads until the client closes.
func (s *fakeH2) drain() { io.Copy(io.Discard, s.c) }

// handshake reads the preface and the client's SETTINGS, sends ours and
// acknowledges the client's.
func (s *fakeH2) handshake(t *testing.T) {
	t.Helper()
	buf := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(s.c, buf); err != nil || string(buf) != http2.ClientPreface {
		t.Errorf("server: preface %q, %v", buf, err)
		return
	}
	f, err := s.fr.ReadFrame()
	if err != nil {
		t.Errorf("server: read SETTINGS: %v", err)
		return
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		t.Errorf("server: first frame %v, want SETTINGS", f)
		return
	}
	if v, ok := sf.Value(http2.SettingEnablePush); !ok || v != 0 {
		t.Errorf("server: client SETTINGS_ENABLE_PUSH = %d (set %v), want 0", v, ok)
	}
	s.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 10})
	s.fr.WriteSettingsAck()
}

// readRequest reads frames until a request's HEADERS (skipping the
// SETTINGS ACK and anything else) and returns them, or nil on error.
func (s *fakeH2) readRequest(t *testing.T) *http2.MetaHeadersFrame {
	t.Helper()
	for range 10 {
		f, err := s.fr.ReadFrame()
		if err != nil {
			return nil
		}
		if mh, ok := f.(*http2.MetaHeadersFrame); ok {
			return mh
		}
	}
	t.Error("server: no request HEADERS in 10 frames")
	return nil
}

// respond answers stream id with 200 and a short body.
func (s *fakeH2) respond(id uint32) {
	s.hb.Reset()
	s.enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: s.hb.Bytes(), EndHeaders: true})
	s.fr.WriteData(id, true, []byte("ok"))
}

// open runs the handshake and the first exchange.
func (s *fakeH2) open(t *testing.T) bool {
	t.Helper()
	s.handshake(t)
	if s.readRequest(t) == nil {
		t.Error("server: no first request")
		return false
	}
	s.respond(1)
	return true
}

// next reads the next request and returns its stream; ok is false on error.
func (s *fakeH2) next(t *testing.T) (uint32, bool) {
	t.Helper()
	mh := s.readRequest(t)
	if mh == nil {
		return 0, false
	}
	return mh.StreamID, true
}

// TestH2Reuse covers what a reuse can meet, with a scripted server.
func TestH2Reuse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		script  func(t *testing.T, s *fakeH2)
		want    plan.Outcome
		detail  string
		retired bool         // the reply says the server retired the connection
		again   plan.Outcome // outcome of a second reuse, when the first is OK
	}{
		{name: "ok", want: plan.OK, detail: "200 OK", again: plan.OK, script: func(t *testing.T, s *fakeH2) {
			for {
				id, ok := s.next(t)
				if !ok {
					return
				}
				s.respond(id)
			}
		}},
		{name: "server-ping-and-settings-first", want: plan.OK, detail: "200 OK", again: plan.OK, script: func(t *testing.T, s *fakeH2) {
			for {
				id, ok := s.next(t)
				if !ok {
					return
				}
				// Ask for a SETTINGS ACK and a PING ACK before answering.
				s.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
				s.fr.WritePing(false, [8]byte{'s', 'e', 'r', 'v', 'e', 'r'})
				s.fr.WritePing(true, [8]byte{'s', 't', 'r', 'a', 'y'})
				gotSettingsAck, gotPingAck := false, false
				for !gotSettingsAck || !gotPingAck {
					f, err := s.fr.ReadFrame()
					if err != nil {
						t.Errorf("server: %v", err)
						return
					}
					switch f := f.(type) {
					case *http2.SettingsFrame:
						gotSettingsAck = gotSettingsAck || f.IsAck()
					case *http2.PingFrame:
						if f.IsAck() && f.Data == [8]byte{'s', 'e', 'r', 'v', 'e', 'r'} {
							gotPingAck = true
						}
					}
				}
				s.respond(id)
			}
		}},
		{name: "goaway-then-response", want: plan.OK, retired: true, again: plan.Error,
			detail: "200 OK; server sent GOAWAY (NO_ERROR) with the response: connection retired",
			script: func(t *testing.T, s *fakeH2) {
				if id, ok := s.next(t); ok {
					s.fr.WriteGoAway(id, http2.ErrCodeNo, nil)
					s.respond(id)
					s.wait()
				}
			}},
		// GOAWAY in its own write after the response's END_STREAM.
		{name: "response-then-goaway", want: plan.OK, retired: true, again: plan.Error,
			detail: "200 OK; server ended the connection right after the response (GOAWAY (NO_ERROR)): connection retired",
			script: func(t *testing.T, s *fakeH2) {
				if id, ok := s.next(t); ok {
					s.respond(id)
					s.fr.WriteGoAway(id, http2.ErrCodeNo, nil)
					s.wait()
				}
			}},
		{name: "response-then-fin", want: plan.OK, retired: true, again: plan.Error,
			detail: "200 OK; server ended the connection right after the response (EOF): connection retired",
			script: func(t *testing.T, s *fakeH2) {
				if id, ok := s.next(t); ok {
					s.respond(id)
				}
			}},
		// A GOAWAY well after the response is an idle close, not a retirement.
		{name: "response-goaway-later", want: plan.OK, detail: "200 OK", again: plan.ClosedIdle,
			script: func(t *testing.T, s *fakeH2) {
				if id, ok := s.next(t); ok {
					s.respond(id)
					select {
					case <-s.done:
						return
					case <-time.After(100 * time.Millisecond): // the gap is the case: far past h2RetireGrace
					}
					s.fr.WriteGoAway(id, http2.ErrCodeNo, nil)
					s.wait()
				}
			}},
		{name: "goaway-refuses", want: plan.ClosedOnReuse, detail: "GOAWAY (NO_ERROR): the server did not take the request",
			script: func(t *testing.T, s *fakeH2) {
				if _, ok := s.next(t); ok {
					s.fr.WriteGoAway(1, http2.ErrCodeNo, nil)
					s.wait()
				}
			}},
		{name: "refused-stream", want: plan.ClosedOnReuse, detail: "the server refused the request (RST_STREAM REFUSED_STREAM)",
			script: func(t *testing.T, s *fakeH2) {
				if id, ok := s.next(t); ok {
					s.fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
					s.wait()
				}
			}},
		{name: "goaway-then-close", want: plan.ClosedOnReuse, detail: "GOAWAY (NO_ERROR), then EOF: connection closed before the answer",
			script: func(t *testing.T, s *fakeH2) {
				if id, ok := s.next(t); ok {
					s.fr.WriteGoAway(id, http2.ErrCodeNo, nil)
				}
			}},
		{name: "close", want: plan.ClosedOnReuse, script: func(t *testing.T, s *fakeH2) { s.next(t) }},
		{name: "reset", want: plan.Reset, detail: "connection reset by peer", script: func(t *testing.T, s *fakeH2) {
			if _, ok := s.next(t); ok {
				resetConn(t, s.c)
			}
		}},
		{name: "stall", want: plan.Slow, detail: "timeout: bytes acknowledged but no answer", script: func(t *testing.T, s *fakeH2) {
			s.next(t)
			s.wait()
		}},
		{name: "garbage", want: plan.Error, script: func(t *testing.T, s *fakeH2) {
			if _, ok := s.next(t); ok {
				s.fr.WriteRawFrame(http2.FramePing, 0, 3, []byte("short"))
				s.wait()
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			srv := startFakeH2(t, func(t *testing.T, s *fakeH2) {
				if s.open(t) {
					tc.script(t, s)
				}
			})
			c := open(t, transport(t, "h2c://"+srv.addr+"/", TransportOptions{Timeout: 500 * time.Millisecond}))
			// A short real idle period, as in a trial; no assertion depends on its length.
			time.Sleep(20 * time.Millisecond)
			r := reuse(t, c)
			if r.Outcome != tc.want || (tc.detail != "" && r.Detail != tc.detail) || r.Detail == "" {
				t.Fatalf("Reuse = %s (%q), want %s (%q)", r.Outcome, r.Detail, tc.want, tc.detail)
			}
			if r.Retired != tc.retired {
				t.Errorf("Retired = %v, want %v", r.Retired, tc.retired)
			}
			if tc.again == plan.ClosedIdle {
				waitClosed(t, c, 3*time.Second)
			}
			if tc.want == plan.Slow {
				if d := r.End.Sub(r.Start); !within(d, 450*time.Millisecond, time.Second) {
					t.Errorf("stalled reuse took %s, want about the 500ms timeout", d)
				}
			}
			if tc.again != "" {
				if r := reuse(t, c); r.Outcome != tc.again {
					t.Errorf("second Reuse = %s (%s), want %s", r.Outcome, r.Detail, tc.again)
				}
			}
		})
	}
}

// TestH2IdleEvents: what the server sends while the client is idle.
func TestH2IdleEvents(t *testing.T) {
	const after = 200 * time.Millisecond
	// pingQuiet is closed when the ping-and-settings server has checked
	// that the client stayed silent: the reuse must come after that.
	pingQuiet := make(chan struct{})
	for _, tc := range []struct {
		name   string
		script func(t *testing.T, s *fakeH2)
		closed bool
		detail string
		want   plan.Outcome
		// decoded reports, for a connection that stays open, that the
		// client has decoded what the server sent while it was idle.
		decoded func(pings int, broken error) bool
		quiet   <-chan struct{} // closed when the server's own idle check is over
	}{
		{name: "goaway-close-later", closed: true, detail: `GOAWAY (NO_ERROR: "idle")`, want: plan.ClosedIdle,
			script: func(t *testing.T, s *fakeH2) {
				s.fr.WriteGoAway(1, http2.ErrCodeNo, []byte("idle"))
				select {
				case <-s.done:
				case <-time.After(500 * time.Millisecond): // the close comes well after the GOAWAY: the case
				}
			}},
		// The GOAWAY and the FIN may be read together or apart.
		{name: "goaway-and-fin", closed: true, detail: "GOAWAY (NO_ERROR)", want: plan.ClosedIdle,
			script: func(t *testing.T, s *fakeH2) { s.fr.WriteGoAway(1, http2.ErrCodeNo, nil) }},
		{name: "rst", closed: true, detail: "connection reset by peer", want: plan.ClosedIdle,
			script: func(t *testing.T, s *fakeH2) { resetConn(t, s.c) }},
		{name: "ping-and-settings", want: plan.OK, quiet: pingQuiet,
			decoded: func(pings int, broken error) bool { return pings == 1 && broken == nil },
			script: func(t *testing.T, s *fakeH2) {
				s.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 15})
				s.fr.WritePing(false, [8]byte{1})
				// Nothing may come back for 150ms (the bound checked here);
				// then, at the reuse, both ACKs before the client's request.
				s.c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
				f, err := s.fr.ReadFrame()
				close(pingQuiet)
				if err == nil {
					t.Errorf("server: the client sent %v while idle", f)
					return
				}
				s.c.SetReadDeadline(time.Time{})
				sawAck := 0
				for {
					f, err := s.fr.ReadFrame()
					if err != nil {
						return
					}
					switch f := f.(type) {
					case *http2.SettingsFrame:
						if f.IsAck() {
							sawAck++
						}
					case *http2.PingFrame:
						if f.IsAck() && f.Data == [8]byte{1} {
							sawAck++
						}
					case *http2.MetaHeadersFrame:
						if sawAck != 2 {
							t.Errorf("server: the client's request came after %d of 2 ACKs", sawAck)
						}
						s.respond(f.StreamID)
					}
				}
			}},
		{name: "garbage", want: plan.Error,
			decoded: func(pings int, broken error) bool { return broken != nil },
			script: func(t *testing.T, s *fakeH2) {
				s.c.Write([]byte("\x00\x00\x01\x06\x00\x00\x00\x00\x00x")) // PING of length 1
				s.wait()
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			sentAt := make(chan time.Time, 1)
			srv := startFakeH2(t, func(t *testing.T, s *fakeH2) {
				if !s.open(t) {
					return
				}
				select {
				case <-s.done:
					return
				case <-time.After(after): // the server acts on a connection idle this long
				}
				sentAt <- time.Now()
				tc.script(t, s)
			})
			c := open(t, transport(t, "h2c://"+srv.addr+"/", TransportOptions{Timeout: time.Second}))
			if tc.closed {
				waitClosed(t, c, 3*time.Second)
				at, detail := c.CloseInfo()
				if d := at.Sub(<-sentAt); !within(d, 0, 30*time.Millisecond) {
					t.Errorf("close seen %s after the server acted, want within 30ms", d)
				}
				if detail != tc.detail && detail != tc.detail+", then EOF" {
					t.Errorf("detail %q, want %q", detail, tc.detail)
				}
			} else {
				select {
				case <-sentAt:
				case <-time.After(3 * time.Second):
					t.Fatal("the server did not act while the client was idle")
				}
				// Once the client has decoded what the server sent, any
				// close it would make of it has been signalled.
				h := c.(*h2Conn)
				waitFor(t, 3*time.Second, "the client to decode what the server sent while idle", func() bool {
					return tc.decoded(h.idleDecoded())
				})
				if tc.quiet != nil {
					select {
					case <-tc.quiet:
					case <-time.After(3 * time.Second):
						t.Fatal("the server's idle check did not end")
					}
				}
				select {
				case <-c.Closed():
					t.Fatal("Closed fired")
				default:
				}
			}
			r := reuse(t, c)
			if r.Outcome != tc.want {
				t.Errorf("Reuse = %s (%s), want %s", r.Outcome, r.Detail, tc.want)
			}
		})
	}
}

// idleDecoded stops c's idle monitor, returns what it has decoded so far
// (server PINGs awaiting their ACK, a protocol error) and starts it again.
func (c *h2Conn) idleDecoded() (pings int, broken error) {
	c.stopMonitor()
	defer c.startMonitor()
	return len(c.pendingPings), c.idleBroken
}
