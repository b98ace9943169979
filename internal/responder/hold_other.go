//go:build !unix

package responder

import "net"

// waitReadable returns at once where a socket cannot be peeked at portably:
// the caller's read then waits for the bytes itself, holding its buffer
// while the connection is idle (hold_unix.go waits without one).
func waitReadable(c *net.TCPConn) error { return nil }
