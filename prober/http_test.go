package prober

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// TestHTTPClosedIdle: servers that close kept-alive connections after an
// idle period are seen at that moment.
func TestHTTPClosedIdle(t *testing.T) {
	const after = 300 * time.Millisecond
	t.Run("go-idle-timeout", func(t *testing.T) {
		noLeaks(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{
			Handler:     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }),
			IdleTimeout: after,
		}
		go hs.Serve(ln)
		t.Cleanup(func() { hs.Close() })
		c := open(t, transport(t, "http://"+ln.Addr().String()+"/", TransportOptions{}))
		waitClosed(t, c, 3*time.Second)
		at, detail := c.CloseInfo()
		if age := at.Sub(c.IdleSince()); !within(age, after-10*time.Millisecond, after+60*time.Millisecond) {
			t.Errorf("close age %s, want about %s", age, after)
		}
		if detail != "EOF" {
			t.Errorf("detail %q, want EOF", detail)
		}
		if r := reuse(t, c); r.Outcome != plan.ClosedIdle || !r.Start.Equal(at) || !r.End.Equal(at) {
			t.Errorf("Reuse = %+v, want ClosedIdle at %v", r, at)
		}
	})
	for _, tc := range []struct {
		name   string
		reset  bool
		detail string
	}{
		{"fin", false, "EOF"},
		{"rst", true, "connection reset by peer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			closedAt := make(chan time.Time, 1)
			srv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
				httpAnswer(t, c, func(int, *http.Request) (string, bool) { return okResponse, false })
				select {
				case <-done:
					return
				case <-time.After(after): // the idle time the server allows: what the test measures
				}
				closedAt <- time.Now()
				if tc.reset {
					resetConn(t, c)
				} else {
					c.Close()
				}
			})
			c := open(t, transport(t, "http://"+srv.addr+"/", TransportOptions{}))
			waitClosed(t, c, 3*time.Second)
			at, detail := c.CloseInfo()
			if d := at.Sub(<-closedAt); !within(d, 0, 30*time.Millisecond) {
				t.Errorf("close seen %s after the server closed, want within 30ms", d)
			}
			if age := at.Sub(c.IdleSince()); !within(age, after-10*time.Millisecond, after+60*time.Millisecond) {
				t.Errorf("close age %s, want about %s", age, after)
			}
			if detail != tc.detail {
				t.Errorf("detail %q, want %q", detail, tc.detail)
			}
			if r := reuse(t, c); r.Outcome != plan.ClosedIdle || r.Detail != tc.detail {
				t.Errorf("Reuse = %+v, want ClosedIdle (%s)", r, tc.detail)
			}
		})
	}
}

// TestHTTPRequest: the request carries what the options say, and nothing
// that would end keep-alive.
func TestHTTPRequest(t *testing.T) {
	noLeaks(t)
	reqs := make(chan *http.Request, 4)
	bodies := make(chan string, 4)
	srv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			b, _ := io.ReadAll(req.Body)
			reqs <- req
			bodies <- string(b)
			io.WriteString(c, okResponse)
		}
	})
	opts := TransportOptions{
		Method: "POST",
		Host:   "svc.example.test",
		Header: http.Header{"X-Probe": {"1", "2"}, "authorization": {"Bearer x"}},
		Body:   []byte(`{"a":1}`),
	}
	c := open(t, transport(t, "http://"+srv.addr+"/health/z?x=1&y=2", opts))
	if r := reuse(t, c); r.Outcome != plan.OK {
		t.Fatalf("reuse: %s (%s)", r.Outcome, r.Detail)
	}
	for i := range 2 {
		req, body := <-reqs, <-bodies
		if req.Method != "POST" || req.RequestURI != "/health/z?x=1&y=2" || req.Host != "svc.example.test" || req.Proto != "HTTP/1.1" {
			t.Errorf("request %d: %s %s %s Host %s", i+1, req.Method, req.RequestURI, req.Proto, req.Host)
		}
		if got := req.Header.Values("X-Probe"); len(got) != 2 || got[0] != "1" || got[1] != "2" {
			t.Errorf("request %d: X-Probe %q", i+1, got)
		}
		if got := req.Header.Get("Authorization"); got != "Bearer x" {
			t.Errorf("request %d: Authorization %q", i+1, got)
		}
		if ua := req.UserAgent(); !strings.HasPrefix(ua, "idleprobe/") {
			t.Errorf("request %d: User-Agent %q", i+1, ua)
		}
		if req.Close || req.Header.Get("Connection") != "keep-alive" {
			t.Errorf("request %d: Connection %q, close %v", i+1, req.Header.Get("Connection"), req.Close)
		}
		if body != `{"a":1}` || req.ContentLength != 7 {
			t.Errorf("request %d: body %q length %d", i+1, body, req.ContentLength)
		}
	}
}

