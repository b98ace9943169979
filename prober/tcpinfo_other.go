//go:build !linux

package prober

import (
	"errors"
	"syscall"
	"time"
)

// errNoTCPInfo is returned where TCP_INFO is not available.
var errNoTCPInfo = errors.New("TCP_INFO is only available on Linux")

// setUserTimeout is a no-op outside Linux: the trial deadline alone bounds
// a black hole there.
func setUserTimeout(fd uintptr, d time.Duration) error { return nil }

// tcpState is the part of TCP_INFO the transports use.
type tcpState struct {
	Unacked uint32
	NotSent uint32
	RTT     time.Duration
	SegsIn  uint32

	Retransmits  uint8
	RTO          time.Duration
	SinceSent    time.Duration
	TotalRetrans uint32
}

// readTCPInfo always fails outside Linux.
func readTCPInfo(rc syscall.RawConn) (tcpState, error) { return tcpState{}, errNoTCPInfo }
