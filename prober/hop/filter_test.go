package hop

import (
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"
)

// pkt builds an IP packet (v4 or v6 by the addresses) carrying a TCP
// header with the given ports, flags and TTL. opts adds IPv4 option words.
func pkt(src, dst netip.Addr, sport, dport uint16, flags, ttl uint8, opts int) []byte {
	tcp := make([]byte, 20)
	tcp[0], tcp[1], tcp[2], tcp[3] = byte(sport>>8), byte(sport), byte(dport>>8), byte(dport)
	tcp[12] = 5 << 4
	tcp[tcpFlags] = flags
	if src.Is4() {
		ihl := 5 + opts
		ip := make([]byte, ihl*4)
		ip[0] = 0x40 | byte(ihl)
		ip[ip4TTL], ip[ip4Proto] = ttl, protoTCP
		s, d := src.As4(), dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		return append(ip, tcp...)
	}
	ip := make([]byte, ip6Header)
	ip[0] = 0x60
	ip[ip6Next], ip[ip6HopLimit] = protoTCP, ttl
	s, d := src.As16(), dst.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	return append(ip, tcp...)
}

func TestFilter(t *testing.T) {
	const port = 8080
	v4s, v4c := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.1")
	v6s, v6c := netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("2001:db8::1")
	frag := pkt(v4s, v4c, port, 40000, FlagRST, 64, 0)
	frag[ip4Frag+1] = 0x10 // fragment offset 16: not the first fragment
	udp := pkt(v4s, v4c, port, 40000, FlagRST, 64, 0)
	udp[ip4Proto] = 17
	cases := []struct {
		name   string
		p      []byte
		accept bool
	}{
		{"v4 SYN-ACK", pkt(v4s, v4c, port, 40000, FlagSYN|FlagACK, 63, 0), true},
		{"v4 RST", pkt(v4s, v4c, port, 40000, FlagRST, 64, 0), true},
		{"v4 FIN-ACK", pkt(v4s, v4c, port, 40000, FlagFIN|FlagACK, 63, 0), true},
		{"v4 RST with IP options", pkt(v4s, v4c, port, 40000, FlagRST, 64, 3), true},
		{"v4 plain ACK", pkt(v4s, v4c, port, 40000, FlagACK, 63, 0), false},
		{"v4 from another port", pkt(v4s, v4c, port+1, 40000, FlagRST, 64, 0), false},
		{"v4 to that port (our own)", pkt(v4c, v4s, 40000, port, FlagRST, 64, 0), false},
		{"v4 later fragment", frag, false},
		{"v4 UDP", udp, false},
		{"v6 SYN-ACK", pkt(v6s, v6c, port, 40000, FlagSYN|FlagACK, 63, 0), true},
		{"v6 RST", pkt(v6s, v6c, port, 40000, FlagRST, 64, 0), true},
		{"v6 plain ACK", pkt(v6s, v6c, port, 40000, FlagACK, 63, 0), false},
		{"v6 from another port", pkt(v6s, v6c, 9, 40000, FlagFIN, 63, 0), false},
		{"not IP", []byte{0x20, 0, 0, 0}, false},
	}
	vm, err := bpf.NewVM(filter(port))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		n, err := vm.Run(c.p)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := n > 0; got != c.accept {
			t.Errorf("%s: accepted %v, want %v", c.name, got, c.accept)
		}
		if !c.accept {
			continue
		}
		h, ok := parse(c.p)
		if !ok || h.sport != port || h.dport != 40000 || h.ttl != c.p[map[bool]int{true: ip4TTL, false: ip6HopLimit}[c.p[0]>>4 == 4]] {
			t.Errorf("%s: parsed %+v ok %v", c.name, h, ok)
		}
	}
}

// parse never panics and never reads past the packet.
func FuzzParse(f *testing.F) {
	f.Add(pkt(netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.1"), 80, 4000, FlagRST, 64, 2))
	f.Add(pkt(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), 80, 4000, FlagFIN, 63, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok := parse(b)
		if ok && !h.src.IsValid() {
			t.Errorf("parsed a packet without a source address: %+v", h)
		}
	})
}
