package term

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestNotTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	tests := []struct {
		name string
		w    any
	}{
		{"regular file", f},
		{"pipe", w},
		{"buffer", &bytes.Buffer{}},
		{"nil file", (*os.File)(nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if wr, ok := tc.w.(interface{ Write([]byte) (int, error) }); ok && IsTerminalWriter(wr) {
				t.Errorf("IsTerminalWriter(%s) = true, want false", tc.name)
			}
		})
	}
}

func TestPseudoTerminal(t *testing.T) {
	f, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal available: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	if !IsTerminalWriter(f) {
		t.Errorf("IsTerminalWriter(/dev/ptmx) = false, want true")
	}
}
