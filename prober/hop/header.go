package hop

import "net/netip"

// header is the part of a captured packet the capture keeps.
type header struct {
	src, dst     netip.Addr
	sport, dport uint16
	ttl, flags   uint8
}

func addrFrom4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b)) }

func addrFrom16(b []byte) netip.Addr { return netip.AddrFrom16([16]byte(b)).Unmap() }

// flow names one connection from the client's side.
type flow struct {
	local, remote netip.AddrPort
}
