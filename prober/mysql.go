package prober

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
)

// mysqlTransport logs in to MySQL or MariaDB with go-sql-driver/mysql and
// reuses with SELECT 1. The driver's connector gives one connection that
// idleprobe owns, dialed by idleprobe (no database/sql pool, no retries, no
// liveness check, no TCP keepalive, its logger silenced); the driver speaks
// the protocol and its authentications (mysql_native_password, tested
// against MariaDB; caching_sha2_password, tested against a scripted server).
type mysqlTransport struct {
	target Target
	d      *dialer
	cfg    *mysql.Config // template; cloned per connection
}

// mysqlIdleTimeoutCode is MySQL's error for a session closed after
// wait_timeout (ER_CLIENT_INTERACTION_TIMEOUT, MySQL 8.0.24 and later;
// MariaDB closes without a message).
const mysqlIdleTimeoutCode = 4031

func newMySQLTransport(t Target, d *dialer, o TransportOptions) (*mysqlTransport, error) {
	cfg := mysql.NewConfig()
	cfg.User = dbUser(t.URL)
	cfg.DBName = dbName(t.URL)
	cfg.Net = "tcp"
	cfg.Addr = t.Address
	cfg.Logger = &mysql.NopLogger{}
	cfg.CheckConnLiveness = false
	cfg.Timeout = d.timeout
	// Known up front, so that the driver asks nothing at connect.
	cfg.MaxAllowedPacket = 4 << 20
	pw, err := o.Credentials.password()
	switch {
	case errors.Is(err, errNoPassword):
	case err != nil:
		return nil, err
	default:
		cfg.Passwd = pw
	}
	return &mysqlTransport{target: t, d: d, cfg: cfg}, nil
}

// Open connects, logs in, and reads the server's wait_timeout.
func (t *mysqlTransport) Open(ctx context.Context) (Conn, error) {
	s, octx, cancel, err := dialSession(ctx, t.d)
	if err != nil {
		return nil, err
	}
	defer cancel()
	s.goodbye = mysqlGoodbye
	cfg := t.cfg.Clone()
	handed := false
	cfg.DialFunc = func(context.Context, string, string) (net.Conn, error) {
		if handed {
			return nil, errors.New("the driver dialed twice")
		}
		handed = true
		return s.rw, nil
	}
	c := &mysqlConn{session: s}
	err = s.openExchange(octx, ctx, "MySQL login to "+t.target.String(), func() error {
		// The driver reads the server's first packet without checking its
		// length; a panic there would leave its goroutine behind.
		if err := checkMySQLHandshake(s.rw); err != nil {
			return err
		}
		return mysqlSafely(func() error {
			dc, err := mysql.NewConnector(cfg)
			if err != nil {
				return err
			}
			conn, err := dc.Connect(context.Background())
			if err != nil {
				return mysqlErr(err)
			}
			q, ok := conn.(driver.QueryerContext)
			if !ok {
				conn.Close()
				return errors.New("the MySQL driver cannot run queries")
			}
			c.dc, c.q = conn, q
			v, err := c.query("SELECT @@wait_timeout")
			if err != nil {
				return err
			}
			if n, err := strconv.ParseFloat(v, 64); err == nil && n > 0 && n < 1<<31 {
				c.hints.KeepAliveTimeout = time.Duration(n * float64(time.Second))
			}
			return nil
		})
	}, func() {
		if c.dc != nil {
			c.dc.Close()
		}
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// mysqlConn is one logged-in MySQL session under test.
type mysqlConn struct {
	*session
	dc driver.Conn
	q  driver.QueryerContext
}

// query runs sql and returns the first column of the first row as text.
// The driver gets no context: only idleprobe's deadlines end an exchange.
func (c *mysqlConn) query(sql string) (string, error) {
	rows, err := c.q.QueryContext(context.Background(), sql, nil)
	if err != nil {
		return "", mysqlErr(err)
	}
	defer rows.Close()
	if len(rows.Columns()) == 0 {
		return "", malformed("%s returned no columns", sql)
	}
	dest := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(dest); err != nil {
		if err == io.EOF {
			return "", malformed("%s returned no row", sql)
		}
		return "", mysqlErr(err)
	}
	var v string
	switch x := dest[0].(type) {
	case []byte:
		v = string(x)
	case int64:
		v = strconv.FormatInt(x, 10)
	default:
		v = fmt.Sprint(x)
	}
	// Read to the end, so the connection is ready for the next query.
	for rows.Next(dest) == nil {
	}
	return v, nil
}

// Reuse sends SELECT 1 and wants the row 1.
func (c *mysqlConn) Reuse(ctx context.Context) Reply {
	return c.reuse(ctx, func() (string, error) {
		var v string
		err := mysqlSafely(func() error {
			var err error
			v, err = c.query("SELECT 1")
			return err
		})
		if err != nil {
			return "", err
		}
		if v != "1" {
			return "", malformed("SELECT 1 returned %q", clip(v))
		}
		return "SELECT 1 returned 1", nil
	})
}

// Close ends the session (the driver sends COM_QUIT) and the connection.
func (c *mysqlConn) Close() error {
	if c.dc != nil {
		_ = mysqlSafely(c.dc.Close)
	}
	return c.session.Close()
}

// mysqlErr turns the server's error answers into serverErrors; other
// errors stay as they are (the recorder keeps the I/O cause).
func mysqlErr(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		msg := oneLine(me.Error())
		if me.Number == mysqlIdleTimeoutCode {
			msg += " (the server's wait_timeout)"
		}
		return &serverError{msg: msg, fatal: me.Number == mysqlIdleTimeoutCode}
	}
	return err
}

// mysqlSafely runs fn, turning a panic of the driver on malformed input
// into a malformed answer.
func mysqlSafely(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = malformed("undecodable packet (%v)", p)
		}
	}()
	return fn()
}

// checkMySQLHandshake reads the server's first packet and checks that the
// driver can read it without going out of bounds (the offsets of its
// readHandshakePacket and handleErrorPacket); the packet is then read again
// by the driver (r replays it).
func checkMySQLHandshake(r *recorder) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if n == 0 || n > 1<<16 {
		return malformed("first packet of %d bytes is not a MySQL handshake", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return err
	}
	r.replay = append(hdr[:], p...)
	if p[0] == 0xff {
		if n < 4 || (p[3] == '#' && n < 9) {
			return malformed("short error packet")
		}
		return nil
	}
	end := bytes.IndexByte(p[1:], 0)
	if p[0] < 10 || end < 0 {
		return malformed("not a MySQL protocol 10 handshake (is this a MySQL server?)")
	}
	pos := 1 + end + 1 + 4 + 8 + 1 + 2
	if n < pos || (n > pos && n < pos+29) {
		return malformed("short MySQL handshake")
	}
	return nil
}

// mysqlGoodbye finds an error packet among bytes that arrived while idle:
// MySQL 8.0.24 and later send error 4031 before closing a session idle for
// wait_timeout.
func mysqlGoodbye(b []byte) string {
	for len(b) >= 4 {
		n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
		if n > len(b)-4 {
			return ""
		}
		p := b[4 : 4+n]
		b = b[4+n:]
		if len(p) < 3 || p[0] != 0xff {
			continue
		}
		code := binary.LittleEndian.Uint16(p[1:3])
		msg := p[3:]
		if len(msg) >= 6 && msg[0] == '#' {
			msg = msg[6:]
		}
		s := fmt.Sprintf("error %d: %s", code, oneLine(string(msg)))
		if code == mysqlIdleTimeoutCode {
			s += " (the server's wait_timeout)"
		}
		return s
	}
	return ""
}
