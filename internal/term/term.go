// Package term answers the one terminal question the command line needs:
// is this output a terminal, so that a live progress line may be redrawn?
package term

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// IsTerminal reports whether fd refers to a terminal: the TCGETS ioctl
// succeeds only on terminals.
func IsTerminal(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	return err == nil
}

// IsTerminalWriter reports whether w is an *os.File attached to a terminal.
// Buffers, pipes and regular files are not.
func IsTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && f != nil && IsTerminal(f.Fd())
}
