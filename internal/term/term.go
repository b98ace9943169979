// Package term answers the one terminal question the command line needs:
// is this output a terminal, so that a live progress line may be redrawn?
package term

import (
	"io"
	"os"
	"syscall"
	"unsafe"
)

// IsTerminal reports whether fd refers to a terminal: the TCGETS ioctl
// succeeds only on terminals.
//
// This is unix.IoctlGetTermios(fd, unix.TCGETS) written with package
// syscall, because golang.org/x/sys v0.50.0 needs the module's go line to
// read "go 1.26.0"; switch once it does.
func IsTerminal(fd uintptr) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, uintptr(syscall.TCGETS), uintptr(unsafe.Pointer(&t)))
	return errno == 0
}

// IsTerminalWriter reports whether w is an *os.File attached to a terminal.
// Buffers, pipes and regular files are not.
func IsTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && f != nil && IsTerminal(f.Fd())
}
