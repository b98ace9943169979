package term

import (
	"bytes"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWidthPseudoTerminal sizes a real pseudo-terminal to 64 and then 80
// columns and checks that Width follows it.
func TestWidthPseudoTerminal(t *testing.T) {
	f, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal available: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	for _, cols := range []uint16{64, 80} {
		if err := unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: cols}); err != nil {
			t.Fatalf("TIOCSWINSZ: %v", err)
		}
		if got := Width(f); got != int(cols) {
			t.Errorf("Width = %d, want %d", got, cols)
		}
	}
	if got := Width(&bytes.Buffer{}); got != 0 {
		t.Errorf("Width(buffer) = %d, want 0", got)
	}
	p, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if got := Width(p); got != 0 {
		t.Errorf("Width(regular file) = %d, want 0", got)
	}
}
