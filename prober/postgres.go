package prober

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// postgresTransport logs in to PostgreSQL (trust, password, md5 or
// SCRAM-SHA-256), over TLS with sslmode=require or verify-full, and reuses
// with the simple query SELECT 1. Messages are
// encoded and decoded by pgx's pgproto3 over a connection idleprobe owns:
// pgconn would dial, fall back to other hosts and TLS modes, and keep its own
// background reader; database/sql would pool.
type postgresTransport struct {
	target      Target
	d           *dialer
	user, db    string
	password    string
	hasPassword bool
	// tls is set for sslmode=require or verify-full; never modified.
	tls     *tls.Config
	sslmode string
}

// maxPGMessage bounds one message from the server.
const maxPGMessage = 1 << 20

// pgIdleTimeoutCode is PostgreSQL's SQLSTATE for a session ended by
// idle_session_timeout (idle_session_timeout, PostgreSQL 14 and later).
const pgIdleTimeoutCode = "57P05"

func newPostgresTransport(t Target, d *dialer, o TransportOptions) (*postgresTransport, error) {
	p := &postgresTransport{target: t, d: d, user: dbUser(t.URL), db: dbName(t.URL)}
	if p.db == "" {
		p.db = p.user
	}
	pw, err := o.Credentials.password()
	switch {
	case errors.Is(err, errNoPassword):
	case err != nil:
		return nil, err
	default:
		p.password, p.hasPassword = pw, true
	}
	if p.sslmode, err = pgSSLMode(t.URL); err != nil {
		return nil, err
	}
	if p.sslmode != sslDisable {
		if p.tls, err = newTLSConfig(t, o); err != nil {
			return nil, err
		}
		p.tls.NextProtos = nil // TLS after SSLRequest negotiates no protocol
		if p.sslmode == sslRequire {
			p.tls.InsecureSkipVerify = true //nolint:gosec // libpq's sslmode=require: encrypted, not verified
		}
	}
	return p, nil
}

// pgSSLRequest asks the server to switch to TLS (length 8, code 80877103).
var pgSSLRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// startTLS sends SSLRequest and, when the server agrees ('S'), completes
// the TLS handshake; the protocol then runs over TLS. Exactly one byte is
// read before the handshake, so nothing sent in plain text can pass for
// part of the encrypted session.
func (c *postgresConn) startTLS(ctx, parent context.Context, t *postgresTransport) error {
	if _, err := c.rw.Write(pgSSLRequest); err != nil {
		return err
	}
	var b [1]byte
	if _, err := io.ReadFull(c.rw, b[:]); err != nil {
		return err
	}
	switch b[0] {
	case 'S':
	case 'N':
		return &serverError{msg: "the server does not accept TLS (sslmode=" + t.sslmode + "); use sslmode=disable, or enable ssl on the server"}
	default:
		return malformed("answer %q to SSLRequest", b[0])
	}
	if err := c.session.startTLS(ctx, parent, t.d, t.tls); err != nil {
		return err
	}
	c.goodbye = nil // what arrives while idle is encrypted
	c.fe = pgproto3.NewFrontend(c.rw, c.rw)
	c.fe.SetMaxBodyLen(maxPGMessage)
	return nil
}

