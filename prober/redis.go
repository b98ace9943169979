package prober

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// redisTransport speaks RESP to a Redis server over plain TCP (redis) or
// TLS (rediss), on connections it owns. go-redis would pool connections,
// retry and check them on its own; the few commands idleprobe sends are
// written here instead (redis_resp.go reads the replies).
type redisTransport struct {
	target   Target
	d        *dialer
	tls      *tls.Config // nil for redis://; never modified
	user     string
	password string // "" when no AUTH is sent
	db       string
}

func newRedisTransport(t Target, d *dialer, o TransportOptions, cfg *tls.Config) (*redisTransport, error) {
	r := &redisTransport{target: t, d: d, tls: cfg, user: dbUser(t.URL), db: dbName(t.URL)}
	pw, err := o.Credentials.password()
	switch {
	case errors.Is(err, errNoPassword):
		if r.user != "" {
			return nil, fmt.Errorf("target %s names the user %q but no password is configured (give a password file or environment variable)", t, r.user)
		}
	case err != nil:
		return nil, err
	default:
		r.password = pw
	}
	return r, nil
}

// Open connects, completes TLS for rediss, logs in when a password is
// configured (AUTH), selects the database, checks PING, and reads the
// server's idle timeout (CONFIG GET timeout) when the server allows it.
func (t *redisTransport) Open(ctx context.Context) (Conn, error) {
	s, octx, cancel, err := dialSession(ctx, t.d)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if t.tls != nil {
		if err := s.startTLS(octx, ctx, t.d, t.tls); err != nil {
			s.Close()
			return nil, err
		}
	}
	c := &redisConn{session: s, br: bufio.NewReaderSize(s.rw, 4096)}
	if err := s.openExchange(octx, ctx, "Redis login to "+t.target.String(), c.login(t), nil); err != nil {
		return nil, err
	}
	return c, nil
}

// redisConn is one Redis connection under test.
type redisConn struct {
	*session
	br *bufio.Reader
}

// login is the opening exchange.
func (c *redisConn) login(t *redisTransport) func() error {
	return func() error {
		if t.password != "" {
			args := []string{"AUTH", t.password}
			if t.user != "" {
				args = []string{"AUTH", t.user, t.password}
			}
			if err := c.expectOK("AUTH", args...); err != nil {
				return err
			}
		}
		if t.db != "" {
			if err := c.expectOK("SELECT "+t.db, "SELECT", t.db); err != nil {
				return err
			}
		}
		if _, err := c.ping(); err != nil {
			return err
		}
		v, err := c.command("CONFIG", "GET", "timeout")
		if err != nil {
			return err
		}
		// An error reply (CONFIG renamed, or not allowed for this user):
		// the server's timeout stays unknown.
		if v.kind == '*' && len(v.elems) == 2 && v.elems[1].kind == '$' {
			if n, err := strconv.ParseUint(v.elems[1].str, 10, 31); err == nil && n > 0 {
				c.hints.KeepAliveTimeout = time.Duration(n) * time.Second
			}
		}
		return nil
	}
}

// command sends one command and reads its reply.
func (c *redisConn) command(args ...string) (respValue, error) {
	if _, err := c.rw.Write(respCommand(args...)); err != nil {
		return respValue{}, err
	}
	return readRESP(c.br)
}

// expectOK sends a command that must answer +OK. what names it in errors
// (never the arguments: AUTH carries the password).
func (c *redisConn) expectOK(what string, args ...string) error {
	v, err := c.command(args...)
	switch {
	case err != nil:
		return err
	case v.kind == '-':
		return &serverError{msg: what + ": " + clip(v.str)}
	case v.kind != '+' || v.str != "OK":
		return malformed("%s answered %s, want +OK", what, describeRESP(v))
	}
	return nil
}

// ping sends PING and wants +PONG.
func (c *redisConn) ping() (string, error) {
	v, err := c.command("PING")
	switch {
	case err != nil:
		return "", err
	case v.kind == '-' && len(v.str) >= 6 && v.str[:6] == "NOAUTH":
		return "", &serverError{msg: "PING: " + clip(v.str) + " (give a password file or environment variable)"}
	case v.kind == '-':
		return "", &serverError{msg: "PING: " + clip(v.str)}
	case v.kind != '+' || v.str != "PONG":
		return "", malformed("PING answered %s, want +PONG", describeRESP(v))
	}
	return "+PONG", nil
}

// Reuse sends PING and reads +PONG.
func (c *redisConn) Reuse(ctx context.Context) Reply {
	return c.reuse(ctx, c.ping)
}

// describeRESP shows a reply's type and a little of its text.
func describeRESP(v respValue) string {
	switch {
	case v.null:
		return "a null " + string(v.kind)
	case v.kind == '*':
		return fmt.Sprintf("an array of %d", len(v.elems))
	}
	return fmt.Sprintf("%c%s", v.kind, clip(v.str))
}
