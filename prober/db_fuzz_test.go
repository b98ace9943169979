package prober

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Fuzzing of the database protocols: arbitrary bytes from a server, as the
// answer to the opening exchange or (after a valid one) while idle and as
// the answer to a reuse. Nothing may panic, Open fails only with one line
// wrapping ErrUnusable, and every reuse ends with a valid outcome and a
// one-line detail.

// fuzzDB serves one connection: with mode bit 0 set it writes the steps of
// validOpen (the answers of the opening exchange), each after a read of the
// client's next bytes (the first at once), then idle; then it
// waits until the client's bytes contain reuseMarker (count times in all)
// and writes reuse. The client side opens scheme://user@addr/db and reuses
// twice. It returns the outcome of the first reuse, or the Open error.
func fuzzDB(t *testing.T, rawURL string, validOpen [][]byte, reuseMarker string, count int, mode uint8, idle, reuse []byte) string {
	return fuzzDBWith(t, TransportOptions{Timeout: 150 * time.Millisecond}, rawURL, validOpen, reuseMarker, count, mode, idle, reuse)
}

// fuzzDBWith is fuzzDB with the client's transport options.
func fuzzDBWith(t *testing.T, o TransportOptions, rawURL string, validOpen [][]byte, reuseMarker string, count int, mode uint8, idle, reuse []byte) string {
	srv := startServer(t, scripted(oneConn{
		open: func(c net.Conn, br *bufio.Reader) error {
			if mode&1 == 0 {
				return nil
			}
			buf := make([]byte, 4096)
			for i, step := range validOpen {
				if i > 0 {
					if _, err := br.Read(buf); err != nil {
						return err
					}
				}
				c.Write(step)
			}
			// Pacing only steers which path the input takes.
			time.Sleep(5 * time.Millisecond)
			return nil
		},
		idle:   idle,
		reused: func(seen []byte) bool { return bytes.Count(seen, []byte(reuseMarker)) >= count },
		answer: reuse,
		hold:   mode&2 == 2,
	}))
	return fuzzClient(t, rawURL, srv.addr, o, 2, nil)
}

// TestDBFuzzHarness: the fuzzers' valid openings do open, and a valid
// answer to the reuse is OK, so that fuzzing reaches every parser. A
// server's goodbye while idle is quoted.
func TestDBFuzzHarness(t *testing.T) {
	pgBye := pgMessages(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P05", Message: "terminating connection due to idle-session timeout"})
	myBye := mysqlPacket(0, append([]byte{0xff, 0xbf, 0x0f, '#', 'H', 'Y', '0', '0', '0'}, "The client was disconnected by the server because of inactivity."...))
	for _, tc := range []struct {
		name, url    string
		open         [][]byte
		marker       string
		count        int
		idle, answer []byte
		want         string
	}{
		{"redis", "redis://ADDR", [][]byte{[]byte(redisValidOpen)}, "PING", 2, nil, []byte("+PONG\r\n"), "ok: +PONG"},
		{"postgres", "postgres://fuzz@ADDR/db", pgValidOpen(), "SELECT 1", 1, nil, pgAnswer("?column?", "1"), "ok: SELECT 1 returned 1"},
		{"mysql", "mysql://fuzz@ADDR/db", mysqlValidOpen(), "SELECT 1", 1, nil, mysqlResult("1", "1"), "ok: SELECT 1 returned 1"},
		{"postgres goodbye", "postgres://fuzz@ADDR/db", pgValidOpen(), "SELECT 1", 1, pgBye, nil, "57P05"},
		{"mysql goodbye", "mysql://fuzz@ADDR/db", mysqlValidOpen(), "SELECT 1", 1, myBye, nil, "4031"},
		// The driver would index past the end of these (and leave its
		// goroutine behind): checked before it reads them.
		{"mysql short handshake", "mysql://fuzz@ADDR/db", [][]byte{mysqlPacket(0, []byte{10, 'x', 0, 1, 2})}, "SELECT 1", 1, nil, nil, "short MySQL handshake"},
		{"mysql short error", "mysql://fuzz@ADDR/db", [][]byte{mysqlPacket(0, []byte{0xff, 1, 2, '#'})}, "SELECT 1", 1, nil, nil, "short error packet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			if got := fuzzDB(t, tc.url, tc.open, tc.marker, tc.count, 1, tc.idle, tc.answer); !strings.Contains(got, tc.want) {
				t.Errorf("first reuse %q, want %q", got, tc.want)
			}
		})
	}
}

// redisValidOpen answers PING and CONFIG GET timeout.
const redisValidOpen = "+PONG\r\n*2\r\n$7\r\ntimeout\r\n$1\r\n5\r\n"

