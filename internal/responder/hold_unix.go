//go:build unix

package responder

import (
	"net"
	"syscall"
)

// waitReadable blocks until c has bytes to read, or has ended (FIN, RST),
// or is closed. It reads nothing: the bytes stay in the socket. It returns
// an error only when c was closed or its socket failed.
func waitReadable(c *net.TCPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var one [1]byte
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		for {
			_, _, perr = syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if perr != syscall.EINTR {
				return perr != syscall.EAGAIN
			}
		}
	})
	if err != nil {
		return err
	}
	return perr
}
