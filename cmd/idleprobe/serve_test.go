package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/version"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"
)

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// client never keeps connections, so that it leaves no goroutines behind.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

// get returns the status and body of url, or 0 when nothing answers.
func get(url string) (int, string) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago (web.ListenAndServe does not report the port it got for :0).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func writeFile(t *testing.T, file, content string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeConfig writes a serve config whose paths (name=target pairs) are
// measured every hour with short settings.
func writeConfig(t *testing.T, file string, paths ...string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("defaults:\n  min_idle: 250ms\n  max_idle: 3s\n  budget: 8\n  trial_timeout: 2s\n  jitter: 0s\npaths:\n")
	for _, p := range paths {
		name, target, _ := strings.Cut(p, "=")
		fmt.Fprintf(&b, "  - name: %s\n    target: %s\n    schedule: \"@every 1h\"\n", name, target)
	}
	writeFile(t, file, b.String())
}

// serveCmd is one `idleprobe serve` run in-process through the command line.
type serveCmd struct {
	cancel         context.CancelFunc
	done           chan int
	stdout, stderr *outBuf
	code           int
	ended          bool
}

// startServe runs `idleprobe serve ARGS` and waits until readyURL answers
// 200 (or 401: basic auth is on). It is stopped in t.Cleanup.
func startServe(t *testing.T, readyURL string, args ...string) *serveCmd {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serveCmd{cancel: cancel, done: make(chan int, 1), stdout: &outBuf{}, stderr: &outBuf{}}
	go func() { s.done <- dispatch(ctx, append([]string{"serve"}, args...), s.stdout, s.stderr) }()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("serve stderr:\n%s", s.stderr.String())
		}
	})
	waitFor(t, 10*time.Second, "serve to be ready", func() bool {
		select {
		case s.code = <-s.done:
			s.ended = true
			t.Fatalf("serve ended with exit %d before it was ready:\n%s", s.code, s.stderr.String())
		default:
		}
		code, _ := get(readyURL)
		return code == http.StatusOK || code == http.StatusUnauthorized
	})
	return s
}

// stop cancels serve (as SIGTERM does) and returns its exit code.
func (s *serveCmd) stop(t *testing.T) int {
	t.Helper()
	if !s.ended {
		s.ended = true
		s.cancel()
		select {
		case s.code = <-s.done:
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not stop within 20 s")
		}
	}
	return s.code
}