// Open connects, logs in, and reads the server's idle_session_timeout.
func (t *postgresTransport) Open(ctx context.Context) (Conn, error) {
	s, octx, cancel, err := dialSession(ctx, t.d)
	if err != nil {
		return nil, err
	}
	defer cancel()
	s.goodbye = pgGoodbye
	fe := pgproto3.NewFrontend(s.rw, s.rw)
	fe.SetMaxBodyLen(maxPGMessage)
	c := &postgresConn{session: s, fe: fe}
	err = s.openExchange(octx, ctx, "PostgreSQL login to "+t.target.String(), func() error {
		if t.tls != nil {
			if err := c.startTLS(octx, ctx, t); err != nil {
				return err
			}
		}
		return c.login(t)
	}, nil)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// postgresConn is one logged-in PostgreSQL session under test.
type postgresConn struct {
	*session
	fe *pgproto3.Frontend
}

// login runs the startup and authentication, then SHOW idle_session_timeout.
func (c *postgresConn) login(t *postgresTransport) error {
	c.fe.Send(&pgproto3.StartupMessage{
		ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters:      map[string]string{"user": t.user, "database": t.db, "application_name": "idleprobe"},
	})
	if err := c.fe.Flush(); err != nil {
		return err
	}
	var scram *scramClient
	for {
		msg, err := c.receive()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.AuthenticationOk, *pgproto3.ParameterStatus, *pgproto3.BackendKeyData, *pgproto3.NoticeResponse:
		case *pgproto3.ReadyForQuery:
			return c.readIdleTimeout()
		case *pgproto3.AuthenticationCleartextPassword:
			if err := c.sendPassword(t, "password", func() string { return t.password }); err != nil {
				return err
			}
		case *pgproto3.AuthenticationMD5Password:
			salt := m.Salt
			if err := c.sendPassword(t, "md5", func() string { return md5Password(t.user, t.password, salt) }); err != nil {
				return err
			}
		case *pgproto3.AuthenticationSASL:
			if !slices.Contains(m.AuthMechanisms, scramMechanism) {
				return &serverError{msg: fmt.Sprintf("the server offers SASL mechanisms %q; only %s is supported", m.AuthMechanisms, scramMechanism)}
			}
			if !t.hasPassword {
				return noPassword("SCRAM-SHA-256")
			}
			if scram, err = newSCRAM(t.password); err != nil {
				return err
			}
			c.fe.Send(&pgproto3.SASLInitialResponse{AuthMechanism: scramMechanism, Data: scram.first()})
			if err := c.fe.Flush(); err != nil {
				return err
			}
		case *pgproto3.AuthenticationSASLContinue:
			if scram == nil {
				return malformed("SASL continue without SASL")
			}
			final, err := scram.final(m.Data)
			if err != nil {
				return &serverError{msg: err.Error()}
			}
			c.fe.Send(&pgproto3.SASLResponse{Data: final})
			if err := c.fe.Flush(); err != nil {
				return err
			}
		case *pgproto3.AuthenticationSASLFinal:
			if scram == nil {
				return malformed("SASL final without SASL")
			}
			if err := scram.verify(m.Data); err != nil {
				return &serverError{msg: err.Error()}
			}
		case *pgproto3.ErrorResponse:
			return pgError(m)
		default:
			return malformed("unexpected %T during login", msg)
		}
	}
}

// noPassword is the error for a server that asks for a password when none
// is configured.
func noPassword(method string) error {
	return &serverError{msg: "the server asks for a password (" + method + ") and none is configured: give a password file or environment variable"}
}

func (c *postgresConn) sendPassword(t *postgresTransport, method string, answer func() string) error {
	if !t.hasPassword {
		return noPassword(method)
	}
	c.fe.Send(&pgproto3.PasswordMessage{Password: answer()})
	return c.fe.Flush()
}

// receive reads one message. pgproto3 is fed whatever the server sends; a
// panic in it on malformed input is a malformed answer, not a crash.
func (c *postgresConn) receive() (msg pgproto3.BackendMessage, err error) {
	defer func() {
		if p := recover(); p != nil {
			msg, err = nil, malformed("undecodable message (%v)", p)
		}
	}()
	return c.fe.Receive()
}

// readIdleTimeout reads idle_session_timeout into the hints. A server
// without it (before PostgreSQL 14) answers with an error: no hint.
func (c *postgresConn) readIdleTimeout() error {
	v, err := c.query("SHOW idle_session_timeout")
	var se *serverError
	switch {
	case errors.As(err, &se) && !se.fatal:
		return nil
	case err != nil:
		return err
	}
	if d, ok := parsePGDuration(v); ok && d > 0 {
		c.hints.KeepAliveTimeout = d
	}
	return nil
}

