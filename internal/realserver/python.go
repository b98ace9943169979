package realserver

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// pythonServer is the http.server script StartPythonHTTP runs: HTTP/1.1
// keep-alive, one thread per connection, and the handler's socket timeout,
// which closes a connection idle for that long between requests.
const pythonServer = `import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = float(sys.argv[2])

    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
`

// Python is a Python http.server started by StartPythonHTTP.
type Python struct {
	*Proc
	// Addr is host:port of its listener (127.0.0.1).
	Addr string
}

// StartPythonHTTP runs Python's http.server (BaseHTTPRequestHandler with
// protocol_version HTTP/1.1 and `timeout`) on a free loopback port. It
// answers every GET with 200 "ok" and closes a connection idle for timeout.
//
// Seen from the client the close comes about 40 ms early: the handler
// writes the headers and the body in two sends, Nagle holds the body until
// the client's delayed ACK of the headers, and the server's idle timer has
// started by then. A client's idle time is counted from the body.
func StartPythonHTTP(t testing.TB, timeout time.Duration) *Python {
	t.Helper()
	if timeout <= 0 {
		t.Fatalf("StartPythonHTTP: timeout %s must be positive", timeout)
	}
	// Debian's python3 first: a pyenv shim in PATH costs a shell per start.
	bin := LookProgram(t, "python3", "apt-get install -y python3", "/usr/bin/python3")
	dir := t.TempDir()
	script := filepath.Join(dir, "server.py")
	if err := os.WriteFile(script, []byte(pythonServer), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Python{}
	p.Proc, p.Addr = startOnFreePort(t, "python-http", func(port int) (*Proc, error) {
		return start(t, Command{
			Name:   "python-http",
			Argv:   []string{bin, "-u", script, strconv.Itoa(port), fmt.Sprint(timeout.Seconds())},
			LogDir: dir,
		})
	})
	return p
}
