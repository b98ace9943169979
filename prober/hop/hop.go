// Package hop tells who ended a connection: the server, or a hop between
// the client and the server. It compares the TTL (IPv6: hop limit) of the
// packet that ended the connection, a RST or a FIN, with the TTL of the
// server's SYN-ACK on the same connection. Every router on the way takes
// one from the TTL, so a packet made by a middlebox nearer to the client
// arrives with a higher TTL than the server's own packets (in the lab: 64
// from the load balancer, 63 from the server behind it).
//
// The packets are read with a capture socket (capture_linux.go), which
// needs CAP_NET_RAW; without it the verdict is Unknown and says why.
package hop

import (
	"fmt"
	"time"
)

// By names who ended a connection.
type By string

// The verdicts.
const (
	// Server: the ending packet came from as far away as the server's
	// SYN-ACK: the TCP peer (the server, or a proxy that terminates TCP)
	// ended it.
	Server By = "server"
	// Hop: the ending packet came from nearer than the server: a
	// middlebox that forgot the flow answered for it.
	Hop By = "hop"
	// Unknown: no verdict (no capture, no ending packet, or TTLs that do
	// not compare).
	Unknown By = "unknown"
)

// Packet is what was seen of one packet from the server's side.
type Packet struct {
	// TTL is the IPv4 TTL or the IPv6 hop limit on arrival.
	TTL uint8
	// Flags are the TCP flags (FlagFIN, FlagSYN, FlagRST, FlagACK...).
	Flags uint8
	// At is when the packet was read.
	At time.Time
}

// TCP flags as they appear in the header.
const (
	FlagFIN uint8 = 0x01
	FlagSYN uint8 = 0x02
	FlagRST uint8 = 0x04
	FlagACK uint8 = 0x10
)

// Kind names the ending packet: "RST" or "FIN".
func (p Packet) Kind() string {
	if p.Flags&FlagRST != 0 {
		return "RST"
	}
	return "FIN"
}

// Verdict is who ended one connection, and the evidence.
type Verdict struct {
	By By `json:"by"`
	// HopsBefore is, for Hop, where the device that made the ending packet
	// sits, counted from the server towards the client: 1 is the last
	// router before the server.
	HopsBefore int `json:"hops_before_server,omitempty"`
	// Packet is "RST" or "FIN" when an ending packet was seen.
	Packet string `json:"packet,omitempty"`
	// ServerHops is how many routers lie between the client and the TCP
	// peer (the server, or a proxy that terminates TCP), read from the
	// SYN-ACK's TTL.
	ServerHops int `json:"server_hops"`
	// ServerTTL and EndTTL are the TTLs compared (0 when not seen).
	ServerTTL uint8 `json:"server_ttl,omitempty"`
	EndTTL    uint8 `json:"end_ttl,omitempty"`
	// Why explains an Unknown verdict.
	Why string `json:"why,omitempty"`
}

// String is the verdict in words: "server", "hop 1 before the server",
// "unknown (no RST or FIN seen)".
func (v Verdict) String() string {
	switch v.By {
	case Server:
		return "server"
	case Hop:
		return fmt.Sprintf("hop %d before the server", v.HopsBefore)
	}
	if v.Why == "" {
		return "unknown"
	}
	return "unknown (" + v.Why + ")"
}

// initialTTLs are the TTLs operating systems send with: Linux and the BSDs
// 64, Windows 128, network gear 255.
var initialTTLs = []int{64, 128, 255}

// initialTTL is the smallest usual initial TTL not below ttl: the TTL the
// packet was most likely sent with.
func initialTTL(ttl uint8) int {
	for _, i := range initialTTLs {
		if int(ttl) <= i {
			return i
		}
	}
	return 255
}

// Judge compares the server's SYN-ACK with the packet that ended the
// connection. synSeen and endSeen say whether each was captured.
func Judge(synack Packet, synSeen bool, end Packet, endSeen bool) Verdict {
	switch {
	case !endSeen:
		return Verdict{By: Unknown, Why: "no RST or FIN seen"}
	case !synSeen:
		return Verdict{By: Unknown, Packet: end.Kind(), EndTTL: end.TTL, Why: "the server's SYN-ACK was not seen"}
	}
	is, ie := initialTTL(synack.TTL), initialTTL(end.TTL)
	ds, de := is-int(synack.TTL), ie-int(end.TTL)
	v := Verdict{Packet: end.Kind(), ServerTTL: synack.TTL, EndTTL: end.TTL, ServerHops: ds}
	switch {
	case is != ie && de >= ds:
		v.By, v.Why = Unknown, fmt.Sprintf("sent with another initial TTL (%d) than the server's packets (%d): another device, at the server's distance or beyond", ie, is)
	case de == ds:
		v.By = Server
	case de < ds:
		v.By, v.HopsBefore = Hop, ds-de
	default:
		v.By, v.Why = Unknown, fmt.Sprintf("came from beyond the server (TTL %d, server's %d): the route changed", end.TTL, synack.TTL)
	}
	return v
}
