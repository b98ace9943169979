package prober

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// A real nginx on loopback, for server hints: keepalive_requests and
// keepalive_time retire connections (HTTP/1.1 Connection: close, HTTP/2
// GOAWAY), and keepalive_timeout's second value is sent as a Keep-Alive
// header. (internal/lab starts nginx inside network namespaces; here it
// runs on the host's loopback, so it needs no root.)

// requireNginx returns the nginx binary, or skips the test when there is
// none and CI is unset (CI makes it a failure).
func requireNginx(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "" {
		t.Skip("nginx not found (Debian: apt-get install -y nginx-light); set CI=1 to make this a failure")
	}
	t.Fatal("nginx not found in PATH or /usr/sbin and CI is set (Debian: apt-get install -y nginx-light)")
	return ""
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNginx runs nginx in the foreground with servers (the server {}
// blocks of its http {} block, with %d for the ports, one per block) and
// returns the addresses, once every port accepts connections. The
// process group it started is stopped by its PID at cleanup.
func startNginx(t *testing.T, servers ...string) []string {
	t.Helper()
	bin := requireNginx(t)
	dir := t.TempDir()
	var blocks, addrs []string
	for _, s := range servers {
		port := freePort(t)
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", port))
		blocks = append(blocks, fmt.Sprintf(s, port))
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root root;"
	}
	conf := fmt.Sprintf(`%[2]s
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[3]s
}
`, dir, user, strings.Join(blocks, "\n"))
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "nginx.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath, "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		// nginx and its worker are in the process group we made.
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-exited
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL) // a worker that outlived its master
		if t.Failed() {
			out, _ := os.ReadFile(filepath.Join(dir, "nginx.out"))
			elog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s\nconfig:\n%s", out, elog, conf)
		}
	})
	for _, a := range addrs {
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-exited:
				out, _ := os.ReadFile(filepath.Join(dir, "nginx.out"))
				t.Fatalf("nginx exited (%v) before listening on %s:\n%s", waitErr, a, out)
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("nginx does not listen on %s after 10s", a)
			}
		}
	}
	return addrs
}

// nginxServer is a server {} block answering 200 "ok" on 127.0.0.1:%d
// (HTTP/1.1, or h2c with prior knowledge when h2c), with the extra
// directives.
func nginxServer(h2c bool, directives string) string {
	listen := "127.0.0.1:%d"
	if h2c {
		listen += " http2"
	}
	return `    server {
        listen ` + listen + `;
        ` + directives + `
        location / { return 200 "ok\n"; }
    }`
}

// reuseWant reuses c and checks the outcome and retirement.
func reuseWant(t *testing.T, what string, c Conn, retired bool) Reply {
	t.Helper()
	r := reuse(t, c)
	if r.Outcome != plan.OK || r.Retired != retired {
		t.Errorf("%s: %s retired=%v (%s), want ok retired=%v", what, r.Outcome, r.Retired, r.Detail, retired)
	}
	return r
}

// TestNginxKeepaliveRequests: nginx keepalive_requests 3 answers the third
// request on a connection (the second reuse) with Connection: close over
// HTTP/1.1 and with a GOAWAY over h2c: that reuse is OK and Retired.
func TestNginxKeepaliveRequests(t *testing.T) {
	noLeaks(t)
	addrs := startNginx(t,
		nginxServer(false, "keepalive_requests 3; keepalive_timeout 60s;"),
		nginxServer(true, "keepalive_requests 3; keepalive_timeout 60s;"))
	for i, scheme := range []string{"http", "h2c"} {
		t.Run(scheme, func(t *testing.T) {
			c := open(t, transport(t, scheme+"://"+addrs[i]+"/", TransportOptions{}))
			reuseWant(t, "request 2", c, false)
			r := reuseWant(t, "request 3", c, true)
			t.Logf("request 3: %s", r.Detail)
			if r := c.Reuse(context.Background()); r.Outcome != plan.Error {
				t.Errorf("reuse after retirement: %s (%s), want error", r.Outcome, r.Detail)
			}
			// A fresh connection starts counting again.
			c2 := open(t, transport(t, scheme+"://"+addrs[i]+"/", TransportOptions{}))
			reuseWant(t, "new connection, request 2", c2, false)
		})
	}
}

// TestNginxKeepaliveTime: nginx keepalive_time 2s retires a connection at
// the first request after it is 2 s old (a lifetime, not an idle limit),
// over HTTP/1.1 and h2c; before that, reuses are not retired.
func TestNginxKeepaliveTime(t *testing.T) {
	noLeaks(t)
	const lifetime = 2 * time.Second
	addrs := startNginx(t,
		nginxServer(false, "keepalive_time 2s; keepalive_timeout 60s; keepalive_requests 1000;"),
		nginxServer(true, "keepalive_time 2s; keepalive_timeout 60s; keepalive_requests 1000;"))
	h1 := open(t, transport(t, "http://"+addrs[0]+"/", TransportOptions{}))
	h2 := open(t, transport(t, "h2c://"+addrs[1]+"/", TransportOptions{}))
	conns := []Conn{h1, h2}
	names := []string{"http", "h2c"}
	// At the connection ages 1.0 s and 1.6 s: not retired; from 2.2 s: retired.
	for _, step := range []struct {
		age     time.Duration
		retired bool
	}{{lifetime / 2, false}, {lifetime * 8 / 10, false}, {lifetime * 11 / 10, true}} {
		for i, c := range conns {
			if wait := time.Until(c.Opened().Add(step.age)); wait > 0 {
				time.Sleep(wait) // the condition is the connection's age
			}
			r := reuseWant(t, fmt.Sprintf("%s at age %s", names[i], step.age), c, step.retired)
			if age := r.Start.Sub(c.Opened()); step.retired && age < lifetime {
				t.Errorf("%s: retired at age %s, before keepalive_time %s", names[i], age, lifetime)
			}
			if step.retired {
				t.Logf("%s at age %s: %s", names[i], r.Start.Sub(c.Opened()).Round(time.Millisecond), r.Detail)
			}
		}
	}
}

// TestNginxKeepAliveHeader: nginx sends no Keep-Alive header by default;
// keepalive_timeout 60s 50s makes it send "Keep-Alive: timeout=50", on the
// first response and on every reuse.
func TestNginxKeepAliveHeader(t *testing.T) {
	noLeaks(t)
	addrs := startNginx(t,
		nginxServer(false, "keepalive_timeout 60s 50s;"),
		nginxServer(false, "keepalive_timeout 60s;"))
	c := open(t, transport(t, "http://"+addrs[0]+"/", TransportOptions{}))
	want := Hints{KeepAliveTimeout: 50 * time.Second}
	if got := c.Hints(); got != want {
		t.Errorf("Hints after Open = %+v, want %+v", got, want)
	}
	reuseWant(t, "reuse", c, false)
	if got := c.Hints(); got != want {
		t.Errorf("Hints after reuse = %+v, want %+v", got, want)
	}
	plain := open(t, transport(t, "http://"+addrs[1]+"/", TransportOptions{}))
	reuseWant(t, "reuse without header", plain, false)
	if got := plain.Hints(); got != (Hints{}) {
		t.Errorf("Hints without a Keep-Alive header = %+v, want zero", got)
	}
}
