package responder

import (
	"bufio"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/pushwire"
)

// The push service holds a connection that asked for it, writes PUSHED on
// it when a control connection asks (and only then), answers SENT, GONE
// once the held connection ended, and UNKNOWN for a token it never held.
func TestPushServer(t *testing.T) {
	s, err := StartPush(context.Background(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		return c, bufio.NewReader(c)
	}
	read := func(r *bufio.Reader) pushwire.Msg {
		t.Helper()
		line, err := r.ReadBytes('\n')
		if err != nil {
			t.Fatalf("reading: %v", err)
		}
		m, err := pushwire.Parse(line)
		if err != nil {
			t.Fatalf("the responder sent %q: %v", line, err)
		}
		return m
	}
	ask := func(m pushwire.Msg) pushwire.Msg {
		t.Helper()
		c, r := dial()
		c.Write(m.Line())
		return read(r)
	}

	held, hr := dial()
	held.Write(pushwire.Msg{Type: pushwire.Hold}.Line())
	id := read(hr)
	if id.Type != pushwire.ID {
		t.Fatalf("HOLD answered %+v, want ID", id)
	}
	if a := ask(pushwire.Msg{Type: pushwire.Push, Token: id.Token, Seq: 3}); a.Type != pushwire.Sent || a.Seq != 3 {
		t.Errorf("PUSH answered %+v, want SENT 3", a)
	}
	if m := read(hr); m.Type != pushwire.Pushed || m.Seq != 3 {
		t.Errorf("the held connection got %+v, want PUSHED 3", m)
	}
	// Nothing else arrives on the held connection.
	held.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if b, err := hr.ReadByte(); err == nil {
		t.Errorf("the held connection got an unasked byte %q", b)
	}
	if a := ask(pushwire.Msg{Type: pushwire.Push, Token: "00000000000000aa", Seq: 1}); a.Type != pushwire.Unknown {
		t.Errorf("PUSH for an unknown token answered %+v, want UNKNOWN", a)
	}
	held.Close()
	var a pushwire.Msg
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		// The service notices the close when its pending read returns.
		if a = ask(pushwire.Msg{Type: pushwire.Push, Token: id.Token, Seq: 4}); a.Type == pushwire.Gone {
			break
		}
	}
	if a.Type != pushwire.Gone || a.Reason != pushwire.ReasonClosed {
		t.Errorf("PUSH after the held connection closed answered %+v, want GONE closed", a)
	}
}

// Bytes that are not the protocol are echoed, at once and afterwards.
func TestPushServerEchoes(t *testing.T) {
	s, err := StartPush(context.Background(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	for _, send := range []string{"\r\n", "IDLE", "hello\n"} {
		c.Write([]byte(send))
		n, err := io.ReadAtLeast(c, buf, len(send))
		if err != nil || string(buf[:n]) != send {
			t.Errorf("sent %q, echoed %q (%v)", send, buf[:n], err)
		}
	}
}

// A line that looks like the protocol but is not one closes the connection.
func TestPushServerRejects(t *testing.T) {
	s, err := StartPush(context.Background(), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("IDLEPROBE-PUSH/1 JUMP\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 64)); err == nil {
		t.Errorf("garbage answered with %d bytes, want the connection closed", n)
	}
}
