// Package term answers the terminal questions the command line needs: is
// this output a terminal, so that a live progress line may be redrawn, and
// how wide is it, so that the line fits on one row?
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

// Width returns the number of columns of the terminal w is attached to,
// or 0 when w is not a terminal or its size is not known (a pseudo-terminal
// nobody sized). It asks the terminal each time, so it follows a resize.
func Width(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return 0
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil || cols < 0 {
		return 0
	}
	return cols
}
