// Package term answers the one terminal question the command line needs:
// is this output a terminal, so that a live progress line may be redrawn?
package term

import (
	"io"
	"os"

	"golang.org/x/term"
)

// IsTerminalWriter reports whether w is an *os.File attached to a terminal.
// Buffers, pipes and regular files are not. It works on every platform
// golang.org/x/term supports.
func IsTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && f != nil && term.IsTerminal(int(f.Fd()))
}
