//go:build !unix

package prober

// read reads what arrives into watchBuf, as net.Conn.Read does: (0,
// io.EOF) for a FIN, an error for a socket error, a deadline or Close.
// (Unix systems wait in the poller first and read only then: conn_unix.go.)
func (c *watchedConn) read() (int, error) { return c.raw.Read(c.watchBuf[:]) }
