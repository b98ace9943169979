package responder

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// h2cClient is net/http's HTTP/2 client speaking h2c with prior knowledge to
// addr, on connections without TCP keepalive; dials counts its
// connections.
func h2cClient(t *testing.T, addr net.Addr, dials *atomic.Int32) *http.Client {
	t.Helper()
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	tr := &http.Transport{
		Protocols: &protocols,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			dials.Add(1)
			d := net.Dialer{KeepAlive: -1}
			return d.DialContext(ctx, network, addr.String())
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// TestH2CFastPath: a real HTTP/2 client gets the HTTP/1 path's answer
// (status, body, headers) for every kind of request, on one connection
// (the HPACK tables and windows stay right across requests), including
// request bodies larger than the initial window and concurrent streams.
func TestH2CFastPath(t *testing.T) {
	s := start(t, Config{HTTPAddr: "127.0.0.1:0"})
	var dials atomic.Int32
	cl := h2cClient(t, s.HTTPAddr(), &dials)
	big := strings.Repeat("x", 200<<10) // > the 64 KB windows: they must be given back
	tests := []struct {
		name, method, body string
		header             string
	}{
		{"get", "GET", "", "a"},
		{"get again (indexed fields)", "GET", "", "a"},
		{"head", "HEAD", "", "b"},
		{"post small", "POST", "hello", "c"},
		{"post beyond the windows", "POST", big, "d"},
		{"get with a long header", "GET", "", strings.Repeat("h", 3000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, err := http.NewRequest(tc.method, "http://"+s.HTTPAddr().String()+"/x?y=1", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Test", tc.header)
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", tc.method, err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			want := Body
			if tc.method == "HEAD" {
				want = ""
			}
			if resp.ProtoMajor != 2 || resp.StatusCode != 200 || string(b) != want {
				t.Errorf("%s %d %q, want HTTP/2 200 %q", resp.Proto, resp.StatusCode, b, want)
			}
			for k, v := range map[string]string{"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store", "Content-Length": "24"} {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if resp.Header.Get("Date") == "" || resp.Header.Get("Connection") != "" {
				t.Errorf("headers %v: want a Date and no Connection", resp.Header)
			}
		})
	}
	// Concurrent streams on the same connection.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			resp, err := cl.Get("http://" + s.HTTPAddr().String() + "/c")
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != Body {
				errs <- errors.New("body " + string(b))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("the client opened %d connections, want 1 (the responder must keep it)", n)
	}
}

// h2cRaw opens a connection and runs the preface with settings, reading
// the server's SETTINGS and the ACK of ours.
func h2cRaw(t *testing.T, addr net.Addr, settings ...http2.Setting) (net.Conn, *http2.Framer) {
	t.Helper()
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	gotSettings, gotAck := false, false
	for !gotSettings || !gotAck {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("preface: %v", err)
		}
		sf, ok := f.(*http2.SettingsFrame)
		if !ok {
			continue
		}
		if sf.IsAck() {
			gotAck = true
			continue
		}
		gotSettings = true
		if v, ok := sf.Value(http2.SettingHeaderTableSize); !ok || v != h2HeaderTable {
			t.Errorf("SETTINGS_HEADER_TABLE_SIZE = %d, %v; want %d", v, ok, h2HeaderTable)
		}
		if err := fr.WriteSettingsAck(); err != nil {
			t.Fatal(err)
		}
	}
	return c, fr
}

// getHeaders encodes a GET request.
func getHeaders() []byte {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "test"}, {":path", "/"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return hb.Bytes()
}

// TestH2CFlowControl: the response body waits for the client's windows:
// with an initial stream window of 5 bytes, 5 bytes come, the rest after
// a WINDOW_UPDATE.
func TestH2CFlowControl(t *testing.T) {
	s := start(t, Config{HTTPAddr: "127.0.0.1:0"})
	_, fr := h2cRaw(t, s.HTTPAddr(), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 5})
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: getHeaders(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	var body []byte
	updated := false
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("read: %v (body so far %q)", err, body)
		}
		d, ok := f.(*http2.DataFrame)
		if !ok {
			continue
		}
		body = append(body, d.Data()...)
		if d.StreamEnded() {
			break
		}
		if len(body) != 5 || updated {
			t.Fatalf("got %d body bytes before a WINDOW_UPDATE, want 5", len(body))
		}
		updated = true
		if err := fr.WriteWindowUpdate(1, 100); err != nil {
			t.Fatal(err)
		}
	}
	if !updated || string(body) != Body {
		t.Errorf("body %q (window update sent: %v), want %q after one update", body, updated, Body)
	}
}

// TestH2CProtocolErrors: a client that breaks the protocol gets a GOAWAY
// with the right code, then the connection ends.
func TestH2CProtocolErrors(t *testing.T) {
	s := start(t, Config{HTTPAddr: "127.0.0.1:0"})
	tests := []struct {
		name  string
		write func(fr *http2.Framer) error
		code  http2.ErrCode
	}{
		{"even stream", func(fr *http2.Framer) error {
			return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 2, BlockFragment: getHeaders(), EndStream: true, EndHeaders: true})
		}, http2.ErrCodeProtocol},
		{"DATA on an idle stream", func(fr *http2.Framer) error { return fr.WriteData(7, true, []byte("x")) }, http2.ErrCodeProtocol},
		{"bad HPACK", func(fr *http2.Framer) error {
			return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0xff, 0xff, 0xff, 0xff}, EndStream: true, EndHeaders: true})
		}, http2.ErrCodeCompression},
		{"frame too large", func(fr *http2.Framer) error { return fr.WriteData(1, true, make([]byte, 20000)) }, http2.ErrCodeFrameSize},
		{"connection window overflow", func(fr *http2.Framer) error { return fr.WriteWindowUpdate(0, 1<<31-1) }, http2.ErrCodeFlowControl},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, fr := h2cRaw(t, s.HTTPAddr())
			if err := tc.write(fr); err != nil {
				t.Fatal(err)
			}
			for {
				f, err := fr.ReadFrame()
				if err != nil {
					t.Fatalf("read: %v, want a GOAWAY", err)
				}
				if g, ok := f.(*http2.GoAwayFrame); ok {
					if g.ErrCode != tc.code {
						t.Errorf("GOAWAY %s, want %s", g.ErrCode, tc.code)
					}
					break
				}
			}
			// Then it ends: EOF, or a reset when our bytes were left unread.
			if _, err := io.Copy(io.Discard, c); isTimeout(err) {
				t.Errorf("after the GOAWAY the connection stays open")
			}
		})
	}
}

