package service

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/configs"
)

// TestServiceRun runs the whole service on a loopback listener: it serves
// while it starts, reloads on a signal, and stops cleanly when ctx ends.
func TestServiceRun(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "idleprobe.yml")
	refused := "http://" + closedPort(t) + "/"
	writeConfig(t, cfgFile, pathConfig{name: "web", target: refused})
	cfg, _, err := configs.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	svc := New(cfg, Options{ConfigFile: cfgFile, StatePath: filepath.Join(dir, "state.json"), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	reload := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx, func(srv *http.Server) error { return srv.Serve(l) }, reload) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service logs:\n%s", logs.String())
		}
	})

	waitFor(t, 10*time.Second, "the service to be ready", func() bool {
		code, _ := get(t, url+"/-/ready")
		return code == http.StatusOK
	})
	writeConfig(t, cfgFile, pathConfig{name: "web", target: refused}, pathConfig{name: "second", target: refused})
	reload <- syscall.SIGHUP
	waitFor(t, 10*time.Second, "the reloaded config on /metrics", func() bool {
		_, ok := pathValue(metrics(t, url), "idleprobe_path_info", "second")
		return ok
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v after ctx ended, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15 s of ctx ending")
	}
	if resp, err := client.Get(url + "/-/healthy"); err == nil {
		resp.Body.Close()
		t.Error("the web server still answers after Run returned")
	}
	if svc.Ready() {
		t.Error("the service is still ready after Run returned")
	}
	if !strings.Contains(logs.String(), "SIGHUP received: reloading the config") {
		t.Errorf("the reload is not logged:\n%s", logs.String())
	}
}

// TestServiceRunServeFails: a web server that dies ends Run with its error,
// after the measurements are stopped.
func TestServiceRunServeFails(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "idleprobe.yml")
	writeConfig(t, cfgFile, pathConfig{name: "web", target: "http://" + closedPort(t) + "/"})
	cfg, _, err := configs.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	svc := New(cfg, Options{ConfigFile: cfgFile, StatePath: filepath.Join(dir, "state.json")})
	dead := errors.New("listen tcp 127.0.0.1:1: bind: permission denied")
	err = svc.Run(context.Background(), func(*http.Server) error { return dead }, nil)
	if !errors.Is(err, dead) {
		t.Errorf("Run = %v, want the web server's error", err)
	}
	if svc.Ready() {
		t.Error("the service is still ready after Run returned")
	}
}