func TestServeFlags(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	writeConfig(t, good, "web=http://127.0.0.1:1/")
	bad := filepath.Join(dir, "bad.yml")
	writeFile(t, bad, "paths:\n  - name: web\n    target: http://127.0.0.1:1/\n    max_idle: 90x\n")
	badWeb := filepath.Join(dir, "web.yml")
	writeFile(t, badWeb, "tls_server_config:\n  cert_file: /nonexistent.crt\n")
	labelled := filepath.Join(dir, "labelled.yml")
	writeFile(t, labelled, "paths:\n  - name: web\n    target: http://127.0.0.1:1/\n    labels: {node: a}\n")

	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string
		stderr   string
		noStderr bool
	}{
		{"help", []string{"--help"}, exitOK, "--web.listen-address", "", true},
		{"check good config", []string{"--config.file", good, "--config.check"}, exitOK, "OK, 1 paths", "", false},
		{"check bad config", []string{"--config.file", bad, "--config.check"}, exitFailed, "", "max_idle", false},
		{"check missing config", []string{"--config.file", filepath.Join(dir, "none.yml"), "--config.check"}, exitFailed, "", "none.yml", false},
		{"check bad web config", []string{"--config.file", good, "--web.config.file", badWeb, "--config.check"}, exitFailed, "", "web.yml", false},
		{"unknown flag", []string{"--bogus"}, exitUsage, "", "unknown long flag '--bogus'", false},
		{"positional argument", []string{"http://127.0.0.1:1/"}, exitUsage, "", "serve takes only flags", false},
		{"bad telemetry path", []string{"--web.telemetry-path", "metrics"}, exitUsage, "", "--web.telemetry-path", false},
		{"bad log level", []string{"--log.level", "loud"}, exitUsage, "", "--log.level", false},
		{"bad shard", []string{"--shard", "5/5"}, exitUsage, "", "--shard: \"5/5\": INDEX 5 is not below TOTAL 5", false},
		{"bad shard index", []string{"--shard", "idleprobe/3"}, exitUsage, "", "--shard: \"idleprobe/3\": INDEX", false},
		{"reserved label", []string{"--label", "path=x"}, exitUsage, "", "--label path=...: \"path\" is set by idleprobe", false},
		{"invalid label", []string{"--label", "a-b=x"}, exitUsage, "", "--label a-b=...: \"a-b\" is not a valid label name", false},
		{"label without value", []string{"--label", "node"}, exitUsage, "", "--label: expected KEY=VALUE", false},
		{"check with shard and label", []string{"--config.file", good, "--shard", "idleprobe-2/3", "--label", "node=worker-1", "--config.check"}, exitOK, "OK, 1 paths", "", false},
		{"check label also set by a path", []string{"--config.file", labelled, "--label", "node=worker-1", "--config.check"}, exitFailed, "", `path "web": label "node" is also given on the command line`, false},
		{"bad config at start", []string{"--config.file", bad, "--web.listen-address", "127.0.0.1:0"}, exitFailed, "", "max_idle", false},
		{"unusable listen address", []string{"--config.file", good, "--web.listen-address", "127.0.0.1:-1", "--storage.path", filepath.Join(dir, "s.json")}, exitFailed, "", "--web.listen-address", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(t.Context(), append([]string{"serve"}, tc.args...), &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit code %d, want %d (stdout %q, stderr %q)", code, tc.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tc.stdout)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.stderr)
			}
			if tc.noStderr && stderr.Len() > 0 {
				t.Errorf("unexpected stderr %q", stderr.String())
			}
		})
	}
}

