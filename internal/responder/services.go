package responder

import (
	"context"
	"net"
)

// startServices starts the UDP and push services of cfg. On failure it
// closes everything Start opened before it.
func (s *Server) startServices(ctx context.Context, cfg Config) error {
	fail := func(err error) error {
		for _, ln := range []net.Listener{s.httpLn, s.tcpLn} {
			if ln != nil {
				ln.Close()
			}
		}
		s.stopServices()
		return err
	}
	if cfg.UDPAddr != "" {
		u, err := StartUDP(ctx, cfg.UDPAddr, s.log)
		if err != nil {
			return fail(err)
		}
		s.udp = u
	}
	if cfg.PushAddr != "" {
		p, err := StartPush(ctx, cfg.PushAddr, s.log)
		if err != nil {
			return fail(err)
		}
		s.push = p
	}
	return nil
}

// stopServices stops the UDP and push services.
func (s *Server) stopServices() {
	if s.udp != nil {
		s.udp.Close()
	}
	if s.push != nil {
		s.push.Close()
	}
}

// UDPAddr is the address the UDP service is bound to, or nil.
func (s *Server) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.Addr()
}

// PushAddr is the address the push service is bound to, or nil.
func (s *Server) PushAddr() net.Addr {
	if s.push == nil {
		return nil
	}
	return s.push.Addr()
}
