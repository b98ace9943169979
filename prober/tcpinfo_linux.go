//go:build linux

package prober

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setUserTimeout sets TCP_USER_TIMEOUT on a socket: the kernel aborts the
// connection with ETIMEDOUT when sent data stays unacknowledged that long,
// instead of retransmitting for ~15 minutes.
func setUserTimeout(fd uintptr, d time.Duration) error {
	ms := d.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	return unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(ms))
}

// tcpState is the part of TCP_INFO the transports use.
type tcpState struct {
	// Unacked is the number of segments sent but not yet acknowledged.
	Unacked uint32
	// RTT is the smoothed round-trip time.
	RTT time.Duration
	// NotSent is the number of bytes queued but not yet sent.
	NotSent uint32
	// SegsIn counts segments received (tests use it to prove idle silence).
	SegsIn uint32
	// Retransmits counts the retransmission timeouts in a row of the
	// oldest unacknowledged segment; RTO is the retransmission timeout
	// (backed off with each of them).
	Retransmits uint8
	RTO         time.Duration
	// SinceSent is how long ago data was last sent (a retransmission
	// too), to the millisecond; TotalRetrans counts the connection's
	// retransmissions, tail loss probes included.
	SinceSent    time.Duration
	TotalRetrans uint32
}

// readTCPInfo reads TCP_INFO from the socket behind rc.
func readTCPInfo(rc syscall.RawConn) (tcpState, error) {
	var (
		info *unix.TCPInfo
		gerr error
	)
	if err := rc.Control(func(fd uintptr) {
		info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return tcpState{}, err
	}
	if gerr != nil {
		return tcpState{}, gerr
	}
	return tcpState{
		Unacked: info.Unacked,
		RTT:     time.Duration(info.Rtt) * time.Microsecond,
		NotSent: info.Notsent_bytes,
		SegsIn:  info.Segs_in,

		Retransmits:  info.Retransmits,
		RTO:          time.Duration(info.Rto) * time.Microsecond,
		SinceSent:    time.Duration(info.Last_data_sent) * time.Millisecond,
		TotalRetrans: info.Total_retrans,
	}, nil
}