// FuzzRedis: RESP from a server.
func FuzzRedis(f *testing.F) {
	f.Add(uint8(1), []byte{}, []byte("+PONG\r\n+PONG\r\n"))
	f.Add(uint8(0), []byte(redisValidOpen), []byte("+PONG\r\n"))
	f.Add(uint8(0), []byte("-NOAUTH Authentication required.\r\n"), []byte{})
	f.Add(uint8(1), []byte("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"), []byte("$5\r\nPONG\r\n"))
	f.Add(uint8(3), []byte{}, []byte("-ERR x\r\n$-1\r\n*-1\r\n:x\r\n$99999999999\r\n"))
	f.Fuzz(func(t *testing.T, mode uint8, idle, reuse []byte) {
		fuzzDB(t, "redis://ADDR", [][]byte{[]byte(redisValidOpen)}, "PING", 2, mode, idle, reuse)
	})
}

// pgMessages encodes backend messages.
func pgMessages(msgs ...pgproto3.BackendMessage) []byte {
	var b []byte
	for _, m := range msgs {
		var err error
		if b, err = m.Encode(b); err != nil {
			panic(err)
		}
	}
	return b
}

// pgAnswer is the answer to a simple query returning one text value.
func pgAnswer(name, value string) []byte {
	return pgMessages(
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte(name), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}}},
		&pgproto3.DataRow{Values: [][]byte{[]byte(value)}},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")},
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
	)
}

// pgValidOpen is a trust login and the answer to SHOW idle_session_timeout.
func pgValidOpen() [][]byte {
	login := pgMessages(&pgproto3.AuthenticationOk{},
		&pgproto3.ParameterStatus{Name: "server_version", Value: "15.0"},
		&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 2}},
		&pgproto3.ReadyForQuery{TxStatus: 'I'})
	return [][]byte{login, pgAnswer("idle_session_timeout", "5s")}
}

// FuzzPostgres: PostgreSQL backend messages from a server.
func FuzzPostgres(f *testing.F) {
	goodbye := pgMessages(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P05", Message: "terminating connection due to idle-session timeout"})
	f.Add(uint8(1), []byte{}, pgAnswer("?column?", "1"))
	f.Add(uint8(0), bytes.Join(pgValidOpen(), nil), pgAnswer("?column?", "1"))
	f.Add(uint8(1), goodbye, []byte{})
	f.Add(uint8(3), []byte{}, append(goodbye, pgAnswer("x", "2")...))
	f.Add(uint8(0), pgMessages(&pgproto3.AuthenticationMD5Password{Salt: [4]byte{1, 2, 3, 4}}), []byte{})
	f.Add(uint8(0), pgMessages(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}}), []byte{})
	f.Add(uint8(0), []byte("E\x00\x00\x00\x04"), []byte("Z\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, mode uint8, idle, reuse []byte) {
		fuzzDB(t, "postgres://fuzz@ADDR/db", pgValidOpen(), "SELECT 1", 1, mode, idle, reuse)
	})
}

