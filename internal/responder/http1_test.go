package responder

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestHTTPFastPathAndHandoff: requests the responder answers itself and
// requests it hands to net/http get the same answer, and the connection
// is kept or closed as HTTP/1.x says.
func TestHTTPFastPathAndHandoff(t *testing.T) {
	s := start(t, Config{HTTPAddr: "127.0.0.1:0"})
	big := strings.Repeat("x", 6000) // a header block larger than the read buffer
	tests := []struct {
		name      string
		requests  string // written at once (pipelined when several)
		responses int
		close     bool // the responder ends the connection after them
	}{
		{"keep-alive", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1, false},
		{"pipelined", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n", 3, false},
		{"chunked body", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 1, false},
		{"connection close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 1, true},
		{"HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", 1, true},
		{"HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1, false},
		{"upgrade goes to net/http", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n", 1, false},
		{"expect goes to net/http", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", 1, false},
		{"large header goes to net/http", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + big + "\r\n\r\n", 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, s.HTTPAddr())
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, tc.requests); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			for i := range tc.responses {
				method := "GET"
				if strings.Contains(tc.requests, "HEAD /2") && i == 1 {
					method = "HEAD"
				}
				resp, err := http.ReadResponse(br, &http.Request{Method: method})
				if err == nil && resp.StatusCode == http.StatusContinue {
					resp, err = http.ReadResponse(br, &http.Request{Method: method}) // Expect: 100-continue
				}
				if err != nil {
					t.Fatalf("response %d: %v", i, err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatalf("response %d body: %v", i, err)
				}
				want := Body
				if method == "HEAD" {
					want = ""
				}
				if resp.StatusCode != http.StatusOK || string(b) != want {
					t.Errorf("response %d: %d %q, want 200 %q", i, resp.StatusCode, b, want)
				}
				if resp.Header.Get("Date") == "" || resp.Header.Get("Content-Type") == "" {
					t.Errorf("response %d: headers %v lack Date or Content-Type", i, resp.Header)
				}
				if last := i == tc.responses-1; last && resp.Close != tc.close {
					t.Errorf("response %d: Close = %v, want %v", i, resp.Close, tc.close)
				}
			}
			// The connection ends (EOF) or is held (the read times out).
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			_, err := br.ReadByte()
			if tc.close && err != io.EOF {
				t.Errorf("after the response: %v, want EOF", err)
			}
			if !tc.close && !isTimeout(err) {
				t.Errorf("after the response: %v, want the connection held (a read timeout)", err)
			}
		})
	}
}

// TestShutdownClosesH2C: an h2c connection, which the fast path hands to
// net/http, is closed by Shutdown too, and Shutdown returns.
func TestShutdownClosesH2C(t *testing.T) {
	s, err := Start(context.Background(), Config{HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.HTTPAddr())
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	if f, err := fr.ReadFrame(); err != nil {
		t.Fatalf("no SETTINGS from the server: %v", err)
	} else if _, ok := f.(*http2.SettingsFrame); !ok {
		t.Fatalf("first frame %v, want SETTINGS", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := io.Copy(io.Discard, c); isTimeout(err) {
		t.Fatal("the h2c connection is still open after Shutdown")
	}
}
