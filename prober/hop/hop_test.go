package hop

import "testing"

func TestJudge(t *testing.T) {
	syn := func(ttl uint8) Packet { return Packet{TTL: ttl, Flags: FlagSYN | FlagACK} }
	rst := func(ttl uint8) Packet { return Packet{TTL: ttl, Flags: FlagRST} }
	fin := func(ttl uint8) Packet { return Packet{TTL: ttl, Flags: FlagFIN | FlagACK} }
	cases := []struct {
		name           string
		synack, end    Packet
		synSeen, endOK bool
		want           string
	}{
		{"lab middlebox reset", syn(63), rst(64), true, true, "hop 1 before the server"},
		{"server's own FIN", syn(63), fin(63), true, true, "server"},
		{"server's RST on loopback", syn(64), rst(64), true, true, "server"},
		{"a Linux hop 2 routers out, a Windows server 8 out", syn(120), rst(62), true, true, "hop 6 before the server"},
		{"network gear next to the client", syn(60), rst(255), true, true, "hop 4 before the server"},
		{"another stack at the server's distance", syn(63), rst(127), true, true, "unknown (sent with another initial TTL (128) than the server's packets (64): another device, at the server's distance or beyond)"},
		{"beyond the server", syn(63), rst(60), true, true, "unknown (came from beyond the server (TTL 60, server's 63): the route changed)"},
		{"black hole", syn(63), Packet{}, true, false, "unknown (no RST or FIN seen)"},
		{"SYN-ACK missed", Packet{}, rst(64), false, true, "unknown (the server's SYN-ACK was not seen)"},
	}
	for _, c := range cases {
		v := Judge(c.synack, c.synSeen, c.end, c.endOK)
		if got := v.String(); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
		if c.endOK && v.Packet != c.end.Kind() {
			t.Errorf("%s: packet %q, want %q", c.name, v.Packet, c.end.Kind())
		}
	}
}
