//go:build !linux

package hop

import (
	"errors"
	"net/netip"
	"time"
)

// Capture is not available on this system: Open always fails.
type Capture struct{}

// Open fails: capturing packets is implemented for Linux only.
func Open(remotePort uint16) (*Capture, error) {
	return nil, errors.New("capture packets: supported on Linux only")
}

// Verdict is always Unknown.
func (c *Capture) Verdict(local, remote netip.AddrPort, wait time.Duration) Verdict {
	return Verdict{By: Unknown, Why: "no capture on this system"}
}

// Forget does nothing.
func (c *Capture) Forget(local, remote netip.AddrPort) {}

// Len is always 0.
func (c *Capture) Len() int { return 0 }

// Close does nothing.
func (c *Capture) Close() error { return nil }
