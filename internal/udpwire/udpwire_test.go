package udpwire

import (
	"net/netip"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	addr := netip.MustParseAddrPort("[2001:db8::1]:4000")
	for _, m := range []Msg{
		{Type: Hello, Token: "0123456789abcdef"},
		{Type: Seen, Token: "0123456789abcdef", Addr: addr},
		{Type: Push, Token: "0123456789abcdef", Seq: 7},
		{Type: Sent, Token: "0123456789abcdef", Seq: 7, Addr: netip.MustParseAddrPort("192.0.2.2:5000")},
		{Type: Pushed, Token: "0123456789abcdef", Seq: 18446744073709551615},
		{Type: Unknown, Token: "0123456789abcdef"},
	} {
		b := m.Append(nil)
		if len(b) > MaxSize {
			t.Errorf("%s: %d bytes, over MaxSize", m.Type, len(b))
		}
		got, err := Parse(b)
		if err != nil || got != m {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", b, got, err, m)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"IDLEPROBE-UDP/1 HELLO 0123456789abcdef", // no line end
		"IDLEPROBE-UDP/2 HELLO 0123456789abcdef\n",    // another version
		"IDLEPROBE-UDP/1 HELLO 0123456789ABCDEF\n",    // upper-case token
		"IDLEPROBE-UDP/1 HELLO 0123\n",                // short token
		"IDLEPROBE-UDP/1 PUSH 0123456789abcdef\n",     // no sequence
		"IDLEPROBE-UDP/1 PUSH 0123456789abcdef x\n",   // bad sequence
		"IDLEPROBE-UDP/1 SEEN 0123456789abcdef 1.2\n", // bad address
		"IDLEPROBE-UDP/1 JUMP 0123456789abcdef\n",     // unknown type
		"IDLEPROBE-UDP/1 HELLO 0123456789abcdef extra\n",
		"GET / HTTP/1.1\r\n",
	} {
		if m, err := Parse([]byte(s)); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", s, m)
		}
	}
}

// Parse never panics, and what it accepts survives a round trip.
func FuzzParse(f *testing.F) {
	f.Add([]byte("IDLEPROBE-UDP/1 SENT 0123456789abcdef 3 192.0.2.2:5000\n"))
	f.Add([]byte("IDLEPROBE-UDP/1 HELLO 0123456789abcdef\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		again, err := Parse(m.Append(nil))
		if err != nil || again != m {
			t.Errorf("accepted %q as %+v, which does not round-trip (%+v, %v)", b, m, again, err)
		}
	})
}