// TestHTTPReuse covers the outcomes of a reuse over HTTP: the first
// request always gets okResponse, the second gets what second writes.
func TestHTTPReuse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		method  string
		second  func(t *testing.T, c net.Conn) // after reading request 2
		want    plan.Outcome
		detail  string
		timeout time.Duration
		minTime time.Duration
	}{
		{name: "ok", want: plan.OK, detail: "200 OK",
			second: func(t *testing.T, c net.Conn) { io.WriteString(c, okResponse) }},
		{name: "status-404", want: plan.OK, detail: "404 Not Found",
			second: func(t *testing.T, c net.Conn) {
				io.WriteString(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
			}},
		{name: "chunked", want: plan.OK, detail: "200 OK",
			second: func(t *testing.T, c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
				time.Sleep(10 * time.Millisecond) // pacing the body, not a wait for a condition
				io.WriteString(c, "2\r\nde\r\n0\r\n\r\n")
			}},
		{name: "head", method: "HEAD", want: plan.OK, detail: "200 OK",
			second: func(t *testing.T, c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
			}},
		{name: "interim-100", want: plan.OK, detail: "204 No Content",
			second: func(t *testing.T, c net.Conn) {
				io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
			}},
		{name: "reset", want: plan.Reset,
			second: func(t *testing.T, c net.Conn) { resetConn(t, c) }},
		{name: "fin-no-answer", want: plan.ClosedOnReuse,
			second: func(t *testing.T, c net.Conn) { c.Close() }},
		{name: "truncated", want: plan.ClosedOnReuse,
			second: func(t *testing.T, c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
				c.Close()
			}},
		{name: "stall", want: plan.Slow, timeout: 400 * time.Millisecond, minTime: 400 * time.Millisecond,
			second: func(t *testing.T, c net.Conn) {}},
		{name: "stall-mid-body", want: plan.Slow, timeout: 400 * time.Millisecond, minTime: 400 * time.Millisecond,
			second: func(t *testing.T, c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
			}},
		{name: "malformed", want: plan.Error,
			second: func(t *testing.T, c net.Conn) { io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\n\r\n") }},
		{name: "bad-chunk", want: plan.Error,
			second: func(t *testing.T, c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
			}},
		{name: "too-large", want: plan.Error, detail: errBodyTooLarge.Error(),
			second: func(t *testing.T, c net.Conn) {
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 2<<20)
				c.Write(bytes.Repeat([]byte("x"), 2<<20))
			}},
		{name: "switching-protocols", want: plan.Error,
			second: func(t *testing.T, c net.Conn) {
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			srv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
				httpAnswer(t, c, func(n int, _ *http.Request) (string, bool) {
					if n == 1 {
						if tc.method == "HEAD" {
							return "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", true
						}
						return okResponse, true
					}
					tc.second(t, c)
					return "", tc.want == plan.OK
				})
				<-done
			})
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 2 * time.Second
			}
			c := open(t, transport(t, "http://"+srv.addr+"/", TransportOptions{Method: tc.method, Timeout: timeout}))
			// A short real idle period, as in a trial; no assertion depends on its length.
			time.Sleep(20 * time.Millisecond)
			r := reuse(t, c)
			if r.Outcome != tc.want {
				t.Fatalf("Reuse = %s (%s), want %s", r.Outcome, r.Detail, tc.want)
			}
			if tc.detail != "" && r.Detail != tc.detail {
				t.Errorf("detail %q, want %q", r.Detail, tc.detail)
			}
			if took := r.End.Sub(r.Start); !within(took, tc.minTime, timeout+300*time.Millisecond) {
				t.Errorf("reuse took %s, want between %s and %s", took, tc.minTime, timeout+300*time.Millisecond)
			}
			if r.Retired {
				t.Errorf("Reuse = %+v: retired, but the server keeps the connection", r)
			}
			if r.Outcome == plan.OK {
				if got := c.IdleSince(); !got.Equal(r.End) {
					t.Errorf("IdleSince %v, want the end of the exchange %v", got, r.End)
				}
				// Still watched and reusable.
				if r2 := reuse(t, c); r2.Outcome != plan.Error && r2.Outcome != plan.OK && r2.Outcome != plan.ClosedOnReuse {
					t.Errorf("second reuse: %s (%s)", r2.Outcome, r2.Detail)
				}
			}
		})
	}
}

