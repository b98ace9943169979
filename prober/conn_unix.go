//go:build unix

package prober

import (
	"io"
	"net"
	"os"
	"syscall"
)

// read waits in the poller until the socket is readable (data, FIN, RST,
// or a deadline or Close that pause sets), then reads what fits into
// watchBuf. It returns what net.Conn.Read would: (0, io.EOF) for a FIN, a
// *net.OpError for a socket error or a deadline.
func (c *watchedConn) read() (int, error) {
	var (
		n     int
		errno error
	)
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, errno = syscall.Read(int(fd), c.watchBuf[:])
			if errno != syscall.EINTR {
				return errno != syscall.EAGAIN
			}
		}
	})
	switch {
	case err != nil:
		return 0, err // a deadline, or closed
	case errno != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.raw.LocalAddr(), Addr: c.raw.RemoteAddr(),
			Err: os.NewSyscallError("read", errno)}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}