// query runs a simple query and returns the first column of its first row.
// A non-fatal error answer is returned after the server is ready again.
func (c *postgresConn) query(sql string) (string, error) {
	c.fe.Send(&pgproto3.Query{String: sql})
	if err := c.fe.Flush(); err != nil {
		return "", err
	}
	var (
		value   string
		gotRow  bool
		failure error
	)
	for {
		msg, err := c.receive()
		if err != nil {
			return "", err
		}
		switch m := msg.(type) {
		case *pgproto3.RowDescription, *pgproto3.CommandComplete, *pgproto3.EmptyQueryResponse,
			*pgproto3.NoticeResponse, *pgproto3.ParameterStatus, *pgproto3.NotificationResponse:
		case *pgproto3.DataRow:
			if !gotRow && len(m.Values) > 0 {
				value, gotRow = string(m.Values[0]), true
			}
		case *pgproto3.ErrorResponse:
			e := pgError(m)
			if e.fatal {
				return "", e
			}
			failure = e
		case *pgproto3.ReadyForQuery:
			if failure != nil {
				return "", failure
			}
			if !gotRow {
				return "", malformed("%s returned no row", sql)
			}
			return value, nil
		default:
			return "", malformed("unexpected %T in the answer to a query", msg)
		}
	}
}

// Reuse sends SELECT 1 and wants the row 1.
func (c *postgresConn) Reuse(ctx context.Context) Reply {
	return c.reuse(ctx, func() (string, error) {
		v, err := c.query("SELECT 1")
		if err != nil {
			return "", err
		}
		if v != "1" {
			return "", malformed("SELECT 1 returned %q", clip(v))
		}
		return "SELECT 1 returned 1", nil
	})
}

// pgError turns the server's ErrorResponse into a one-line serverError.
func pgError(m *pgproto3.ErrorResponse) *serverError {
	sev := m.SeverityUnlocalized
	if sev == "" {
		sev = m.Severity
	}
	msg := fmt.Sprintf("%s %s: %s", sev, m.Code, m.Message)
	if m.Code == pgIdleTimeoutCode {
		msg += " (the server's idle_session_timeout)"
	}
	return &serverError{msg: oneLine(msg), fatal: sev == "FATAL" || sev == "PANIC"}
}

// pgGoodbye finds an ErrorResponse among bytes that arrived while idle:
// PostgreSQL sends FATAL 57P05 before it closes a session idle for
// idle_session_timeout.
func pgGoodbye(b []byte) string {
	for len(b) >= 5 {
		typ, n := b[0], int(binary.BigEndian.Uint32(b[1:5]))
		if n < 4 || n-4 > len(b)-5 {
			return ""
		}
		body := b[5 : 5+n-4]
		b = b[5+n-4:]
		if typ != 'E' {
			continue
		}
		var m pgproto3.ErrorResponse
		if err := decodeSafely(&m, body); err != nil {
			return ""
		}
		return pgError(&m).msg
	}
	return ""
}

// decodeSafely decodes a message body, turning a panic into an error.
func decodeSafely(m pgproto3.BackendMessage, body []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("undecodable message (%v)", p)
		}
	}()
	return m.Decode(body)
}

// parsePGDuration reads a time setting as SHOW prints it: "0", "500ms",
// "10s", "5min", "2h", "1d" (whole numbers; no unit is milliseconds).
func parsePGDuration(s string) (time.Duration, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || n > 1<<31 {
		return 0, false
	}
	units := map[string]time.Duration{"": time.Millisecond, "us": time.Microsecond, "ms": time.Millisecond,
		"s": time.Second, "min": time.Minute, "h": time.Hour, "d": 24 * time.Hour}
	u, ok := units[strings.TrimSpace(s[i:])]
	if !ok {
		return 0, false
	}
	return time.Duration(n) * u, true
}