// mysqlPacket frames payload as packet seq.
func mysqlPacket(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

// mysqlLenenc is a length-encoded string (short ones only).
func mysqlLenenc(s string) []byte { return append([]byte{byte(len(s))}, s...) }

// mysqlHandshake is a MariaDB-like initial handshake (mysql_native_password).
func mysqlHandshake() []byte { return mysqlHandshakeFor("mysql_native_password") }

// mysqlHandshakeFor is the initial handshake asking for an auth plugin.
func mysqlHandshakeFor(plugin string) []byte {
	var p []byte
	p = append(p, 10)
	p = append(p, "5.5.5-10.11.0-MariaDB\x00"...)
	p = binary.LittleEndian.AppendUint32(p, 7)
	p = append(p, "abcdefgh"...)
	p = append(p, 0)
	const caps = 0x1 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x80000
	p = binary.LittleEndian.AppendUint16(p, caps&0xffff)
	p = append(p, 45)
	p = binary.LittleEndian.AppendUint16(p, 2)
	p = binary.LittleEndian.AppendUint16(p, caps>>16)
	p = append(p, 21)
	p = append(p, make([]byte, 10)...)
	p = append(p, "ijklmnopqrst\x00"...)
	p = append(p, plugin+"\x00"...)
	return mysqlPacket(0, p)
}

// mysqlResult is the text result set of one value (seq from 1).
func mysqlResult(name, value string) []byte {
	var col []byte
	for _, s := range []string{"def", "", "", "", name, ""} {
		col = append(col, mysqlLenenc(s)...)
	}
	col = append(col, 0x0c, 63, 0, 21, 0, 0, 0, 8, 0x81, 0, 0, 0, 0)
	eof := []byte{0xfe, 0, 0, 2, 0}
	var b []byte
	b = append(b, mysqlPacket(1, []byte{1})...)
	b = append(b, mysqlPacket(2, col)...)
	b = append(b, mysqlPacket(3, eof)...)
	b = append(b, mysqlPacket(4, mysqlLenenc(value))...)
	b = append(b, mysqlPacket(5, eof)...)
	return b
}

// mysqlValidOpen is the handshake, the OK of the login and the answer to
// SELECT @@wait_timeout, each after the client's packet (the driver
// refuses to write while it holds unread bytes).
func mysqlValidOpen() [][]byte {
	return [][]byte{mysqlHandshake(), mysqlPacket(2, []byte{0, 0, 0, 2, 0, 0, 0}), mysqlResult("@@wait_timeout", "5")}
}

// FuzzMySQL: MySQL packets from a server.
func FuzzMySQL(f *testing.F) {
	goodbye := mysqlPacket(0, append([]byte{0xff, 0xbf, 0x0f, '#', 'H', 'Y', '0', '0', '0'}, "The client was disconnected by the server because of inactivity."...))
	f.Add(uint8(1), []byte{}, mysqlResult("1", "1"))
	f.Add(uint8(0), mysqlHandshake(), mysqlResult("1", "1"))
	f.Add(uint8(1), goodbye, []byte{})
	f.Add(uint8(0), mysqlPacket(0, []byte{10, 0}), []byte{})
	f.Add(uint8(0), mysqlPacket(0, []byte{0xff, 0x15, 0x04, '#', '2', '8', '0', '0', '0', 'n', 'o'}), []byte{})
	f.Add(uint8(3), []byte{}, mysqlPacket(1, []byte{0xff, 1}))
	f.Fuzz(func(t *testing.T, mode uint8, idle, reuse []byte) {
		fuzzDB(t, "mysql://fuzz@ADDR/db", mysqlValidOpen(), "SELECT 1", 1, mode, idle, reuse)
	})
}

// FuzzDBParsers feeds arbitrary bytes straight to the parsers of server
// bytes (RESP replies, PostgreSQL backend messages, the goodbye finders),
// without sockets: fast, so it reaches deep. None may panic; every error
// is one line.
func FuzzDBParsers(f *testing.F) {
	f.Add([]byte(redisValidOpen))
	f.Add(bytes.Join(pgValidOpen(), nil))
	f.Add(bytes.Join(mysqlValidOpen(), nil))
	f.Add(pgMessages(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "57P05", Message: "bye"}))
	f.Add([]byte("*3\r\n$1\r\na\r\n*-1\r\n*1\r\n-ERR\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		oneLineErr := func(what string, err error) {
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Fatalf("%s: error %q is not one line", what, err)
			}
		}
		br := bufio.NewReaderSize(bytes.NewReader(data), 16)
		for range 64 {
			if _, err := readRESP(br); err != nil {
				oneLineErr("readRESP", err)
				break
			}
		}
		fe := pgproto3.NewFrontend(bytes.NewReader(data), io.Discard)
		fe.SetMaxBodyLen(maxPGMessage)
		c := &postgresConn{fe: fe}
		for range 64 {
			if _, err := c.receive(); err != nil {
				break
			}
		}
		for _, s := range []string{pgGoodbye(data), mysqlGoodbye(data)} {
			if strings.Contains(s, "\n") {
				t.Fatalf("goodbye %q is not one line", s)
			}
		}
	})
}

// TestMySQLCachingSHA2: caching_sha2_password (MySQL 8's default) through
// the driver, against a scripted server (Debian ships MariaDB, which does
// not have it): the fast path (the server has the password cached) and
// the full authentication over plain TCP (the driver asks for the server's
// RSA key and sends the password encrypted with it).
func TestMySQLCachingSHA2(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	ok := func(seq byte) []byte { return mysqlPacket(seq, []byte{0, 0, 0, 2, 0, 0, 0}) }
	o := TransportOptions{Timeout: 2 * time.Second, Credentials: Credentials{PasswordFile: filepath.Join(t.TempDir(), "pw")}}
	if err := os.WriteFile(o.Credentials.PasswordFile, []byte("sha2-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		steps [][]byte
	}{
		{"fast", [][]byte{mysqlHandshakeFor("caching_sha2_password"),
			append(mysqlPacket(2, []byte{1, 3}), ok(3)...),
			mysqlResult("@@wait_timeout", "5")}},
		{"full", [][]byte{mysqlHandshakeFor("caching_sha2_password"),
			mysqlPacket(2, []byte{1, 4}),
			mysqlPacket(4, append([]byte{1}, pubPEM...)),
			ok(6),
			mysqlResult("@@wait_timeout", "5")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			got := fuzzDBWith(t, o, "mysql://sha2@ADDR/db", tc.steps, "SELECT 1", 1, 1, nil, mysqlResult("1", "1"))
			if got != "ok: SELECT 1 returned 1" {
				t.Errorf("first reuse %q, want ok: SELECT 1 returned 1", got)
			}
		})
	}
}
