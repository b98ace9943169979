package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	example := filepath.Join("..", "..", "configs", "examples", "idleprobe.yml")
	bad := filepath.Join("..", "..", "configs", "testdata", "bad", "bad_duration.yml")
	warnOnly := write("warn.yml", "paths:\n  - name: slow\n    target: http://192.0.2.1/\n    strategy: sequential\n")
	missing := filepath.Join(dir, "missing.yml")

	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string // substrings
		stderr     []string
		noStdout   bool
		stderrNone bool
	}{
		{
			name:       "valid example",
			args:       []string{example},
			code:       exitOK,
			stdout:     []string{example + ": OK, 4 paths", "orders-nodeport", "tcp://192.0.2.10:30379", "max_connections: 128"},
			stderrNone: true,
		},
		{
			name:     "invalid file",
			args:     []string{bad},
			code:     exitFailed,
			stderr:   []string{bad + `:8: paths[2].max_idle: "90x" is not a duration (examples: 90s, 15m`, bad + ": INVALID"},
			noStdout: true,
		},
		{
			name:   "warnings do not fail",
			args:   []string{warnOnly},
			code:   exitOK,
			stdout: []string{warnOnly + ": OK, 1 path\n"},
			stderr: []string{"warning: " + warnOnly + ":2: paths[0].schedule:"},
		},
		{
			name:     "missing file",
			args:     []string{missing},
			code:     exitFailed,
			stderr:   []string{"missing.yml", "no such file", ": INVALID"},
			noStdout: true,
		},
		{
			name:   "one bad file among good ones",
			args:   []string{example, bad},
			code:   exitFailed,
			stdout: []string{example + ": OK"},
			stderr: []string{bad + ": INVALID"},
		},
		{
			name:       "quiet",
			args:       []string{"--quiet", example},
			code:       exitOK,
			noStdout:   true,
			stderrNone: true,
		},
		{
			name:     "flag after file",
			args:     []string{example, "--quiet"},
			code:     exitOK,
			noStdout: true,
		},
		{
			name:     "no file",
			args:     nil,
			code:     exitUsage,
			stderr:   []string{"check-config needs a config file"},
			noStdout: true,
		},
		{
			name:     "unknown flag",
			args:     []string{"--strict", example},
			code:     exitUsage,
			stderr:   []string{"unknown long flag '--strict'"},
			noStdout: true,
		},
		{
			name:   "help",
			args:   []string{"--help"},
			code:   exitOK,
			stdout: []string{"usage: idleprobe check-config", "Exit codes"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(context.Background(), append([]string{"check-config"}, tc.args...), &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, &stdout, &stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, &stdout)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, &stderr)
				}
			}
			if tc.noStdout && stdout.Len() > 0 {
				t.Errorf("unexpected stdout:\n%s", &stdout)
			}
			if tc.stderrNone && stderr.Len() > 0 {
				t.Errorf("unexpected stderr:\n%s", &stderr)
			}
		})
	}
}

// TestCheckConfigRegistered: the command is reachable through dispatch.
func TestCheckConfigRegistered(t *testing.T) {
	var stdout, stderr bytes.Buffer
	example := filepath.Join("..", "..", "configs", "examples", "minimal.yml")
	if code := dispatch(context.Background(), []string{"check-config", example}, &stdout, &stderr); code != exitOK {
		t.Fatalf("dispatch check-config: exit %d, stderr %s", code, &stderr)
	}
	if !strings.Contains(stdout.String(), "OK, 1 path") {
		t.Errorf("stdout %q", &stdout)
	}
}