// TestHTTPServerClosesAfterReuse: a reuse answered with Connection: close
// (or in HTTP/1.0 without keep-alive) is OK (the path survived) and
// Retired: the connection is finished.
func TestHTTPServerClosesAfterReuse(t *testing.T) {
	for _, tc := range []struct{ name, answer, why string }{
		{"connection-close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", "(Connection: close)"},
		{"connection-close-case", "HTTP/1.1 200 OK\r\nconnection:  Close\r\nContent-Length: 2\r\n\r\nok", "(Connection: close)"},
		{"http-1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "(HTTP/1.0 without keep-alive)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			serverClosed := make(chan struct{})
			srv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
				httpAnswer(t, c, func(n int, _ *http.Request) (string, bool) {
					if n == 1 {
						return okResponse, true
					}
					return tc.answer, false
				})
				c.Close()
				close(serverClosed)
			})
			c := open(t, transport(t, "http://"+srv.addr+"/", TransportOptions{}))
			r := reuse(t, c)
			if r.Outcome != plan.OK || !r.Retired || !strings.Contains(r.Detail, "server closed the connection") || !strings.HasSuffix(r.Detail, tc.why) {
				t.Errorf("Reuse = %+v, want ok and retired, noting the close %s", r, tc.why)
			}
			select {
			case <-serverClosed:
			case <-time.After(3 * time.Second):
				t.Fatal("the server did not close the connection")
			}
			// The server's FIN is on the client's socket within microseconds
			// (loopback); a watcher still reading would report it at once.
			// Closed must stay silent for this long after the close.
			const quiet = 50 * time.Millisecond
			select {
			case <-c.Closed():
				t.Error("Closed() fired for a connection the server closed right after a response")
			case <-time.After(quiet):
			}
			if r := reuse(t, c); r.Outcome != plan.Error || r.Retired {
				t.Errorf("reuse of a retired connection = %+v, want error", r)
			}
		})
	}
}

// TestHTTPUnusable: a first exchange that shows the server cannot keep
// connections alive (or cannot answer) fails Open with ErrUnusable.
func TestHTTPUnusable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer string
		want   string
	}{
		{"connection-close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", "does not keep connections alive"},
		{"http-1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "does not keep connections alive"},
		{"no-length", "HTTP/1.1 200 OK\r\n\r\nbody until close", "does not keep connections alive"},
		{"malformed", "hello\r\n\r\n", "first request to"},
		{"silent", "", "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			srv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
				httpAnswer(t, c, func(int, *http.Request) (string, bool) { return tc.answer, false })
				<-done
			})
			tr := transport(t, "http://"+srv.addr+"/", TransportOptions{Timeout: 500 * time.Millisecond})
			openUnusable(t, tr, tc.want)
		})
	}
}

// FuzzReadResponse feeds arbitrary bytes to the response reader: it must
// never panic, and every error must classify to a valid outcome.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		okResponse,
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"HTTP/1.1 999 Odd\r\nContent-Length: -1\r\n\r\n",
		"",
		// Keep-Alive headers, well-formed and odd.
		"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nkeep-alive:  TIMEOUT = \"15\" ;max=3,,\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nKeep-Alive: max=7, timeout=9\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=-1, max=99999999999999999999999, timeout=1.5, =, timeout\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nKeep-Alive: \"timeout=5\"\r\nKeep-Alive:\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=2147483647, max=2147483648\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\nKeep-Alive: timeout=1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		br := bufio.NewReader(&budgetReader{r: bytes.NewReader(data), n: maxResponseBytes})
		sum, err := readResponse(br, method)
		out, detail := classify(err, func() (tcpState, error) { return tcpState{}, nil })
		if !out.Valid() {
			t.Fatalf("invalid outcome %q", out)
		}
		if h := sum.hints; h.KeepAliveTimeout < 0 || h.KeepAliveTimeout > maxKeepAliveValue*time.Second ||
			h.KeepAliveMax < 0 || h.KeepAliveMax > maxKeepAliveValue || h.KeepAliveTimeout%time.Second != 0 {
			t.Fatalf("hints %+v out of range", h)
		}
		if err == nil {
			if out != plan.OK || sum.status == "" {
				t.Fatalf("no error but outcome %s, status %q", out, sum.status)
			}
			return
		}
		if out == plan.OK || detail == "" || strings.Contains(detail, "\n") {
			t.Fatalf("error %v classified as %s (%q)", err, out, detail)
		}
	})
}

// TestHTTPReplayStash: bytes that arrive while the connection is idle are
// kept by the watcher and handed to the next response read, in order.
func TestHTTPReplayStash(t *testing.T) {
	noLeaks(t)
	const early = "HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nearly"
	sendEarly, sent := make(chan struct{}), make(chan struct{})
	srv := startServer(t, func(t *testing.T, c net.Conn, done <-chan struct{}) {
		httpAnswer(t, c, func(n int, _ *http.Request) (string, bool) {
			if n == 1 {
				// Answer, then send the next response early, once the
				// client is idle.
				go func() {
					select {
					case <-sendEarly:
					case <-done:
						return
					}
					io.WriteString(c, early)
					close(sent)
				}()
				return okResponse, true
			}
			return "", true
		})
	})
	c := open(t, transport(t, "http://"+srv.addr+"/", TransportOptions{Timeout: time.Second}))
	close(sendEarly) // Open has returned: the connection is idle, watched
	select {
	case <-sent:
	case <-time.After(3 * time.Second):
		t.Fatal("the server did not send the early response")
	}
	w := c.(*httpConn).watchedConn
	waitFor(t, 3*time.Second, "the watcher to stash the early response", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return string(w.stash) == early
	})
	select {
	case <-c.Closed():
		t.Fatal("data while idle was taken for a close")
	default:
	}
	if r := reuse(t, c); r.Outcome != plan.OK || r.Detail != "202 Accepted" {
		t.Errorf("Reuse = %s (%s), want ok with the stashed 202 Accepted", r.Outcome, r.Detail)
	}
}