// TestH2CIdleCost: between exchanges, a held h2c connection is one
// goroutine parked in holdH2, and no exchange goroutine is left.
func TestH2CIdleCost(t *testing.T) {
	s := start(t, Config{HTTPAddr: "127.0.0.1:0"})
	_, fr := h2cRaw(t, s.HTTPAddr())
	h2cRequest(t, fr, 1)
	h2cRequest(t, fr, 3)
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var b strings.Builder
		pprof.Lookup("goroutine").WriteTo(&b, 1)
		dump := b.String()
		holds, answers := strings.Count(dump, "(*Server).holdH2+"), strings.Count(dump, "(*Server).answerH2+")
		if holds == 1 && answers == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("held h2c connection: %d holdH2 and %d answerH2 goroutines, want 1 and 0", holds, answers)
		}
		<-tick.C
	}
	s.mu.Lock()
	held := len(s.conns)
	s.mu.Unlock()
	if held != 1 {
		t.Errorf("responder tracks %d connections, want 1", held)
	}
}

// TestGRPCWatchUnimplemented: a gRPC call other than Health/Check (here
// the Watch stream) is answered UNIMPLEMENTED, and the connection serves a
// Check afterwards.
func TestGRPCWatchUnimplemented(t *testing.T) {
	s := start(t, Config{HTTPAddr: "127.0.0.1:0"})
	cc, err := grpc.NewClient(s.HTTPAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := grpc_health_v1.NewHealthClient(cc)
	w, err := h.Watch(ctx, &grpc_health_v1.HealthCheckRequest{})
	if err == nil {
		_, err = w.Recv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("Watch: %v, want Unimplemented", err)
	}
	if r, err := h.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: GRPCService}); err != nil || r.Status != grpc_health_v1.HealthCheckResponse_SERVING {
		t.Errorf("Check after Watch = %v, %v; want SERVING", r, err)
	}
}
