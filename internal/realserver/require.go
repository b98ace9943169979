package realserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
)

// Missing skips t because something a test needs is not installed, or
// fails it when the CI environment variable is set: in CI every real
// server must run (.ci/run installs them).
func Missing(t testing.TB, what, install string) {
	t.Helper()
	msg := fmt.Sprintf("%s (Debian: %s)", what, install)
	if ci := os.Getenv("CI"); ci != "" {
		t.Fatalf("%s, and CI=%q is set: .ci/run must install it", msg, ci)
	}
	t.Skipf("%s; skipping (set CI=true to make this a failure)", msg)
}

// LookProgram finds a program: the first candidate path that is an
// executable file, else name in PATH or the sbin directories a non-login
// root shell may lack. It calls Missing when there is none.
func LookProgram(t testing.TB, name, install string, candidates ...string) string {
	t.Helper()
	if p, ok := lookProgram(name, candidates...); ok {
		return p
	}
	Missing(t, name+" not found", install)
	return ""
}

func lookProgram(name string, candidates ...string) (string, bool) {
	for _, c := range candidates {
		if isExecutable(c) {
			return c, true
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p, true
		}
	}
	return "", false
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// newestGlob returns the last match of pattern in lexical order (the newest
// version directory, e.g. /usr/lib/postgresql/15/bin/postgres), or "".
// Versions are compared as strings: fine within one Debian release.
func newestGlob(pattern string) string {
	m, _ := filepath.Glob(pattern)
	sort.Strings(m)
	for i := len(m) - 1; i >= 0; i-- {
		if isExecutable(m[i]) {
			return m[i]
		}
	}
	return ""
}