// TestServeCommandLine runs serve through the command line on two
// --web.listen-address: both serve the metrics with idleprobe_build_info,
// the start-up log names the version, SIGHUP reloads the config, and a
// stop (SIGTERM) ends with exit 0.
func TestServeCommandLine(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "idleprobe.yml")
	writeConfig(t, cfgFile, "web=http://127.0.0.1:1/", "second=http://127.0.0.1:1/")
	a1, a2 := freeAddr(t), freeAddr(t)
	s := startServe(t, "http://"+a2+"/-/ready", "--config.file", cfgFile, "--storage.path", filepath.Join(dir, "state.json"),
		"--web.listen-address", a1, "--web.listen-address", a2)

	buildInfo := fmt.Sprintf(`idleprobe_build_info{branch="",goarch=%q,goos=%q,goversion=%q,revision=%q,tags=%q,version="dev"} 1`,
		runtime.GOARCH, runtime.GOOS, runtime.Version(), version.GetRevision(), version.GetTags())
	for _, addr := range []string{a1, a2} {
		code, body := get("http://" + addr + "/metrics")
		if code != http.StatusOK || !strings.Contains(body, buildInfo) || !strings.Contains(body, `idleprobe_path_info{path="second"`) {
			t.Errorf("GET %s/metrics = %d, want 200 with %s and the paths:\n%s", addr, code, buildInfo, body)
		}
		if code, body := get("http://" + addr + "/"); code != http.StatusOK || !strings.Contains(body, "Version dev (revision ") {
			t.Errorf("GET %s/ = %d, want 200 with the version:\n%s", addr, code, body)
		}
	}
	logs := s.stderr.String()
	for _, want := range []string{`msg="Starting idleprobe" version="` + version.Info() + `"`, `msg="Listening on" address=` + a1, `msg="Listening on" address=` + a2, `msg="idleprobe serve ready"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("start-up logs lack %s:\n%s", want, logs)
		}
	}

	// The process handles SIGHUP from before it is ready: it reloads.
	writeConfig(t, cfgFile, "web=http://127.0.0.1:1/")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "second to disappear from /metrics after SIGHUP", func() bool {
		_, body := get("http://" + a1 + "/metrics")
		return strings.Contains(body, `idleprobe_path_info{path="web"`) && !strings.Contains(body, `path="second"`)
	})
	if code := s.stop(t); code != exitOK {
		t.Errorf("exit %d after a stop, want 0", code)
	}
	if !strings.Contains(s.stderr.String(), "idleprobe serve stopped") {
		t.Errorf("the stop is not logged:\n%s", s.stderr.String())
	}
	for _, addr := range []string{a1, a2} {
		if code, _ := get("http://" + addr + "/-/healthy"); code != 0 {
			t.Errorf("%s still answers after the stop", addr)
		}
	}
}

func TestServeBasicAuth(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "idleprobe.yml")
	writeConfig(t, cfgFile, "web=http://127.0.0.1:1/")
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	writeFile(t, webCfg, fmt.Sprintf("basic_auth_users:\n  admin: %q\n", hash))
	addr := freeAddr(t)
	startServe(t, "http://"+addr+"/-/ready", "--config.file", cfgFile, "--storage.path", filepath.Join(dir, "state.json"),
		"--web.listen-address", addr, "--web.config.file", webCfg)

	tests := []struct {
		name, user, pass string
		code             int
	}{
		{"no credentials", "", "", http.StatusUnauthorized},
		{"wrong password", "admin", "nope", http.StatusUnauthorized},
		{"right password", "admin", "s3cret", http.StatusOK},
	}
	for _, tc := range tests {
		for _, path := range []string{"/metrics", "/-/ready", "/"} {
			t.Run(tc.name+" "+path, func(t *testing.T) {
				req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				if tc.user != "" {
					req.SetBasicAuth(tc.user, tc.pass)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.code {
					t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, tc.code)
				}
			})
		}
	}
}

// runMainEnv, when set, makes the test binary run the command line
// (TestMain) instead of the tests: the child of TestServeSystemdSocket.
const runMainEnv = "IDLEPROBE_TEST_RUN_MAIN"

// TestServeSystemdSocket starts serve as systemd's socket activation does:
// a listening socket passed as fd 3, LISTEN_FDS=1 and LISTEN_PID set to the
// process's own pid (a shell sets it, then execs serve in its place). Serve
// listens on that socket only.
func TestServeSystemdSocket(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("socket activation (--web.systemd-socket) is Linux only")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("no shell to set LISTEN_PID: %v", err)
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "idleprobe.yml")
	writeConfig(t, cfgFile, "web=http://127.0.0.1:1/")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lf, err := l.(*net.TCPListener).File()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	url := "http://" + l.Addr().String()

	unused := freeAddr(t) // --web.listen-address is ignored with --web.systemd-socket
	cmd := exec.Command(sh, "-c", `LISTEN_PID=$$ exec "$0" "$@"`, os.Args[0], "serve", "--web.systemd-socket",
		"--web.listen-address", unused, "--config.file", cfgFile, "--storage.path", filepath.Join(dir, "state.json"))
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "LISTEN_FDS=1")
	cmd.ExtraFiles = []*os.File{lf}
	var stderr outBuf
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("serve stderr:\n%s", stderr.String())
		}
	})
	lf.Close() // the child holds the socket now

	waitFor(t, 20*time.Second, "serve to answer on the passed socket", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("serve exited before it was ready: %v", err)
		default:
		}
		code, _ := get(url + "/-/ready")
		return code == http.StatusOK
	})
	if code, body := get(url + "/metrics"); code != http.StatusOK || !strings.Contains(body, "idleprobe_build_info{") {
		t.Errorf("GET /metrics on the passed socket = %d, want 200 with idleprobe_build_info", code)
	}
	if code, _ := get("http://" + unused + "/-/healthy"); code != 0 {
		t.Errorf("serve also listens on --web.listen-address %s", unused)
	}
	if !strings.Contains(stderr.String(), "Listening on systemd activated listeners instead of port listeners.") {
		t.Errorf("the log does not say it uses the systemd socket:\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve ended with %v after SIGTERM, want exit 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20 s of SIGTERM")
	}
}
