package hop

import (
	"golang.org/x/net/bpf"
)

// Offsets in a packet read from a cooked (SOCK_DGRAM) packet socket, which
// starts at the IP header.
const (
	ip4TTL      = 8
	ip4Proto    = 9
	ip4Frag     = 6
	ip6Next     = 6
	ip6HopLimit = 7
	ip6Header   = 40
	tcpFlags    = 13
	protoTCP    = 6
)

// filter returns a classic BPF program that accepts only TCP packets from
// port remotePort with SYN, FIN or RST set, over IPv4 (first fragments
// only) or IPv6 (TCP right after the fixed header). Everything else stays
// in the kernel. (The host's own outgoing copies are told apart by the
// capture, from the packet type the kernel reports.)
func filter(remotePort uint16) []bpf.Instruction {
	const (
		accept = 0xffff
		want   = uint32(FlagSYN | FlagFIN | FlagRST)
	)
	// Jumps are relative to the next instruction; the comments name their
	// targets by index. Keep them in step when editing (filter_test.go
	// runs the program on packets of every kind).
	return []bpf.Instruction{
		/* 0 */ bpf.LoadAbsolute{Off: 0, Size: 1},
		/* 1 */ bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0},
		/* 2 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x40, SkipFalse: 9}, // IPv6? -> 12
		// IPv4: TCP, not a later fragment; X = header length.
		/* 3 */ bpf.LoadAbsolute{Off: ip4Proto, Size: 1},
		/* 4 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoTCP, SkipFalse: 15}, // -> 20
		/* 5 */ bpf.LoadAbsolute{Off: ip4Frag, Size: 2},
		/* 6 */ bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 13}, // -> 20
		/* 7 */ bpf.LoadMemShift{Off: 0},
		/* 8 */ bpf.LoadIndirect{Off: 0, Size: 2},
		/* 9 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(remotePort), SkipFalse: 10}, // -> 20
		/* 10 */ bpf.LoadIndirect{Off: tcpFlags, Size: 1},
		/* 11 */ bpf.Jump{Skip: 6}, // -> 18
		// IPv6: TCP as the next header.
		/* 12 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x60, SkipFalse: 7}, // -> 20
		/* 13 */ bpf.LoadAbsolute{Off: ip6Next, Size: 1},
		/* 14 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoTCP, SkipFalse: 5}, // -> 20
		/* 15 */ bpf.LoadAbsolute{Off: ip6Header, Size: 2},
		/* 16 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(remotePort), SkipFalse: 3}, // -> 20
		/* 17 */ bpf.LoadAbsolute{Off: ip6Header + tcpFlags, Size: 1},
		// 18: A holds the TCP flags.
		/* 18 */ bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: want, SkipFalse: 1}, // -> 20
		/* 19 */ bpf.RetConstant{Val: accept},
		/* 20 */ bpf.RetConstant{Val: 0},
	}
}

// parse reads the addresses, ports, TTL and flags of an accepted packet.
// ok is false for anything too short or not TCP.
func parse(b []byte) (h header, ok bool) {
	if len(b) < 1 {
		return h, false
	}
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return h, false
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl+tcpFlags+1 || b[ip4Proto] != protoTCP {
			return h, false
		}
		h.src = addrFrom4(b[12:16])
		h.dst = addrFrom4(b[16:20])
		h.ttl = b[ip4TTL]
		h.sport = uint16(b[ihl])<<8 | uint16(b[ihl+1])
		h.dport = uint16(b[ihl+2])<<8 | uint16(b[ihl+3])
		h.flags = b[ihl+tcpFlags]
		return h, true
	case 6:
		if len(b) < ip6Header+tcpFlags+1 || b[ip6Next] != protoTCP {
			return h, false
		}
		h.src = addrFrom16(b[8:24])
		h.dst = addrFrom16(b[24:40])
		h.ttl = b[ip6HopLimit]
		t := b[ip6Header:]
		h.sport = uint16(t[0])<<8 | uint16(t[1])
		h.dport = uint16(t[2])<<8 | uint16(t[3])
		h.flags = t[tcpFlags]
		return h, true
	}
	return h, false
}
