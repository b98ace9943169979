package pushwire

import "testing"

func TestRoundTrip(t *testing.T) {
	const tok = "0123456789abcdef"
	for _, m := range []Msg{
		{Type: Hold},
		{Type: ID, Token: tok},
		{Type: Push, Token: tok, Seq: 7},
		{Type: Pushed, Seq: 18446744073709551615},
		{Type: Sent, Seq: 7},
		{Type: Gone, Token: tok, Reason: ReasonReset},
		{Type: Gone, Token: tok, Reason: ReasonClosed},
		{Type: Unknown, Token: tok},
	} {
		b := m.Line()
		if len(b) > MaxLine {
			t.Errorf("%s: %d bytes, over MaxLine", m.Type, len(b))
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
		"\r\n",
		"IDLEPROBE-PUSH/2 HOLD\n",
		"IDLEPROBE-PUSH/1 HOLD extra\n",
		"IDLEPROBE-PUSH/1 ID 0123\n",
		"IDLEPROBE-PUSH/1 ID 0123456789ABCDEF\n",
		"IDLEPROBE-PUSH/1 PUSH 0123456789abcdef\n",
		"IDLEPROBE-PUSH/1 PUSH 0123456789abcdef x\n",
		"IDLEPROBE-PUSH/1 GONE 0123456789abcdef eaten\n",
		"IDLEPROBE-PUSH/1 JUMP\n",
		"GET / HTTP/1.1\r\n",
	} {
		if m, err := Parse([]byte(s)); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", s, m)
		}
	}
}

// Parse never panics, and what it accepts survives a round trip.
func FuzzParse(f *testing.F) {
	f.Add([]byte("IDLEPROBE-PUSH/1 PUSH 0123456789abcdef 3\n"))
	f.Add([]byte("IDLEPROBE-PUSH/1 GONE 0123456789abcdef reset\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		again, err := Parse(m.Line())
		if err != nil || again != m {
			t.Errorf("accepted %q as %+v, which does not round-trip (%+v, %v)", b, m, again, err)
		}
	})
}
